"""Services, clock, files, the Security log, scheduled tasks, SAs and Test-NetConnection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from host_harness import FIXED_NOW, new_lab

from ipsec_remote.lab.host import LabHost, ProbeResult
from ipsec_remote.lab.host.config import HostAssumptions
from ipsec_remote.lab.values import PSHashtable


def test_services_defaults_and_faults(make_lab) -> None:
    lab = make_lab()
    got = {s.get("Name"): (s.get("Status"), s.get("StartType"))
           for s in lab.call("Get-Service", Name=["IKEEXT", "BFE", "MpsSvc", "PolicyAgent", "WinRM"])}
    assert got == {"IKEEXT": ("Running", "Manual"), "BFE": ("Running", "Automatic"),
                   "MpsSvc": ("Running", "Automatic"), "PolicyAgent": ("Running", "Manual"),
                   "WinRM": ("Running", "Automatic")}
    err = lab.fails("Get-Service", Name="Nope")
    assert err.message == "Cannot find any service with service name 'Nope'."
    broken = make_lab(ikeext="disabled")
    svc = broken.call("Get-Service", Name="ikeext")[0]
    assert (svc.get("Status"), svc.get("StartType")) == ("Stopped", "Disabled")
    assert "cannot be started" in broken.fails("Start-Service", Name="IKEEXT").message
    broken.call("Stop-Service", Name="BFE")
    assert not broken.host.active_policy().services["BFE"].running


def test_get_date_is_utc_plus_skew(make_lab) -> None:
    lab = make_lab(clock_skew_s=-600)
    now = lab.call("Get-Date")[0]
    assert now == FIXED_NOW - timedelta(minutes=10) and now.tzinfo is not None


def test_file_cmdlets(lab) -> None:
    base = "C:\\ProgramData\\ipsec-remote"
    assert lab.call("Test-Path", Path=base) == [False]
    lab.fails("Set-Content", Path=f"{base}\\revert.ps1", Value="x")  # parent missing
    lab.call("New-Item", Path=base, ItemType="Directory")
    assert lab.fails("New-Item", Path=base, ItemType="Directory").category == "ResourceExists"
    lab.call("New-Item", Path=base, ItemType="Directory", Force=True)
    lab.call("Set-Content", Path=f"{base}\\revert.ps1", Value=["line 1", "line 2"])
    assert lab.call("Get-Content", Path="c:/programdata/IPSEC-REMOTE/revert.ps1") == ["line 1", "line 2"]
    assert lab.call("Get-Content", Path=f"{base}\\revert.ps1", Raw=True) == ["line 1\r\nline 2\r\n"]
    assert lab.call("Test-Path", Path=f"{base}\\revert.ps1", PathType="Leaf") == [True]
    assert lab.call("Test-Path", Path=f"{base}\\revert.ps1", PathType="Container") == [False]
    lab.fails("Remove-Item", Path=base)  # has children, no -Recurse
    lab.call("Remove-Item", Path=base, Recurse=True)
    assert lab.call("Test-Path", Path=f"{base}\\revert.ps1") == [False]
    assert lab.fails("Get-Content", Path=f"{base}\\revert.ps1").error_id.startswith("PathNotFound")


def test_get_winevent_filters_and_no_match_error() -> None:
    lab = new_lab(audit={"ipsec_main_mode": "success_and_failure", "ipsec_quick_mode": "success"})
    host: LabHost = lab.host
    host.add_event(4650, "MM SA established", {"LocalAddress": "10.10.1.20"}, time=FIXED_NOW - timedelta(hours=2))
    host.add_event(5451, "QM SA established", time=FIXED_NOW - timedelta(minutes=5))
    host.add_event(4653, "MM negotiation failed", time=FIXED_NOW - timedelta(minutes=1))
    flt = PSHashtable(LogName="Security", Id=[4650, 5451, 4653], StartTime=FIXED_NOW - timedelta(minutes=15))
    out = lab.call("Get-WinEvent", FilterHashtable=flt)
    assert [e.get("Id") for e in out] == [4653, 5451]  # newest first
    assert out[0].get("TimeCreated") == FIXED_NOW - timedelta(minutes=1)
    assert [e.get("Id") for e in lab.call("Get-WinEvent", FilterHashtable=PSHashtable(LogName="Security"),
                                          MaxEvents=1)] == [4653]
    old = lab.call("Get-WinEvent", FilterHashtable=PSHashtable(LogName="Security", Id=4650))[0]
    assert [p.get("Value") for p in old.get("Properties")] == ["10.10.1.20"]
    err = lab.fails("Get-WinEvent", FilterHashtable=PSHashtable(LogName="Security", Id=5453))
    assert err.error_id == "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"


@dataclass
class FakeEngine:
    runs: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def run(self, text: str, parameters: dict[str, Any], *, pipeline_input: Any = None,
            variables: dict[str, Any] | None = None) -> Any:
        self.runs.append((text, parameters, variables or {}))
        return type("ScriptResult", (), {"output": [], "errors": [], "failure": None})()


def test_scheduled_task_due_and_run(lab) -> None:
    host: LabHost = lab.host
    engine = FakeEngine()
    host._engine = engine
    lab.call("New-Item", Path="C:\\ProgramData\\ipsec-remote", ItemType="Directory")
    lab.call("Set-Content", Path="C:\\ProgramData\\ipsec-remote\\revert.ps1", Value="Remove-NetIPsecRule -Name x")
    at = FIXED_NOW + timedelta(minutes=5)
    trigger = lab.call("New-ScheduledTaskTrigger", Once=True, At=at)
    action = lab.call("New-ScheduledTaskAction", Execute="powershell.exe",
                      Argument='-NoProfile -ExecutionPolicy Bypass -File "C:\\ProgramData\\ipsec-remote\\revert.ps1"'
                               " -RunId 7 -Force")
    principal = lab.call("New-ScheduledTaskPrincipal", UserId="SYSTEM", LogonType="ServiceAccount", RunLevel="Highest")
    params = {"TaskName": "ipsec-remote-revert", "TaskPath": "\\ipsec-remote\\", "Trigger": trigger,
              "Action": action, "Principal": principal[0]}
    task = lab.call("Register-ScheduledTask", **params)[0]
    assert (task.get("TaskName"), task.get("State")) == ("ipsec-remote-revert", "Ready")
    err = lab.fails("Register-ScheduledTask", **params)
    assert err.message == "Cannot create a file when that file already exists."
    lab.call("Register-ScheduledTask", Force=True, **params)
    assert len(lab.call("Get-ScheduledTask", TaskName="ipsec-remote-revert")) == 1
    assert host.due_tasks(FIXED_NOW) == []
    due = host.due_tasks(FIXED_NOW + timedelta(minutes=6))
    assert [t.name for t in due] == ["ipsec-remote-revert"]
    host.run_task(due[0])
    assert engine.runs == [("Remove-NetIPsecRule -Name x\r\n", {"RunId": "7", "Force": True}, {})]
    assert due[0].last_result == 0 and host.due_tasks(FIXED_NOW + timedelta(minutes=7)) == []
    lab.call("Unregister-ScheduledTask", TaskName="ipsec-remote-revert", TaskPath="\\ipsec-remote\\", Confirm=False)
    err = lab.fails("Get-ScheduledTask", TaskName="ipsec-remote-revert")
    assert "No MSFT_ScheduledTask objects found with property 'TaskName'" in err.message


def test_skewed_host_clock_decides_when_a_task_is_due(make_lab) -> None:
    lab = make_lab(clock_skew_s=3600)
    at = lab.call("Get-Date")[0] + timedelta(minutes=5)  # scripts compute triggers from the host clock
    lab.call("Register-ScheduledTask", TaskName="t", Trigger=lab.call("New-ScheduledTaskTrigger", Once=True, At=at),
             Action=lab.call("New-ScheduledTaskAction", Execute="powershell.exe", Argument="-File C:\\x.ps1"))
    assert lab.host.due_tasks(FIXED_NOW + timedelta(minutes=4)) == []
    assert len(lab.host.due_tasks(FIXED_NOW + timedelta(minutes=5))) == 1
    task = lab.host.due_tasks(FIXED_NOW + timedelta(minutes=5))[0]
    assert lab.host.run_task(task) is None and task.last_result == 0x80070002  # script file missing


def _sas(host: LabHost) -> None:
    host.main_mode_sas.append({"Name": "196511", "LocalEndpoint": "10.10.1.20", "RemoteEndpoint": "10.10.1.30",
                               "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19, "KeyModule": 1})
    host.quick_mode_sas.append({"Name": "9", "MmSaId": 196511, "LocalEndpoint": "10.10.1.20",
                                "RemoteEndpoint": "10.10.1.30", "FirstCipherAlgorithm": 65003,
                                "FirstIntegrityAlgorithm": 65001, "PfsGroupId": 0, "IpProtocol": 6})


@pytest.mark.parametrize("cascades", [True, False])
def test_sa_tables(make_lab, cascades) -> None:
    lab = make_lab(assumptions=HostAssumptions(type_layer=True, mm_sa_delete_cascades=cascades))
    host: LabHost = lab.host
    _sas(host)
    removed: list[str] = []
    host.sa_listener = lambda which, sa: removed.append(which)
    mm = lab.call("Get-NetIPsecMainModeSA")
    assert mm[0].type_names[0].endswith("MSFT_NetMainModeSA") and mm[0].cim_value("GroupId") == 19
    assert mm[0].get("GroupId") == "DH19"  # the type layer shows the display name
    qm = lab.call("Get-NetIPsecQuickModeSA", AssociatedNetIPsecMainModeSA=mm[0])
    assert qm[0].cim_value("FirstIntegrityAlgorithm") == 65001
    assert lab.call("Get-NetIPsecMainModeSA", AssociatedNetIPsecQuickModeSA=qm[0])[0].get("Name") == "196511"
    lab.fails("Get-NetIPsecMainModeSA", Name="1")
    lab.call("Remove-NetIPsecMainModeSA", Name="196511")
    assert host.main_mode_sas == []
    # Whether the QM SAs go with their MM SA is HostAssumptions.mm_sa_delete_cascades.
    assert (host.quick_mode_sas == [], removed) == (
        (True, ["main_mode", "quick_mode"]) if cascades else (False, ["main_mode"]))


@dataclass
class FakeNetwork:
    ok: bool
    seen: list[tuple[str, int, str]] = field(default_factory=list)

    def probe(self, src_host: LabHost, dest_address: str, port: int, protocol: str) -> ProbeResult:
        self.seen.append((dest_address, port, protocol))
        return ProbeResult(self.ok, ("Request auth srv",) if self.ok else (), "10.10.1.20")


@pytest.mark.parametrize("ok", [True, False])
def test_test_net_connection_uses_the_network(lab, ok) -> None:
    net = FakeNetwork(ok)
    lab.host.network = net
    out = lab.call("Test-NetConnection", ComputerName="10.10.1.30", Port=1433, InformationLevel="Detailed")[0]
    assert out.get("TcpTestSucceeded") is ok and out.get("RemotePort") == 1433
    assert out.get("MatchingIPsecRules") == (["Request auth srv"] if ok else [])
    assert net.seen[0] == ("10.10.1.30", 1433, "TCP")
    assert lab.ctx.warnings == ([] if ok else ["TCP connect to (10.10.1.30 : 1433) failed"])
    assert lab.call("Test-NetConnection", ComputerName="10.10.1.30", Port=1433, InformationLevel="Quiet") == [ok]
    assert lab.host.calls == []  # NetTCPIP, not NetSecurity: not in the call log


def test_default_network_fails_every_connect(lab) -> None:
    out = lab.call("Test-NetConnection", ComputerName="10.10.1.30", CommonTCPPort="WINRM")[0]
    assert out.get("TcpTestSucceeded") is False and out.get("RemotePort") == 5985
    assert lab.ctx.warnings == ["TCP connect to (10.10.1.30 : 5985) failed"]
