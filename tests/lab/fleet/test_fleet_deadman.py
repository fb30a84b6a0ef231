"""The dead-man's switch faults and [assumptions] of the faults file, and what lab inspect shows of tasks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipsec_remote.lab.fleet import faults as faults_module
from ipsec_remote.lab.fleet import load_fleet_spec
from ipsec_remote.lab.fleet.faults import parse_faults
from ipsec_remote.lab.fleet.spec import LabConfigError, tomllib

from .conftest import INVENTORY, LabFactory


def spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    return load_fleet_spec(inv)


def test_the_documented_example_is_valid_and_sets_every_new_key(tmp_path: Path) -> None:
    doc = faults_module.__doc__ or ""
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example is not None
    faults = parse_faults(tomllib.loads(example.group(1)), "faults.toml", spec(tmp_path))
    sql01 = faults.for_host("sql01")
    assert (sql01.execution_policy_gpo, sql01.tamper_revert_files, sql01.utc_offset_min) == ("AllSigned", True, -480)
    assert (sql01.task_start_s, sql01.clock_step_after_task_s, sql01.on_battery) == (4.0, 900.0, True)
    assert faults.assumptions.trigger_utc_datetime == "wall_clock"
    assert faults.assumptions.unregister_running_task == "stops"
    assert [c["cmdlet"] for c in sql01.preexisting] == ["New-NetIPsecRule", "New-NetIPsecQuickModeCryptoSet"]


@pytest.mark.parametrize(("text", "where", "problem"), [
    ('[hosts.sql01]\nexecution_policy_gpo = "Signed"', "hosts.sql01.execution_policy_gpo", "is not one of"),
    ("[hosts.sql01]\nutc_offset_min = 900", "hosts.sql01.utc_offset_min", "from -720 to 840"),
    ("[hosts.sql01]\ntamper_revert_files = 1", "hosts.sql01.tamper_revert_files", "true or false"),
    ('[assumptions]\ntrigger_utc_datetime = "maybe"', "assumptions.trigger_utc_datetime", "is not one of"),
    ("[assumptions]\nno_such_switch = true", "assumptions.no_such_switch", "unknown assumption"),
    ("[assumptions]\nprogramdata_users_can_create = 0", "assumptions.programdata_users_can_create",
     "true or false"),
])
def test_bad_values_are_one_line_errors(tmp_path: Path, text: str, where: str, problem: str) -> None:
    with pytest.raises(LabConfigError) as info:
        parse_faults(tomllib.loads(text), "faults.toml", spec(tmp_path))
    assert where in str(info.value) and problem in str(info.value)


def test_policy_time_zone_tasks_and_files_over_winrm(make_lab: LabFactory) -> None:
    lab = make_lab("""
        [hosts.sql01]
        execution_policy_gpo = "AllSigned"
        utc_offset_min = 330
        tamper_revert_files = true
        [assumptions]
        programdata_users_can_create = true
    """)
    policies = lab.ok("sql01", "Get-ExecutionPolicy -List | ForEach-Object { $_.Scope + '=' + $_.ExecutionPolicy }")
    assert policies[0] == "MachinePolicy=AllSigned" and policies[-1] == "LocalMachine=RemoteSigned"
    assert lab.ok("sql01", "(Get-Date).ToString('o')")[0].endswith("+05:30")
    lab.ok("sql01", """
        $a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-NoProfile -Command 1'
        $t = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddHours(1))
        $p = New-ScheduledTaskPrincipal -UserId SYSTEM -LogonType ServiceAccount -RunLevel Highest
        $s = New-ScheduledTaskSettingsSet -StartWhenAvailable -ExecutionTimeLimit (New-TimeSpan -Minutes 5)
        Register-ScheduledTask -TaskName t -TaskPath '\\x\\' -Action $a -Trigger $t -Principal $p `
            -Settings $s | Out-Null
    """)
    host = lab.host("sql01")
    (task,) = host["scheduled_tasks"]
    assert (task["principal"], task["logon_type"], task["execute"]) == ("SYSTEM", "ServiceAccount", "powershell.exe")
    assert task["arguments"] == "-NoProfile -Command 1" and task["last_run_time"] is None
    assert task["last_result"] is None and task["settings"]["StartWhenAvailable"] is True
    assert task["settings"]["ExecutionTimeLimit"] == "PT5M" and task["at"].endswith("+05:30")
    assert "C:\\ProgramData\\ipsec-remote\\revert.ps1" in host["files"]  # planted by the local user
