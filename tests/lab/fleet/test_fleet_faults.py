"""Fault keys (DESIGN §5) change what the controller sees over WinRM and how hosts negotiate."""

from __future__ import annotations

import time

import pytest
import requests
from pypsrp.exceptions import WinRMTransportError
from pypsrp.powershell import RunspacePool

from .conftest import Lab, LabFactory
from .test_fleet_network import event_ids, pair, sas, tnc

# Certificate authentication from preexisting objects: a phase-1 set naming the lab's machine-cert CA.
CERT_PAIR = """
[hosts.{bad}]
machine_cert = false
{hosts}
"""
CERT_HOST = """
[[hosts.{name}.preexisting.phase1_auth_sets]]
name = "machine-cert"
proposal = [{{ cert = true, machine = true, authority = "CN=ipsec-remote lab root CA" }}]
[[hosts.{name}.preexisting.rules]]
name = "cert-pair"
inbound_security = "Request"
outbound_security = "Request"
key_module = "IKEv1"
remote_address = ["{peer}"]
phase1_auth_set = "machine-cert"
"""


def test_winrm_errors_answer_http_500_then_recover(make_lab: LabFactory) -> None:
    lab = make_lab("[hosts.sql01]\nwinrm_errors = 2\n")
    for _ in range(2):
        with pytest.raises(WinRMTransportError) as info:
            lab.ok("sql01", "Get-Date")
        assert info.value.code == 500
    assert lab.ok("sql01", "1 + 1") == [2]
    assert lab.host("sql01")["requests"]["Create"] == 3  # the failed attempts reached the host


def test_drop_after_calls_drops_every_later_request(make_lab: LabFactory) -> None:
    lab = make_lab("[hosts.sql01]\ndrop_after_calls = 5\n")
    assert lab.ok("sql01", "1") == [1]  # Create, Receive, Command, Receive, Delete
    with pytest.raises(requests.exceptions.ConnectionError):
        lab.ok("sql01", "1")
    assert lab.host("sql01")["requests"]["total"] == 6  # the dropped Create reached the host


def test_rtt_per_host_overrides_the_global_one(make_lab: LabFactory) -> None:
    lab = make_lab("rtt_ms = 0\n[hosts.sql01]\nrtt_ms = 150\n")
    started = time.monotonic()
    lab.ok("app01", "1")
    fast = time.monotonic() - started
    started = time.monotonic()
    lab.ok("sql01", "1")
    slow = time.monotonic() - started
    requests_made = lab.host("sql01")["requests"]["total"]
    assert slow >= 0.15 * requests_made > fast


@pytest.mark.parametrize(("faults", "why"), [
    ("[hosts.app01]\nclock_skew_s = 600\n", "clock"),
    ("[hosts.app01]\ndomain_joined = false\n", "domain"),
])
def test_kerberos_faults_leave_request_pairs_in_clear_text(make_lab: LabFactory, faults: str, why: str) -> None:
    lab = make_lab(faults, audited=True)
    pair(lab, "sql01", "app01")
    assert tnc(lab, "app01", "sql01")  # Request: clear text after the failed negotiation
    assert sas(lab, "sql01") == ([], [])
    failures = [e["message"] for e in lab.host("sql01")["events"] if e["id"] == 4653]
    assert any("Kerberos" in m and why in m for m in failures), failures


def test_missing_machine_certificate_fails_certificate_auth(make_lab: LabFactory) -> None:
    healthy = CERT_HOST.format(name="sql01", peer="10.10.1.30") + CERT_HOST.format(name="app01", peer="10.10.1.20")
    lab = make_lab(healthy, audited=True)
    assert tnc(lab, "app01", "sql01") and sas(lab, "sql01")[0] == ["10.10.1.30"]
    assert 4651 in event_ids(lab, "sql01")  # MM SA established with a certificate

    broken = make_lab("[hosts.app01]\nmachine_cert = false\n" + healthy, audited=True)
    assert tnc(broken, "app01", "sql01")
    assert sas(broken, "sql01") == ([], [])
    assert 4653 in event_ids(broken, "app01")


def test_preexisting_objects_are_visible_but_not_in_the_call_log(make_lab: LabFactory) -> None:
    lab: Lab = make_lab(CERT_HOST.format(name="sql01", peer="10.10.1.30"))
    names = lab.ok("sql01", "Get-NetIPsecRule | ForEach-Object { $_.InstanceID }")
    assert names == ["cert-pair"]
    assert lab.host("sql01")["calls"] == [{"cmdlet": "Get-NetIPsecRule", "params": {}}]


AUDITPOL = """
param($Guid)
$set = @(auditpol.exe /set ('/subcategory:' + $Guid) /failure:enable)
$get = @(auditpol.exe /get ('/subcategory:' + $Guid) /r)
[pscustomobject]@{ Set = $set[0]; Code = $LASTEXITCODE; Row = $get[1] }
"""


def test_audit_policy_gates_events_and_auditpol_changes_it_over_winrm(make_lab: LabFactory) -> None:
    lab = make_lab("[hosts.app01.audit]\nipsec_driver = 'failure'\n[assumptions]\nauditpol_text = 'localized'\n")
    assert set(lab.host("sql01")["audit"].values()) == {"none"}  # a stock host
    assert lab.host("app01")["audit"]["ipsec_driver"] == "failure"
    pair(lab, "sql01", "app01")
    assert tnc(lab, "app01", "sql01")
    assert sas(lab, "sql01")[0] == ["10.10.1.30"]
    assert event_ids(lab, "sql01") == [] and event_ids(lab, "app01") == []  # SAs built, nothing audited
    (out,) = lab.ok("sql01", AUDITPOL, Guid="{0CCE9218-69AE-11D9-BED3-505054503030}")
    assert (out.extended_properties["Set"], out.extended_properties["Code"]) == \
        ("The command was successfully executed.", 0)
    assert out.extended_properties["Row"].split(",")[3:5] == ["{0CCE9218-69AE-11D9-BED3-505054503030}", "Fehler"]
    assert lab.host("sql01")["audit"]["ipsec_main_mode"] == "failure"


def test_winrm_idle_timeout_reaches_each_listener_and_lab_inspect(make_lab: LabFactory) -> None:
    lab = make_lab("winrm_idle_timeout_s = 0.3\n[hosts.app01]\nwinrm_idle_timeout_s = 45\n"
                   "[assumptions]\nwinrm_idle_close = \"reset\"\n")
    assert lab.fleet.endpoints["sql01"].idle.timeout_s == 0.3 and lab.fleet.endpoints["sql01"].idle.reset
    assert lab.host("app01")["winrm_idle_timeout_s"] == 45
    with lab.wsman("sql01") as wsman:
        RunspacePool(wsman).open()  # then the connection stays open, idle, until the host closes it
        assert lab.host("sql01")["winrm_connections"] == 1
        deadline = time.monotonic() + 20  # bounds a hang only
        while lab.host("sql01")["winrm_idle_closed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        sql01 = lab.host("sql01")
        assert sql01["winrm_idle_closed"] == 1 and sql01["winrm_connections"] == 0  # reset: freed at once
    stats = lab.fleet.stats()
    assert stats["winrm_idle_closed"] >= 1 and stats["winrm_connections"] >= 0 and stats["open_fds"] > 0


def test_winrm_idle_timeout_defaults_to_http_sys_120_s_and_must_be_positive(make_lab: LabFactory) -> None:
    from ipsec_remote.lab.fleet.spec import LabConfigError

    lab = make_lab()
    assert {h["winrm_idle_timeout_s"] for h in lab.fleet.inspect()["hosts"].values()} == {120.0}
    with pytest.raises(LabConfigError, match="winrm_idle_timeout_s"):
        make_lab("winrm_idle_timeout_s = 0\n")
