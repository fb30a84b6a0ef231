"""The same scripts against a real Windows host, when one is given; skipped otherwise.

Set IPSEC_REMOTE_LIVE_HOST (https://host:5986/wsman or a host name), IPSEC_REMOTE_LIVE_USER,
IPSEC_REMOTE_LIVE_PASSWORD, and optionally IPSEC_REMOTE_LIVE_CA (CA bundle) and IPSEC_REMOTE_LIVE_AUTH
(default negotiate). Everything created lives in the group 'ipsec-remote-livetest' and is removed at the
end; nothing outside that group is touched. These tests settle what the lab can only assume (the
display format of set proposals, SA property values, error texts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.reference import validate_call
from ipsec_remote.remote.cimcodes import cim_classes
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import HostSession, HostTarget

HOST = os.environ.get("IPSEC_REMOTE_LIVE_HOST")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (HOST and os.environ.get("IPSEC_REMOTE_LIVE_USER") and os.environ.get("IPSEC_REMOTE_LIVE_PASSWORD")),
    reason="set IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD to run against a real Windows host")]
GROUP = "ipsec-remote-livetest"


@pytest.fixture(scope="module")
def session() -> Iterator[HostSession]:
    assert HOST
    endpoint = HOST if HOST.startswith("http") else f"https://{HOST}:5986/wsman"
    target = HostTarget("live", endpoint, os.environ["IPSEC_REMOTE_LIVE_USER"],
                        SecretStr(os.environ["IPSEC_REMOTE_LIVE_PASSWORD"]),
                        os.environ.get("IPSEC_REMOTE_LIVE_AUTH", "negotiate"), os.environ.get("IPSEC_REMOTE_LIVE_CA"))
    s = HostSession(target).open()
    yield s
    s.run("invoke_batch", {"Calls": [batch_data(c) for c in cleanup_calls()]}, retry=False)
    s.close()


def cleanup_calls() -> list[CmdletCall]:
    return [CmdletCall("Remove-NetIPsecRule", {"IPsecRuleName": f"{GROUP}-exempt", "PolicyStore": "PersistentStore"}),
            CmdletCall("Remove-NetIPsecQuickModeCryptoSet", {"Name": f"{GROUP}-qm", "PolicyStore": "PersistentStore"})]


def test_read_state_parses(session: HostSession) -> None:
    out = session.run("read_state", {"Group": GROUP, "PolicyStore": "PersistentStore"})
    state = parse_state(out.objects[0], GROUP)
    assert "IKEEXT" in state.facts.services and state.facts.utc_now is not None


def test_batch_creates_reads_back_and_reports_errors(session: HostSession) -> None:
    calls = [
        CmdletCall("New-NetIPsecRule", {"IPsecRuleName": f"{GROUP}-exempt", "DisplayName": f"{GROUP} exempt",
                                        "Group": GROUP, "InboundSecurity": "None", "OutboundSecurity": "None",
                                        "RemoteAddress": ["192.0.2.1"], "PolicyStore": "PersistentStore"}),
        CmdletCall("New-NetIPsecQuickModeCryptoSet", {"Name": f"{GROUP}-qm", "DisplayName": f"{GROUP} qm",
                                                      "Group": GROUP, "PolicyStore": "PersistentStore", "Proposal": [
            CmdletCall("New-NetIPsecQuickModeCryptoProposal",
                       {"Encapsulation": "ESP", "Encryption": "AES256", "ESPHash": "SHA256"})]}),
    ]
    for c in calls:
        validate_call(c)
    results = session.run("invoke_batch", {"Calls": [batch_data(c) for c in calls]}, retry=False).objects
    assert [r["ok"] for r in results] == [True, True], results
    state = parse_state(session.run("read_state", {"Group": GROUP, "PolicyStore": "PersistentStore"}).objects[0],
                        GROUP)
    assert {o.name for o in state.observed} == {f"{GROUP}-exempt", f"{GROUP}-qm"}
    again = session.run("invoke_batch", {"Calls": [batch_data(calls[0])]}, retry=False).objects
    assert again[0]["ok"] is False and again[0]["error"]  # duplicate name: Windows' own error text


def test_sa_objects_carry_documented_property_names(session: HostSession) -> None:
    # verify.ps1 reports each SA's CIM properties under their class-page names (MSFT_NetMainModeSA /
    # MSFT_NetQuickModeSA, data/wfascim.json).
    out = session.run("verify", {"Probes": []})
    report = out.objects[0]
    for key, cls in (("MainModeSAs", "MSFT_NetMainModeSA"), ("QuickModeSAs", "MSFT_NetQuickModeSA")):
        documented = {n.lower() for n in cim_classes()[cls]["properties"]}
        for sa in report[key]:
            assert {k.lower() for k in sa} <= documented, sa


def test_events_script_runs(session: HostSession) -> None:
    session.run("read_events", {"SinceSeconds": 60})
