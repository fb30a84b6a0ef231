"""End to end: the project's real script text runs through the lab engine against a lab host."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from typing import Any

import pytest
from host_harness import FIXED_NOW, new_lab

from ipsec_remote.lab.host import LabHost
from ipsec_remote.lab.host.config import HostAssumptions
from ipsec_remote.lab.host.model import RULE
from ipsec_remote.lab.values import PSHashtable


def script(name: str) -> str:
    return resources.files("ipsec_remote.remote").joinpath("powershell/" + name).read_text(encoding="utf-8")


def run(host: LabHost, text: str, **params: Any) -> Any:
    return host.run_script(text, params)


def run_product_script(host: LabHost, name: str, **params: Any) -> Any:
    """A script from src/ipsec_remote/remote/powershell; the engine lacking a construct it uses fails the test."""
    result = run(host, script(name), **params)
    if result.failure is not None and result.failure.error_id == "UnsupportedConstruct":
        pytest.fail(f"the lab engine does not support {name}: {result.failure.message}")
    return result


def call(cmdlet: str, params: dict[str, Any], **nested: list[dict[str, Any]]) -> PSHashtable:
    out = PSHashtable(cmdlet=cmdlet, params=PSHashtable(params))
    if nested:
        out["nested"] = PSHashtable({k: [PSHashtable(cmdlet=c["cmdlet"], params=PSHashtable(c["params"])) for c in v]
                                     for k, v in nested.items()})
    return out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("New-NetIPsecQuickModeCryptoProposal -Encryption AES256 -ESPHash SHA256 -Encapsulation Transport",
         "Unable to match the identifier name Transport"),
        ("New-NetIPsecRule -DisplayName x -Protocol TCP -Mode Transport -MainModeCryptoSet '{MM-CryptoSet-001}'",
         "A parameter cannot be found that matches parameter name 'MainModeCryptoSet'."),
        ("New-NetIPsecAuthProposal -Machine -Cert -Authority 'CN=Lab Root CA' -AuthorityType RootCA",
         "Unable to match the identifier name RootCA"),
        ("New-NetIPsecRule -DisplayName x -InboundSecurity Require -OutboundSecurity None",
         "is not a valid combination"),
        ("New-NetIPsecRule -InboundSecurity None -OutboundSecurity None -RemoteAddress 10.10.1.5",
         "missing mandatory parameters: DisplayName."),
        ("New-NetIPsecRule -DisplayName x -QuickModeCryptoSet '{QM-CryptoSet-001}'",
         "The system cannot find the file specified."),
    ],
)
def test_blog_errors_fail_like_windows(text: str, fragment: str) -> None:
    host = new_lab().host
    result = run(host, "$ErrorActionPreference = 'Stop'\n" + text)
    # Binding errors stop the script; a provider error of a CDXML cmdlet is non-terminating and ignores the
    # script's preference (PowerShell issues 4568/24389): it is written to the error stream.
    record = result.failure or (result.errors[0] if result.errors else None)
    assert record is not None and fragment in record.message
    assert host.stores.persistent.list(RULE) == []
    if result.failure is None:
        stopped = run(new_lab().host, text + " -ErrorAction Stop")
        assert stopped.failure is not None and fragment in stopped.failure.message


def test_invoke_batch_applies_nested_proposals_and_stops_at_first_error() -> None:
    host = new_lab().host
    calls = [
        call("New-NetIPsecQuickModeCryptoSet",
             {"Name": "ipsec-remote-qm", "DisplayName": "QM", "Group": "ipsec-remote"},
             Proposal=[{"cmdlet": "New-NetIPsecQuickModeCryptoProposal",
                        "params": {"Encapsulation": "ESP", "ESPHash": "SHA256", "Encryption": "AES256"}}]),
        call("New-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-app01", "DisplayName": "app01",
                                  "Group": "ipsec-remote", "RemoteAddress": ["10.10.1.30"],
                                  "InboundSecurity": "Request", "OutboundSecurity": "Request",
                                  "QuickModeCryptoSet": "ipsec-remote-qm"}),
        call("New-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-app01", "DisplayName": "again"}),
        call("New-NetIPsecRule", {"IPsecRuleName": "never", "DisplayName": "never"}),
    ]
    result = run_product_script(host, "invoke_batch.ps1", Calls=calls)
    assert result.failure is None, result.failure
    steps = [(o.get("index"), o.get("ok"), o.get("error")) for o in result.output]
    assert steps[:2] == [(0, True, None), (1, True, None)]
    assert steps[2][:2] == (2, False) and steps[2][2] == "Cannot create a file when that file already exists."
    assert len(steps) == 3
    assert [c["cmdlet"] for c in host.calls] == [
        "New-NetIPsecQuickModeCryptoProposal", "New-NetIPsecQuickModeCryptoSet", "New-NetIPsecRule",
        "New-NetIPsecRule"]
    view = host.active_policy()
    assert view.cs_rules[0].qm_crypto_set is not None
    assert view.cs_rules[0].qm_crypto_set.proposals[0]["ESPHash"] == "SHA256"


@pytest.mark.parametrize("type_layer", [False, True])
def test_read_state_reports_owned_objects_and_active_facts(type_layer: bool) -> None:
    host = new_lab(gpo_stores=("lab.local\\Iso",), assumptions=HostAssumptions(type_layer=type_layer)).host
    setup = run(host, """
        New-NetIPsecQuickModeCryptoSet -Name q1 -DisplayName q1 -Group ipsec-remote -PfsGroup DH19 `
            -Proposal (New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -ESPHash SHA256 -Encryption AES256) |
            Out-Null
        New-NetIPsecRule -IPsecRuleName r1 -DisplayName r1 -Group ipsec-remote -RemoteAddress 10.10.1.30 `
            -Protocol TCP -RemotePort 1433 -InboundSecurity Request -OutboundSecurity Request `
            -QuickModeCryptoSet q1 | Out-Null
        New-NetIPsecRule -IPsecRuleName gpo1 -DisplayName gpo1 -PolicyStore 'lab.local\\Iso' | Out-Null
    """)
    assert setup.failure is None, setup.failure
    # Nested proposal calls run first and are logged in execution order (DESIGN §5).
    assert [c["cmdlet"] for c in host.calls] == [
        "New-NetIPsecQuickModeCryptoProposal", "New-NetIPsecQuickModeCryptoSet", "New-NetIPsecRule",
        "New-NetIPsecRule"]
    assert host.calls[2]["params"]["QuickModeCryptoSet"] == "q1"
    assert host.calls[2]["params"]["RemotePort"] == ["1433"]
    result = run_product_script(host, "read_state.ps1")
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    state = result.output[0]
    # CIM names and codes whatever the type layer shows (MSFT_NetConSecRule: 1 = Request, 1 = Transport).
    rule = state.get("Rules")[0]
    assert (rule.get("InstanceID"), rule.get("InboundSecurity"), rule.get("Mode"), rule.get("QuickModeCryptoSet")) == (
        "r1", 1, 1, "q1")
    assert list(rule.get("RemoteAddress")) == ["10.10.1.30"] and rule.get("Protocol") == "TCP"
    sets = state.get("Sets")
    assert sets[0].get("PfsGroupID") == 19
    proposal = sets[0].get("Proposals")[0]
    assert (proposal.get("Class"), proposal.get("Encapsulation"), proposal.get("HashAlgorithmESP")) == (
        "MSFT_NetIKEQMCryptoProposal", 2, 65001)
    assert [r.get("InstanceID") for r in state.get("UnownedActiveRules")] == ["gpo1"]
    assert {s.get("Name"): s.get("StartType") for s in state.get("Services")}["IKEEXT"] == "Manual"
    assert state.get("Exemptions") == 9  # NeighborDiscovery 1 | Dhcp 8 (MSFT_NetSecuritySettingData)
    assert state.get("UtcNow").startswith("2026-11-27T06:00:00")


def test_verify_reads_sa_codes_even_when_the_type_layer_shows_names() -> None:
    host = new_lab(assumptions=HostAssumptions(type_layer=True), audit={"ipsec_main_mode": "success"}).host
    host.main_mode_sas.append({"Name": "1", "LocalEndpoint": "10.10.1.20", "RemoteEndpoint": "10.10.1.30",
                               "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19, "KeyModule": 0})
    host.add_event(4650, "MM SA established", time=FIXED_NOW - timedelta(minutes=1))
    result = run_product_script(host, "verify.ps1", Probes=[PSHashtable(Target="10.10.1.30", Port=1433)])
    assert result.failure is None, result.failure
    out = result.output[0]
    probe = out.get("Probes")[0]
    assert (probe.get("Outcome"), probe.get("Connected")) == ("timeout", False)  # no network attached
    mm = out.get("MainModeSAs")[0]
    assert (mm.get("CipherAlgorithm"), mm.get("GroupId"), mm.get("KeyModule")) == (65003, 19, 0)
    events = run_product_script(host, "read_events.ps1")
    assert events.failure is None, events.failure
    assert [e.get("Id") for e in events.output] == [4650]
    empty = run_product_script(new_lab().host, "read_events.ps1")
    assert empty.failure is None and empty.output == []  # NoMatchingEventsFound is caught by the script


def test_dead_mans_switch_task_runs_its_script() -> None:
    host = new_lab().host
    result = run(host, """
        New-NetIPsecRule -IPsecRuleName guarded -DisplayName guarded -InboundSecurity Require `
            -OutboundSecurity Require | Out-Null
        New-Item -Path 'C:\\ProgramData\\ipsec-remote' -ItemType Directory -Force | Out-Null
        Set-Content -Path 'C:\\ProgramData\\ipsec-remote\\revert.ps1' `
            -Value 'Remove-NetIPsecRule -IPsecRuleName guarded'
        $trigger = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddMinutes(5))
        $action = New-ScheduledTaskAction -Execute 'powershell.exe' `
            -Argument '-NoProfile -ExecutionPolicy Bypass -File "C:\\ProgramData\\ipsec-remote\\revert.ps1"'
        $principal = New-ScheduledTaskPrincipal -UserId SYSTEM -LogonType ServiceAccount -RunLevel Highest
        Register-ScheduledTask -TaskName revert -TaskPath '\\ipsec-remote\\' -Trigger $trigger -Action $action `
            -Principal $principal -Force | Out-Null
    """)
    assert result.failure is None, result.failure
    assert host.due_tasks(FIXED_NOW) == []
    due = host.due_tasks(FIXED_NOW + timedelta(minutes=5))
    assert [t.name for t in due] == ["revert"]
    ran = host.run_task(due[0])
    assert ran.failure is None and due[0].last_result == 0
    assert host.stores.persistent.objects["rules"] == {}
