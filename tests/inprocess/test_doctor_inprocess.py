"""doctor in-process: each fault it claims to diagnose, found on the host that has it, and nothing on a healthy one."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.ops.doctor import Finding, doctor

from .harness import TRIO, inprocess_lab

FAULTS = """
[hosts.sql01]
ikeext = "disabled"
clock_skew_s = 900

[hosts.app01]
local_ipsec_merge = false

[[hosts.web01.preexisting.rules]]
name = "corp-rule"
display_name = "corp"
group = "corp"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.20"]
"""
AUDIT_ON = """
[audit]
ipsec_main_mode = "failure"
ipsec_quick_mode = "failure"
ipsec_driver = "failure"
filtering_platform_packet_drop = "failure"
"""


def _problems(findings: list[Finding], host: str) -> list[tuple[str, str]]:
    return [(f.severity, f.problem) for f in findings if f.host == host and f.severity != "info"]


def test_doctor_names_each_fault_on_its_host(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, faults=AUDIT_ON + FAULTS) as lab:
        findings = doctor(lab.inv, lab.targets, 4)
    sql01 = _problems(findings, "sql01")
    assert sql01[0] == ("error", "IKEEXT is Disabled (Stopped): IKE/AuthIP cannot negotiate")
    # 900 s ahead, read a moment after the others: the whole seconds may round down.
    skew = "clock skew {} s (ahead of the controller's clock): Kerberos allows 300 s"
    assert sql01[1:] in ([("error", skew.format(s))] for s in (899, 900))
    assert _problems(findings, "app01") == [
        ("error", f"Group Policy sets AllowLocalIPsecRules = False ({p}): rules in PersistentStore are ignored")
        for p in ("Domain", "Private", "Public")]
    assert _problems(findings, "web01") == [
        ("warning", "rule 'corp-rule' (local) not owned by ipsec-remote covers 10.10.1.20 with Request/Request")]
    fixes = {f.problem.split(":")[0]: f.fix for f in findings}
    assert fixes["IKEEXT is Disabled (Stopped)"] == "Set-Service IKEEXT -StartupType Manual; Start-Service IKEEXT"
    assert findings[0].to_json() == {"host": "sql01", "severity": "error", "problem": findings[0].problem,
                                     "fix": findings[0].fix}


def test_doctor_names_a_host_it_cannot_reach_and_auditing_that_is_off(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        findings = doctor(lab.inv, lab.targets, 4)
    assert [(f.host, f.severity) for f in findings] == [("sql01", "warning"), ("app01", "error")]
    assert findings[0].problem.startswith("IPsec auditing is off on sql01 ")
    assert findings[1].problem == "WinRM: app01: cannot connect to inprocess://app01/wsman"
    assert findings[1].fix.startswith("check the WinRM listener")


def test_a_healthy_fleet_has_nothing_but_information(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, faults=AUDIT_ON) as lab:
        findings = doctor(lab.inv, lab.targets, 4)
    assert [f.severity for f in findings] == ["info"] * 3  # each host's audit setting, stated
    assert all(f.problem.startswith(f"IPsec auditing on {f.host}: ") for f in findings)
