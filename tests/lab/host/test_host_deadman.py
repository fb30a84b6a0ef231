"""The dead-man's switch on one lab host: the product's arm/revert/check scripts through the engine, against
the host model's execution policy, NTFS ACLs, local user, time zone and task scheduler — and the old design
(-File script in an inherited-ACL folder) shown to fail where Windows would make it fail."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ipsec_remote.lab.host import HostAssumptions, HostConfig, LabHost
from ipsec_remote.lab.host.security import ADMIN, local_user
from ipsec_remote.lab.host.tamper import FOLDER, PWNED
from ipsec_remote.lab.host.tasks import FILENAME_TOO_LONG, SCHED_S_TASK_RUNNING
from ipsec_remote.lab.runtime import PipelineCommand
from ipsec_remote.remote.deadman import REVERT_TASK, data_file, inline_command, marker_of, revert_line
from ipsec_remote.remote.transport import script_text

START = datetime(2026, 11, 27, 6, 0, 0, tzinfo=timezone.utc)
RULE = "ipsec-remote-pair-app01-sql01"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def host_with(clock: Clock, **config: Any) -> LabHost:
    assumptions = config.pop("assumptions", HostAssumptions())
    host = LabHost(HostConfig("sql01", "10.10.1.20", assumptions=assumptions, **config), clock=clock)
    result = host.run_script(f"New-NetIPsecRule -IPsecRuleName {RULE} -DisplayName x -InboundSecurity Require "
                             "-OutboundSecurity Request -PolicyStore PersistentStore | Out-Null")
    assert result.failure is None, result.failure
    return host


def arm(host: LabHost, delay_s: int = 60, lines: list[str] | None = None) -> Any:
    text, digest = data_file([revert_line(RULE, "Request", "Request", "PersistentStore")] if lines is None
                             else lines)
    return host.run_script(script_text("arm_revert"), {
        "TaskName": REVERT_TASK, "Data": text, "Digest": digest,
        "EncodedCommand": inline_command(REVERT_TASK, digest), "DelaySeconds": delay_s})


def old_design(folder: str) -> str:
    """The switch as it was: a revert script written into a folder, run by the task with -File."""
    return (
        f"Set-Content -Path '{folder}\\revert.ps1' -Value ('Set-NetIPsecRule -IPsecRuleName {RULE} "
        "-InboundSecurity Request -OutboundSecurity Request')\n"
        "$a = New-ScheduledTaskAction -Execute 'powershell.exe' `\n"
        f"    -Argument '-NoProfile -ExecutionPolicy Bypass -File \"{folder}\\revert.ps1\"'\n"
        "$t = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddSeconds(5))\n"
        "$p = New-ScheduledTaskPrincipal -UserId SYSTEM -LogonType ServiceAccount\n"
        "Register-ScheduledTask -TaskName old -Action $a -Trigger $t -Principal $p | Out-Null\n")


def inbound(host: LabHost) -> str:
    return str(host.stores.persistent.objects["rules"][RULE].props["InboundSecurity"])


def check(host: LabHost) -> dict[str, Any]:
    result = host.run_script(script_text("check_revert"), {})
    assert result.failure is None, result.failure
    return dict(result.output[0].properties.items())


def test_inline_revert_runs_as_system_under_a_gpo_allsigned_policy() -> None:
    clock = Clock()
    host = host_with(clock, execution_policy_gpo="AllSigned")
    armed = arm(host, 60)
    assert armed.failure is None, armed.failure
    (task,) = host.tasks.values()
    assert (task.user_id, task.logon_type, task.run_level) == ("SYSTEM", "ServiceAccount", "Highest")
    assert task.settings["StartWhenAvailable"] and not task.settings["DisallowStartIfOnBatteries"]
    assert not task.settings["StopIfGoingOnBatteries"] and task.settings["ExecutionTimeLimit"] == "PT10M"
    assert "-EncodedCommand " in task.argument and "-File" not in task.argument
    clock.advance(59)
    host.tick_tasks()
    assert inbound(host) == "Require" and host.tasks
    clock.advance(1)
    host.tick_tasks()
    assert inbound(host) == "Request"
    assert host.tasks == {}  # it removed itself
    seen = check(host)
    marker = marker_of(seen["Marker"], seen["MarkerSddl"], seen["FolderSddl"])
    assert marker is not None and marker.trusted and marker.status == "ok" and marker.ran_as == "S-1-5-18"


def test_a_script_file_task_is_blocked_by_a_gpo_execution_policy() -> None:
    """The old design's action (-ExecutionPolicy Bypass -File): MachinePolicy wins over -ExecutionPolicy."""
    for gpo, expected_result, expected_rule in ((None, 0, "Request"), ("AllSigned", 1, "Require")):
        clock = Clock()
        host = host_with(clock, execution_policy_gpo=gpo)
        result = host.run_script("New-Item -Path 'C:\\ProgramData\\old' -ItemType Directory | Out-Null\n"
                                 + old_design("C:\\ProgramData\\old"))
        assert result.failure is None, result.failure
        clock.advance(5)
        host.tick_tasks()
        (task,) = host.tasks.values()
        assert (task.last_result, inbound(host)) == (expected_result, expected_rule), gpo
        assert host.run_script("Get-ExecutionPolicy").output == [gpo or "RemoteSigned"]


def test_a_local_user_hijacks_the_old_design_and_cannot_touch_the_new_one() -> None:
    clock = Clock()
    host = host_with(clock, tamper_revert_files=True)
    planted = host.files.children(FOLDER)
    assert f"{FOLDER}\\revert.ps1" in planted and f"{FOLDER}\\ipsec-remote-revert.done" in planted
    assert host.files.security_of(FOLDER).owner == local_user("sql01").sid
    # The old design: the admin overwrites revert.ps1 in the folder the user owns and runs it with -File.
    old = host.run_script(old_design(FOLDER) + f"Remove-Item -Path '{FOLDER}\\revert.done'\n")
    assert old.failure is None, old.failure
    clock.advance(5)
    host.tick_tasks()  # the user acts first on this tick: the script and the "revert ran" marker are back
    assert PWNED in host.files.snapshot() and inbound(host) == "Require"
    assert f"{FOLDER}\\revert.done" in host.files.snapshot()

    # The new design on a fresh host: the arm takes the folder over, the user is locked out for good.
    clock = Clock()
    host = host_with(clock, tamper_revert_files=True)
    armed = arm(host, 30)
    assert armed.failure is None, armed.failure
    assert armed.output[0].get("TookOver") is True
    assert host.files.children(FOLDER) == [f"{FOLDER}\\{REVERT_TASK}.txt"]
    assert host.files.sddl(FOLDER) == "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
    for _ in range(3):
        clock.advance(15)
        host.tick_tasks()
    assert PWNED not in host.files.snapshot() and inbound(host) == "Request"
    assert host.files.children(FOLDER) == [f"{FOLDER}\\{REVERT_TASK}.done"]
    seen = check(host)
    assert marker_of(seen["Marker"], seen["MarkerSddl"], seen["FolderSddl"]).trusted  # type: ignore[union-attr]


def test_the_task_uses_its_data_only_if_the_digest_matches() -> None:
    clock = Clock()
    host = host_with(clock)
    assert arm(host, 10).failure is None
    with host.running_as(ADMIN):  # an administrator (not the user) edits the data after arming
        host.files.write(f"{FOLDER}\\{REVERT_TASK}.txt", revert_line(RULE, "None", "None", "PersistentStore"),
                         ADMIN, "Ascii")
    clock.advance(10)
    host.tick_tasks()
    seen = check(host)
    marker = marker_of(seen["Marker"], seen["MarkerSddl"], seen["FolderSddl"])
    assert marker is not None and marker.status == "digest-mismatch" and inbound(host) == "Require"


def test_host_time_zone_drives_get_date_and_triggers() -> None:
    clock = Clock()
    host = host_with(clock, utc_offset_min=-480)
    now = host.run_script("(Get-Date).ToString('o'); [string](Get-Date).Kind").output
    assert now[0].endswith("-08:00") and now[0].startswith("2026-11-26T22:00:00") and now[1] == "Local"
    assert arm(host, 60).failure is None
    (task,) = host.tasks.values()
    assert task.at == START + timedelta(seconds=60)
    # A trigger given a UTC DateTime: how the cmdlet writes it is undocumented (HostAssumptions).
    for choice, due_at_60s in (("converted", True), ("wall_clock", False)):
        other = host_with(Clock(), utc_offset_min=-480,
                          assumptions=replace(HostAssumptions(), trigger_utc_datetime=choice))
        other.run_script("$t = New-ScheduledTaskTrigger -Once -At ([datetime]::UtcNow.AddSeconds(60)); "
                         "$a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-Command 1'; "
                         "Register-ScheduledTask -TaskName u -Action $a -Trigger $t | Out-Null")
        assert bool(other.due_tasks(START + timedelta(seconds=60))) is due_at_60s, choice


def test_a_started_task_is_running_until_powershell_has_started() -> None:
    clock = Clock()
    host = host_with(clock, task_start_s=4)
    assert arm(host, 5).failure is None
    clock.advance(5)
    host.tick_tasks()
    seen = check(host)
    assert (seen["TaskPresent"], seen["State"], seen["LastTaskResult"]) == (True, "Running", SCHED_S_TASK_RUNNING)
    assert inbound(host) == "Require"
    clock.advance(4)
    host.tick_tasks()
    assert inbound(host) == "Request" and not check(host)["TaskPresent"]


@pytest.mark.parametrize("choice", ["keeps_running", "stops"])
def test_disarming_a_running_revert_reports_it(choice: str) -> None:
    clock = Clock()
    host = host_with(clock, task_start_s=4,
                     assumptions=replace(HostAssumptions(), unregister_running_task=choice))
    assert arm(host, 5).failure is None
    clock.advance(5)
    host.tick_tasks()
    disarmed = host.run_script(script_text("disarm_revert"), {})
    assert disarmed.failure is None, disarmed.failure
    assert disarmed.output[0].get("State") == "Running" and disarmed.output[0].get("TaskRemoved") is True
    clock.advance(4)
    host.tick_tasks()
    assert inbound(host) == ("Request" if choice == "keeps_running" else "Require")


def test_battery_settings_and_command_line_length() -> None:
    clock = Clock()
    host = host_with(clock, on_battery=True)
    host.run_script("$t = New-ScheduledTaskTrigger -Once -At ((Get-Date).AddSeconds(1)); "
                    "$a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-Command 1'; "
                    "Register-ScheduledTask -TaskName defaults -Action $a -Trigger $t | Out-Null")
    assert arm(host, 1).failure is None
    clock.advance(1)
    host.tick_tasks()
    assert [t.name for t in host.tasks.values()] == ["defaults"]  # default settings: no start on batteries
    assert inbound(host) == "Request"  # the switch allows batteries
    long_arg = "-Command " + "1;" * 17000
    for choice in ("fails_at_launch", "fails_at_register"):
        other = host_with(Clock(), assumptions=replace(HostAssumptions(), long_task_command=choice))
        result = other.run_script("param($Arg) $t = New-ScheduledTaskTrigger -Once -At (Get-Date); "
                                  "$a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $Arg; "
                                  "Register-ScheduledTask -TaskName long -Action $a -Trigger $t | Out-Null",
                                  {"Arg": long_arg})
        if choice == "fails_at_register":
            assert result.errors or result.failure, choice
            continue
        (task,) = other.tasks.values()
        other.run_task(task)
        assert task.last_result == FILENAME_TOO_LONG


def test_native_tools_honour_ownership_and_privilege() -> None:
    clock = Clock()
    host = host_with(clock, tamper_revert_files=True)
    user = local_user("sql01")
    with host.running_as(user):
        out = host.run_script(f"takeown.exe /F '{FOLDER}' /A; $LASTEXITCODE; whoami.exe /user /fo csv /nh").output
    assert out[-2:] == [1, f'"{user.name.lower()}","{user.sid}"']
    out = host.run_script(f"icacls.exe '{FOLDER}' /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' /Q; "
                          "$LASTEXITCODE").output
    assert out[-1] == 0  # Administrators have full control through ProgramData's inherited ACE
    with host.running_as(user):  # but the user still owns the folder: an owner may always rewrite the DACL
        assert host.files.can_change_dacl(FOLDER, user)
    host.run_script(f"takeown.exe /F '{FOLDER}' /A /R /D Y | Out-Null")
    with host.running_as(user):
        assert not host.files.can_change_dacl(FOLDER, user)
        out = host.run_script(f"icacls.exe '{FOLDER}' /grant '*{user.sid}:(OI)(CI)F'; $LASTEXITCODE").output
    assert out[-1] != 0
    assert host.run_script("whoami.exe /user /fo csv /nh").output == [f'"lab\\admin","{ADMIN.sid}"']


def test_clock_step_lands_on_the_next_pipeline_after_a_task_is_registered() -> None:
    clock = Clock()
    host = host_with(clock, clock_step_after_task_s=900)
    assert arm(host, 60).failure is None
    assert host.due_tasks() == []
    host.run_pipeline([PipelineCommand("1", True)], [])  # the next WinRM pipeline: the correction lands
    assert [t.name for t in host.due_tasks()] == [REVERT_TASK]
    assert host.run_script("(Get-Date).ToString('o')").output[0].startswith("2026-11-27T06:15:")


SWITCHES = [("trigger_utc_datetime", v) for v in ("converted", "wall_clock")] + \
    [("system_task_logon_type", v) for v in ("implied", "required")] + \
    [("unregister_running_task", v) for v in ("keeps_running", "stops")] + \
    [("long_task_command", v) for v in ("fails_at_launch", "fails_at_register")] + \
    [("programdata_users_can_create", v) for v in (True, False)]


@pytest.mark.parametrize(("switch", "value"), SWITCHES)
def test_the_switch_works_under_every_assumption(switch: str, value: object) -> None:
    """Fires on time and reverts — and a confirm removes everything — whichever way Windows behaves where
    it is undocumented, on a hostile host (UTC-8, GPO AllSigned, a tampering user, slow task start)."""
    for confirm in (False, True):
        clock = Clock()
        host = host_with(clock, utc_offset_min=-480, execution_policy_gpo="AllSigned", tamper_revert_files=True,
                         task_start_s=2, assumptions=replace(HostAssumptions(), **{switch: value}))
        armed = arm(host, 30)
        assert armed.failure is None, armed.failure
        if confirm:
            clock.advance(10)
            disarmed = host.run_script(script_text("disarm_revert"), {})
            assert disarmed.failure is None and disarmed.output[0].get("TaskRemoved") is True
            assert host.tasks == {} and host.files.children(FOLDER) == []
            continue
        clock.advance(29)
        host.tick_tasks()
        assert inbound(host) == "Require"  # not before its deadline
        clock.advance(1)
        host.tick_tasks()
        clock.advance(2)
        host.tick_tasks()
        assert inbound(host) == "Request" and host.tasks == {}
        seen = check(host)
        marker = marker_of(seen["Marker"], seen["MarkerSddl"], seen["FolderSddl"])
        assert marker is not None and marker.trusted and marker.ran_as == "S-1-5-18"
        assert PWNED not in host.files.snapshot()


def test_a_hostile_gpo_store_name_travels_as_data_to_the_task() -> None:
    store = "lab.local\\O'Brien | $(Remove-NetIPsecRule -All) `x` \r\nline2 \u2018q\u2019 é 中文 🔐 %41"
    clock = Clock()
    host = LabHost(HostConfig("sql01", "10.10.1.20", gpo_stores=(store,)), clock=clock)
    made = host.run_script("param($Store) New-NetIPsecRule -IPsecRuleName r -DisplayName r -InboundSecurity Require "
                           "-OutboundSecurity Request -PolicyStore $Store | Out-Null", {"Store": store})
    assert made.failure is None, made.failure
    assert arm(host, 5, [revert_line("r", "Request", "Request", store)]).failure is None
    clock.advance(5)
    host.tick_tasks()
    (gpo,) = host.stores.gpo_list()
    assert gpo.name == store and gpo.objects["rules"]["r"].props["InboundSecurity"] == "Request"
