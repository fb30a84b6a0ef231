"""The same scripts against a real Windows host, when one is given; skipped otherwise.

Set IPSEC_REMOTE_LIVE_HOST (https://host:5986/wsman or a host name), IPSEC_REMOTE_LIVE_USER,
IPSEC_REMOTE_LIVE_PASSWORD, and optionally IPSEC_REMOTE_LIVE_CA (CA bundle), IPSEC_REMOTE_LIVE_AUTH
(default negotiate) and IPSEC_REMOTE_LIVE_PEER (an address the host negotiates IPsec with: traffic to it
makes the SAs that are then read). Everything created lives in the group 'ipsec-remote-livetest' and is removed at the
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
from ipsec_remote.remote import cimcodes as C
from ipsec_remote.remote.cimcodes import cim_classes
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import HostSession, HostTarget

HOST = os.environ.get("IPSEC_REMOTE_LIVE_HOST")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (HOST and os.environ.get("IPSEC_REMOTE_LIVE_USER") and os.environ.get("IPSEC_REMOTE_LIVE_PASSWORD")),
    reason="set IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD to run against a real Windows host")]
GROUP = "ipsec-remote-livetest"
PEER = os.environ.get("IPSEC_REMOTE_LIVE_PEER")  # an address this host negotiates IPsec with


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


@pytest.mark.skipif(not PEER, reason="set IPSEC_REMOTE_LIVE_PEER (a peer this host negotiates IPsec with) to "
                    "make traffic and read its SAs")
def test_traffic_makes_sas_with_documented_names_and_known_codes(session: HostSession) -> None:
    """SAs toward the peer dropped, then traffic (verify.ps1's probe, TCP 445), then the SAs it negotiated:
    a main-mode and a quick-mode SA toward the peer, every property under its class-page name (MSFT_NetMainModeSA
    / MSFT_NetQuickModeSA, data/wfascim.json), algorithms as numbers the controller maps to names, and the
    quick-mode SA inside one of the main-mode SAs read."""
    assert PEER
    # None toward the peer to begin with: what is read below was negotiated by this test's traffic.
    session.run("reset_sas", {"Peers": [PEER]}, retry=False)
    before = session.run("verify", {"Probes": []}).objects[0]
    assert not [sa for sa in before["MainModeSAs"] + before["QuickModeSAs"] if sa["RemoteEndpoint"] == PEER]
    report = session.run("verify", {"Probes": [{"Target": PEER, "Port": 445}], "TimeoutMs": 5000}).objects[0]
    (probe,) = report["Probes"]
    assert probe["Target"] == PEER and probe["Outcome"] in ("connected", "refused"), probe  # traffic went out
    mm = [sa for sa in report["MainModeSAs"] if sa["RemoteEndpoint"] == PEER]
    qm = [sa for sa in report["QuickModeSAs"] if sa["RemoteEndpoint"] == PEER]
    assert mm and qm, report  # the traffic negotiated; an empty list would check nothing below
    for key, sas in (("MSFT_NetMainModeSA", mm), ("MSFT_NetQuickModeSA", qm)):
        documented = {n.lower() for n in cim_classes()[key]["properties"]}
        for sa in sas:
            assert {k.lower() for k in sa} <= documented, sa
            assert sa["LocalEndpoint"] and sa["LocalEndpoint"] != PEER, sa
    for sa in mm:
        assert C.name(C.CIPHER, sa["CipherAlgorithm"]) not in (None, "None"), sa
        assert C.name(C.HASH, sa["HashAlgorithm"]) is not None and C.name(C.DH, sa["GroupId"]) is not None, sa
    for sa in qm:
        assert C.name(C.TRANSFORM, sa["FirstTransformType"]) is not None, sa
        assert C.name(C.CIPHER, sa["FirstCipherAlgorithm"]) is not None, sa
    assert {str(sa["MmSaId"]) for sa in qm} & {str(sa["InstanceID"]) for sa in mm}, (mm, qm)


def test_events_script_runs(session: HostSession) -> None:
    session.run("read_events", {"SinceSeconds": 60})


# A TCP port the peer's firewall drops (Windows blocks unsolicited inbound by default): the connect gets no
# answer, so only the SA can end a pair probe before its bound.
DROPPED_PORT = int(os.environ.get("IPSEC_REMOTE_LIVE_DROPPED_PORT") or 4)


@pytest.mark.skipif(not PEER, reason="set IPSEC_REMOTE_LIVE_PEER (a peer this host negotiates IPsec with) to "
                    "make traffic and read its SAs")
def test_a_pair_probe_stops_at_its_sa_and_a_dependency_probe_waits(session: HostSession) -> None:
    """verify.ps1 on a real host, toward a port the peer drops (IPSEC_REMOTE_LIVE_DROPPED_PORT, default 4):
    the pair probe (UntilSa) ends once IKE has listed a quick-mode SA toward the peer — 'secured', its connect
    still unanswered — while the same connect as a dependency probe waits to its deadline ('timeout'), and the
    SAs read after are the ones that ended the pair probe."""
    assert PEER
    session.run("reset_sas", {"Peers": [PEER]}, retry=False)
    probes = [{"Target": PEER, "Port": DROPPED_PORT, "UntilSa": True}, {"Target": PEER, "Port": DROPPED_PORT}]
    report = session.run("verify", {"Probes": probes, "TimeoutMs": 5000}).objects[0]
    pair_probe, dependency = report["Probes"]
    assert pair_probe["Outcome"] == "secured" and pair_probe["Connected"] is False, report["Probes"]
    assert dependency["Outcome"] == "timeout" and dependency["Connected"] is False, report["Probes"]
    assert [sa for sa in report["QuickModeSAs"] if sa["RemoteEndpoint"] == PEER], report
