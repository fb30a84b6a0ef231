"""The call log and the ``lab inspect --json`` snapshot shape (DESIGN §5)."""

from __future__ import annotations

import json

import pytest
from host_harness import new_lab

PRE = (
    {"cmdlet": "New-NetIPsecQuickModeCryptoSet", "params": {
        "Name": "legacy-qm", "DisplayName": "Legacy QM",
        "Proposal": [{"cmdlet": "New-NetIPsecQuickModeCryptoProposal",
                      "params": {"Encapsulation": "ESP", "ESPHash": "SHA1", "Encryption": "DES3"}}]}},
    {"cmdlet": "New-NetIPsecRule", "params": {
        "IPsecRuleName": "legacy", "DisplayName": "Legacy", "RemoteAddress": ["10.10.0.0/16"],
        "InboundSecurity": "Require", "OutboundSecurity": "Request", "QuickModeCryptoSet": "legacy-qm"}},
)


def test_preexisting_objects_exist_but_are_not_in_the_call_log() -> None:
    lab = new_lab(preexisting=PRE)
    assert [r.get("Name") for r in lab.call("Get-NetIPsecRule", PolicyStore="ActiveStore")] == ["legacy"]
    assert [c["cmdlet"] for c in lab.host.calls] == ["Get-NetIPsecRule"]


def test_bad_preexisting_call_fails_loudly() -> None:
    with pytest.raises(ValueError, match="New-NetIPsecRule"):
        new_lab(preexisting=({"cmdlet": "New-NetIPsecRule", "params": {
            "DisplayName": "x", "InboundSecurity": "Require", "OutboundSecurity": "None"}},))


def test_call_log_orders_nested_proposals_first_and_links_them() -> None:
    lab = new_lab()
    proposal = lab.call("New-NetIPsecQuickModeCryptoProposal", Encapsulation="ESP", ESPHash="SHA256")
    lab.call("New-NetIPsecQuickModeCryptoSet", Name="qm", DisplayName="QM", Proposal=proposal)
    lab.fails("New-NetIPsecRule", DisplayName="bad", QuickModeCryptoSet="missing")
    calls = lab.host.calls
    assert [c["cmdlet"] for c in calls] == [
        "New-NetIPsecQuickModeCryptoProposal", "New-NetIPsecQuickModeCryptoSet", "New-NetIPsecRule"]
    assert calls[0]["params"] == {"Encapsulation": "ESP", "ESPHash": "SHA256"}
    assert calls[1]["params"]["Proposal"] == [{"cmdlet": "New-NetIPsecQuickModeCryptoProposal",
                                               "params": {"Encapsulation": "ESP", "ESPHash": "SHA256"}}]
    assert calls[2]["params"] == {"DisplayName": "bad", "QuickModeCryptoSet": "missing"}
    assert calls[2]["error"].startswith("The system cannot find the file specified.")


def test_snapshot_shape_is_json() -> None:
    lab = new_lab(preexisting=PRE, gpo_stores=("lab.local\\Iso",), audit={"ipsec_main_mode": "success"})
    lab.call("New-NetIPsecRule", IPsecRuleName="mine", DisplayName="Mine", Group="ipsec-remote")
    lab.host.add_event(4650, "MM SA established")
    lab.host.main_mode_sas.append({"LocalEndpoint": "10.10.1.20", "RemoteEndpoint": "10.10.1.30"})
    lab.call("Register-ScheduledTask", TaskName="t",
             Trigger=lab.call("New-ScheduledTaskTrigger", Once=True, At=lab.call("Get-Date")[0]),
             Action=lab.call("New-ScheduledTaskAction", Execute="powershell.exe", Argument="-File C:\\x.ps1"))
    snap = json.loads(json.dumps(lab.host.snapshot()))
    persistent = snap["stores"]["PersistentStore"]
    assert set(persistent) == {"rules", "main_mode_rules", "main_mode_crypto_sets", "quick_mode_crypto_sets",
                               "phase1_auth_sets", "phase2_auth_sets"}
    assert [r["Name"] for r in persistent["rules"]] == ["legacy", "mine"]
    assert persistent["rules"][0]["filters"]["RemoteAddress"] == ["10.10.0.0/255.255.0.0"]
    assert persistent["quick_mode_crypto_sets"][0]["proposals"][0]["params"]["Encryption"] == "DES3"
    assert set(snap["stores"]) == {"PersistentStore", "lab.local\\Iso"}
    assert [r["Name"] for r in snap["active_store"]["rules"]] == ["legacy", "mine"]
    assert snap["calls"][0] == {"cmdlet": "New-NetIPsecRule", "params": {
        "IPsecRuleName": "mine", "DisplayName": "Mine", "Group": "ipsec-remote"}}
    assert snap["events"][0]["id"] == 4650 and snap["events"][0]["time"].startswith("2026-11-27T06:00")
    assert snap["main_mode_sas"] == [{"LocalEndpoint": "10.10.1.20", "RemoteEndpoint": "10.10.1.30"}]
    assert snap["scheduled_tasks"][0]["name"] == "t" and snap["scheduled_tasks"][0]["path"] == "\\"
    assert {s["name"] for s in snap["services"]} == {"IKEEXT", "BFE", "MpsSvc", "PolicyAgent", "WinRM"}
    assert snap["settings"]["ActiveStore"]["MaxSAIdleTimeSeconds"] == 300
    assert snap["address"] == "10.10.1.20" and snap["quick_mode_sas"] == []
