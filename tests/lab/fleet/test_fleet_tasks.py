"""Scheduled tasks fire on real wall-clock time and run their script file as SYSTEM (the dead-man's switch)."""

from __future__ import annotations

import time

import pytest
import requests

from .conftest import NEW_RULE, Lab, LabFactory, prop

ARM = """
param([string]$Script, [int]$Seconds)
$dir = 'C:\\ProgramData\\lab-test'
if (-not (Test-Path -Path $dir)) { New-Item -Path $dir -ItemType Directory | Out-Null }
Set-Content -Path ($dir + '\\revert.ps1') -Value $Script
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ('-NoProfile -File "' + $dir + '\\revert.ps1"')
$trigger = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddSeconds($Seconds))
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM'
Register-ScheduledTask -TaskName 'revert' -TaskPath '\\lab-test\\' -Action $action -Trigger $trigger `
    -Principal $principal -Force | Out-Null
"""
# What the task runs: undo the Require rule, leave a marker file.
REVERT = """
$ErrorActionPreference = 'Stop'
Set-NetIPsecRule -IPsecRuleName 'require-controller' -InboundSecurity Request -OutboundSecurity Request
Set-Content -Path 'C:\\ProgramData\\lab-test\\revert.done' -Value 'done'
"""
STATE = """
$rule = Get-NetIPsecRule -IPsecRuleName 'require-controller'
$done = Test-Path -Path 'C:\\ProgramData\\lab-test\\revert.done'
[pscustomobject]@{ Inbound = $rule.PSBase.CimInstanceProperties['InboundSecurity'].Value; Done = $done }
"""


def wait_for(condition: object, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_task_due_in_two_seconds_runs_its_file_and_undoes_a_lockout(lab: Lab) -> None:
    lab.ok("sql01", ARM, Script=REVERT, Seconds=2)
    (task,) = lab.ok("sql01", "Get-ScheduledTask -TaskName 'revert' -TaskPath '\\lab-test\\'")
    assert str(prop(task, "State")) == "Ready"
    armed_at = time.monotonic()
    # The change the switch guards: it locks the controller out until the task reverts it.
    with pytest.raises(requests.exceptions.ConnectionError):  # the session dies with the change
        lab.ok("sql01", NEW_RULE, Name="require-controller", Remote=["10.10.1.100"], In="Require", Out="Request")
    assert lab.host("sql01")["reachable_from_controller"] is False
    wait_for(lambda: lab.host("sql01")["reachable_from_controller"])
    assert time.monotonic() - armed_at < 6  # fired at its deadline, not on the next request
    (state,) = lab.ok("sql01", STATE)
    assert prop(state, "Inbound") == 1 and prop(state, "Done") is True  # MSFT_NetConSecRule: 1 = Request
    (task_json,) = lab.host("sql01")["scheduled_tasks"]
    assert task_json["last_result"] == 0 and task_json["last_run"] is not None


def test_task_not_yet_due_does_not_run(make_lab: LabFactory) -> None:
    lab = make_lab()
    lab.ok("app01", ARM, Script="Set-Content -Path 'C:\\ProgramData\\lab-test\\ran' -Value 1", Seconds=600)
    time.sleep(0.6)  # three timer ticks
    assert lab.ok("app01", "Test-Path -Path 'C:\\ProgramData\\lab-test\\ran'") == [False]
    assert lab.host("app01")["scheduled_tasks"][0]["last_run"] is None
