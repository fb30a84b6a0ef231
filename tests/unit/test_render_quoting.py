"""What the plan export quotes, PowerShell reads back unchanged (checked with the lab's engine)."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.commands import CommandTable
from ipsec_remote.lab.engine import Engine
from ipsec_remote.plan.render import ps_quote

HOSTILE = [
    "plain",
    "it's",
    "$(Remove-NetIPsecRule)",
    "`backtick` and \"double\"",
    "a; Remove-NetIPsecRule -All",
    "smart \u2018single\u2019 \u201alow\u201b quotes",
    "''''",
    "\u2019\u2019",
    "line\nbreak",
    "CN=Corp Root CA, DC=corp, DC=example, DC=com",
    "Ünïcødé ✓ 日本",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_single_quoted_export_reads_back_verbatim(value: str) -> None:
    result = Engine(CommandTable()).run(ps_quote(value))
    assert result.failure is None, result.failure
    assert result.output == [value]
