"""IPsec audit policy and the WSMan wire against a real Windows host, when one is given; skipped otherwise.

Same settings as test_live_host.py (IPSEC_REMOTE_LIVE_HOST, _USER, _PASSWORD, optionally _CA and _AUTH).
The audit test changes the host's IPsec Main/Quick Mode failure auditing and puts back exactly what it found
(in a finally). These settle what the lab can only assume: auditpol's CSV columns, whether its setting
words are localized (the lab's ``auditpol_text`` assumption), and whether Windows' responses still have the
shapes pypsrp recorded.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pypsrp.wsman import _TransportHTTP

from ipsec_remote.ops import audit
from ipsec_remote.remote.transport import HostSession, HostTarget

HOST = os.environ.get("IPSEC_REMOTE_LIVE_HOST")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (HOST and os.environ.get("IPSEC_REMOTE_LIVE_USER") and os.environ.get("IPSEC_REMOTE_LIVE_PASSWORD")),
    reason="set IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD to run against a real Windows host")]
WINRM_TESTS = Path(__file__).resolve().parents[1] / "lab" / "winrm"


def _target() -> HostTarget:
    assert HOST
    endpoint = HOST if HOST.startswith("http") else f"https://{HOST}:5986/wsman"
    return HostTarget("live", endpoint, os.environ["IPSEC_REMOTE_LIVE_USER"],
                      SecretStr(os.environ["IPSEC_REMOTE_LIVE_PASSWORD"]),
                      os.environ.get("IPSEC_REMOTE_LIVE_AUTH", "negotiate"), os.environ.get("IPSEC_REMOTE_LIVE_CA"))


@pytest.fixture(scope="module")
def session() -> Iterator[HostSession]:
    s = HostSession(_target()).open()
    yield s
    s.close()


def test_auditpol_csv_columns_and_an_exact_round_trip(session: HostSession) -> None:
    read = session.run(*audit.read_step()).objects[0]
    state = audit.parse(read)
    assert state.error is None, state.error
    lines = [line for line in read["AuditPolicy"] if line.strip()]
    rows = list(csv.reader(lines))
    # auditpol-get.md: machine name, policy target, subcategory, subcategory GUID, inclusion, exclusion.
    assert all(len(row) == 6 for row in rows), rows
    assert [row[3] for row in rows[1:]] == [s.guid for s in audit.REPORTED], rows
    if not state.readable():
        pytest.skip(f"this host prints localized setting words ({state.raw}): the lab's auditpol_text = "
                    "'localized' case, where apply leaves auditing alone")
    previous = {s.key: state.of(s) for s in audit.MANAGED}
    try:
        enabled = audit.parse(session.run(*audit.enable_step(previous), retry=False).objects[0])
        assert audit.not_auditing_failures(list(previous), enabled) == []
    finally:
        restored = audit.parse(session.run(*audit.restore_step(previous), retry=False).objects[0])
        assert audit.differs(previous, restored) == [], (previous, restored.settings)


def test_windows_responses_have_the_recorded_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("wire_shapes", WINRM_TESTS / "wire_shapes.py")
    assert spec is not None and spec.loader is not None
    shapes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shapes)
    import json

    kinds = json.loads((WINRM_TESTS / "windows_wsman_shapes.json").read_text("utf-8"))["kinds"]
    recorded = {k: {shapes.without_activity_id(e["shape"]) for e in v} for k, v in kinds.items()}
    seen: list[tuple[bytes, bytes]] = []
    original = _TransportHTTP.send

    def send(self: _TransportHTTP, message: bytes, **kwargs: Any) -> bytes:
        response: bytes = original(self, message, **kwargs)
        seen.append((message, response))
        return response

    monkeypatch.setattr(_TransportHTTP, "send", send)
    with HostSession(_target()) as s:
        s.run("read_state", {"Group": "ipsec-remote-livetest", "PolicyStore": "PersistentStore"})
    assert seen
    for request, response in seen:
        kind = shapes.response_kind(ET.fromstring(request), ET.fromstring(response))
        assert kind is not None
        got = shapes.without_activity_id(shapes.shape(ET.fromstring(response)))
        assert got in recorded.get(kind, set()), (kind, got)
