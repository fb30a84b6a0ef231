"""Issue 10 against a real Windows host, when one is configured; skipped otherwise.

Same variables as test_live_host.py (IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD, optional _CA/_AUTH), plus
IPSEC_REMOTE_LIVE_ADDRESS (the host's own address, for the export's guard) and IPSEC_REMOTE_LIVE_PEER (an
address the host already has IPsec rules toward, for the SA checks). Everything created lives in the group
'ipsec-remote-livetest' under names starting with it, and is removed at the end by name and store.

Where the lab offers a switch for undocumented behaviour, these tests show which setting the host matches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from pypsrp.powershell import PowerShell

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind
from ipsec_remote.plan.planner import Change, HostPlan, Plan, plan_host
from ipsec_remote.plan.render import plan_powershell
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import HostSession, HostTarget, plain

HOST = os.environ.get("IPSEC_REMOTE_LIVE_HOST")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (HOST and os.environ.get("IPSEC_REMOTE_LIVE_USER") and os.environ.get("IPSEC_REMOTE_LIVE_PASSWORD")),
    reason="set IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD to run against a real Windows host")]
GROUP = "ipsec-remote-livetest"
STORE = "PersistentStore"
ADDRESS = os.environ.get("IPSEC_REMOTE_LIVE_ADDRESS")
PEER = os.environ.get("IPSEC_REMOTE_LIVE_PEER")


@pytest.fixture(scope="module")
def session() -> Iterator[HostSession]:
    assert HOST
    endpoint = HOST if HOST.startswith("http") else f"https://{HOST}:5986/wsman"
    target = HostTarget("live", endpoint, os.environ["IPSEC_REMOTE_LIVE_USER"],
                        SecretStr(os.environ["IPSEC_REMOTE_LIVE_PASSWORD"]),
                        os.environ.get("IPSEC_REMOTE_LIVE_AUTH", "negotiate"), os.environ.get("IPSEC_REMOTE_LIVE_CA"))
    s = HostSession(target).open()
    yield s
    cleanup = [CmdletCall("Remove-NetIPsecRule", {"IPsecRuleName": f"{GROUP}-{n}", "PolicyStore": STORE})
               for n in ("enabled", "export")]
    cleanup += [CmdletCall("Remove-NetIPsecQuickModeCryptoSet", {"Name": f"{GROUP}-{n}", "PolicyStore": STORE})
                for n in ("cim", "sha384")]
    for call in cleanup:  # one by one: a missing object must not keep the others
        s.run("invoke_batch", {"Calls": [batch_data(call)]}, retry=False)
    s.close()


def run_text(session: HostSession, text: str, **params: Any) -> tuple[list[Any], list[str]]:
    """Test-only PowerShell text on the live host (the product itself only sends its fixed scripts)."""
    pool = session._pool
    assert pool is not None
    ps = PowerShell(pool)
    ps.add_script(text)
    if params:
        ps.add_parameters(params)
    output = ps.invoke()
    return [plain(o) for o in output], [str(e) for e in ps.streams.error]


def batch(session: HostSession, *calls: CmdletCall) -> list[dict[str, Any]]:
    out = session.run("invoke_batch", {"Calls": [batch_data(c) for c in calls]}, retry=False).objects
    return [o for o in out if isinstance(o, dict)]


def qm_set(name: str, esp_hash: str) -> CmdletCall:
    return CmdletCall("New-NetIPsecQuickModeCryptoSet", {
        "Name": name, "DisplayName": name, "Group": GROUP, "PolicyStore": STORE, "Proposal": [
            CmdletCall("New-NetIPsecQuickModeCryptoProposal",
                       {"Encapsulation": "ESP", "Encryption": "AES256", "ESPHash": esp_hash})]})


def test_set_proposals_are_cim_instances_with_documented_codes(session: HostSession) -> None:
    """Item 1: Proposals is an array of MSFT_NetIKEQMCryptoProposal instances holding the page's codes."""
    assert [r["ok"] for r in batch(session, qm_set(f"{GROUP}-cim", "SHA256"))] == [True]
    out, errors = run_text(session, """
        param($Name)
        $s = Get-NetIPsecQuickModeCryptoSet -Name $Name -PolicyStore PersistentStore -ErrorAction Stop
        $p = @($s.PSBase.CimInstanceProperties['Proposals'].Value)[0]
        [pscustomobject]@{
            Class = $p.PSBase.CimSystemProperties.ClassName
            Encapsulation = $p.PSBase.CimInstanceProperties['Encapsulation'].Value
            Cipher = $p.PSBase.CimInstanceProperties['CipherAlgorithm'].Value
            Esp = $p.PSBase.CimInstanceProperties['HashAlgorithmESP'].Value
            TypeLayer = ($null -ne $s.PSObject.Properties['Proposal'])
        }
    """, Name=f"{GROUP}-cim")
    assert not errors, errors
    (got,) = out
    assert (got["Class"], got["Encapsulation"], got["Cipher"], got["Esp"]) == (
        "MSFT_NetIKEQMCryptoProposal", 2, 65003, 65001)
    print(f"type_layer on this host: {got['TypeLayer']}")  # the lab's [assumptions] type_layer


def test_rule_created_with_enabled_true_reads_back_and_converges(session: HostSession) -> None:
    """Items 1 and 6: read_state's CIM reading of a rule created with -Enabled True plans nothing."""
    name = f"{GROUP}-enabled"
    params = {"IPsecRuleName": name, "DisplayName": name, "Group": GROUP, "Enabled": "True", "Mode": "Transport",
              "InboundSecurity": "None", "OutboundSecurity": "None", "RemoteAddress": ["192.0.2.10"],
              "Profile": "Any"}
    assert [r["ok"] for r in batch(session, CmdletCall("New-NetIPsecRule", {**params, "PolicyStore": STORE}))] == [
        True]
    state = parse_state(session.run("read_state", {"Group": GROUP, "PolicyStore": STORE}).objects[0], GROUP)
    (rule,) = [o for o in state.observed if o.name == name]
    assert (rule.params["Enabled"], rule.params["InboundSecurity"], rule.params["Mode"]) == ("True", "None",
                                                                                              "Transport")
    desired = [DesiredObject(Kind.RULE, name, params, "")]
    assert plan_host("live", "", desired, [rule], STORE).changes == ()


def test_sha384_quick_mode_proposal(session: HostSession) -> None:
    """Item 5: the lab's qm_sha384 switch: 'refused' (the provider rejects the set) or 'never_negotiated'
    (stored, with the documented SHA-384 code)."""
    (result,) = batch(session, qm_set(f"{GROUP}-sha384", "SHA384"))
    if result["ok"]:
        state = session.run("read_state", {"Group": GROUP, "PolicyStore": STORE}).objects[0]
        (stored,) = [s for s in state["Sets"] if s["InstanceID"] == f"{GROUP}-sha384"]
        assert stored["Proposals"][0]["HashAlgorithmESP"] == 65002
        print("qm_sha384 on this host: never_negotiated")
    else:
        assert result["error"]
        print(f"qm_sha384 on this host: refused ({result['error']})")


def test_cdxml_cmdlets_and_the_script_preference(session: HostSession) -> None:
    """Item 7: does a script's $ErrorActionPreference = 'Stop' stop a NetSecurity error (lab switch
    cdxml_sees_script_preference)? -ErrorAction Stop must stop it either way."""
    text = "$ErrorActionPreference = 'Stop'\nGet-NetIPsecRule -IPsecRuleName 'ipsec-remote-livetest-none'{}\n'after'"
    loose, loose_errors = run_text(session, text.format(""))
    print(f"cdxml_sees_script_preference on this host: {'after' not in loose}")
    assert loose_errors
    stopped, _errors = run_text(session, text.format(" -ErrorAction Stop"))
    assert "after" not in stopped


def test_bounded_probe_and_numeric_sas(session: HostSession) -> None:
    """Items 2 and 4: a probe toward an address that never answers (TEST-NET-1) ends with the probe's own
    timeout; SA algorithms arrive as numbers."""
    probes = [{"Target": "192.0.2.1", "Port": 9}]
    if PEER:
        probes.append({"Target": PEER, "Port": 445})
    report = session.run("verify", {"Probes": probes, "TimeoutMs": 2000}).objects[0]
    assert report["Probes"][0]["Outcome"] in ("timeout", "error") and report["Probes"][0]["Connected"] is False
    for sa in report["MainModeSAs"]:
        assert all(isinstance(sa[k], int) for k in ("CipherAlgorithm", "HashAlgorithm", "GroupId")), sa
    for sa in report["QuickModeSAs"]:
        assert isinstance(sa["FirstTransformType"], int) and isinstance(sa["FirstCipherAlgorithm"], int), sa
    if PEER:
        assert any(sa["RemoteEndpoint"] == PEER for sa in report["MainModeSAs"]), report


@pytest.mark.skipif(not PEER, reason="set IPSEC_REMOTE_LIVE_PEER to reset SAs toward a test peer")
def test_reset_sas_toward_a_peer(session: HostSession) -> None:
    """Item 3: after the reset no SA toward the peer is left, whichever way the host cascades."""
    assert PEER
    session.run("verify", {"Probes": [{"Target": PEER, "Port": 445}]})
    out = session.run("reset_sas", {"Peers": [PEER]}, retry=False).objects[0]
    assert out["MainModeRemoved"] >= 0 and out["QuickModeRemoved"] >= 0
    report = session.run("verify", {"Probes": []}).objects[0]
    assert not [sa for sa in report["MainModeSAs"] + report["QuickModeSAs"] if sa["RemoteEndpoint"] == PEER]


@pytest.mark.skipif(not ADDRESS, reason="set IPSEC_REMOTE_LIVE_ADDRESS (the host's address) to run an export")
def test_export_runs_as_is_and_stops_at_the_first_error(session: HostSession) -> None:
    """Item 7: the exported script's section for this host runs; when its first call fails, nothing after it
    runs."""
    assert ADDRESS
    name = f"{GROUP}-export"
    rule = CmdletCall("New-NetIPsecRule", {"IPsecRuleName": name, "DisplayName": name, "Group": GROUP,
                                           "Enabled": "True", "InboundSecurity": "None",
                                           "OutboundSecurity": "None", "RemoteAddress": ["192.0.2.11"],
                                           "PolicyStore": STORE})
    later = CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": name, "NewDisplayName": f"{name}-second",
                                            "PolicyStore": STORE})

    def export(*calls: CmdletCall) -> str:
        return plan_powershell(Plan((HostPlan("live", ADDRESS, (Change("create", Kind.EXEMPTION, name, "x",
                                                                       calls),)),)))

    _out, errors = run_text(session, export(rule))
    assert not errors, errors
    _out, errors = run_text(session, export(rule, later))
    assert errors  # the rule exists: New-NetIPsecRule fails ...
    out, _ = run_text(session, f"(Get-NetIPsecRule -IPsecRuleName '{name}' -PolicyStore PersistentStore)"
                               ".PSBase.CimInstanceProperties['DisplayName'].Value")
    assert out == [name]  # ... and Set-NetIPsecRule never ran
