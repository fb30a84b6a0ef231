"""Test-wide: a Kerberos configuration that names no realm and never asks DNS.

With the gssapi package installed, a Negotiate client tries Kerberos first; the machine's /etc/krb5.conf
(Debian's krb5-config ships MIT's sample realms) would make it look KDCs up in DNS. Tests that use Kerberos
get the lab's own krb5.conf (lab.json ``krb5_conf``); everything else fails Kerberos at once, offline.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_conf_dir = tempfile.mkdtemp(prefix="ipsec-remote-krb5-")
atexit.register(shutil.rmtree, _conf_dir, True)  # the session's children read it until the session ends
_conf = os.path.join(_conf_dir, "krb5.conf")
with open(_conf, "w", encoding="utf-8") as fh:
    fh.write("[libdefaults]\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n")
os.environ["KRB5_CONFIG"] = _conf


# --- ``assert all(...)`` over nothing fails --------------------------------------------------------------
# ``all([])`` is True: an assertion over a list that came back empty passes while checking nothing (a no-op
# SA reset once survived that way). Every test module (and helper module) under tests/ gets an ``all``
# that fails when called from inside an ``assert`` statement on an empty iterable; outside asserts (polling
# predicates, filters) it is the builtin. Where vacuous truth is really meant, write ``builtins.all``.
import ast  # noqa: E402
import builtins  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterable  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

_TESTS = Path(__file__).resolve().parent


@cache
def _assert_lines(filename: str) -> frozenset[int]:
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    return frozenset(line for node in ast.walk(tree) if isinstance(node, ast.Assert)
                     for line in range(node.lineno, (node.end_lineno or node.lineno) + 1))


def strict_all(iterable: Iterable[Any]) -> bool:
    items = list(iterable)
    if not items:
        caller = sys._getframe(1)
        if caller.f_lineno in _assert_lines(caller.f_code.co_filename):
            raise AssertionError(f"all() over an empty iterable in an assert "
                                 f"({caller.f_code.co_filename}:{caller.f_lineno}): it checks nothing — "
                                 "assert the list is non-empty first")
    return builtins.all(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().is_relative_to(_TESTS):
            module.all = strict_all  # type: ignore[attr-defined]
