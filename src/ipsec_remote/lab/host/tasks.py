"""Scheduled tasks: the ScheduledTasks cmdlets, and how a registered task starts and runs on the host clock.

Sources (learn.microsoft.com): New-ScheduledTaskTrigger/-Action/-Principal/-SettingsSet, Register-/Get-/
Unregister-ScheduledTask, Get-ScheduledTaskInfo ("the last run-time information": LastRunTime,
LastTaskResult, NextRunTime, NumberOfMissedRuns); the Task Scheduler schema's settingsType defaults
(DisallowStartIfOnBatteries and StopIfGoingOnBatteries true, StartWhenAvailable false, MultipleInstancesPolicy
IgnoreNew, ExecutionTimeLimit PT72H); TASK_LOGON_SERVICE_ACCOUNT "Local System, Local Service, or Network
Service"; Task Scheduler error and success constants (SCHED_S_TASK_RUNNING 0x41301, SCHED_S_TASK_HAS_NOT_RUN
0x41303); ITrigger::put_StartBoundary (a time without offset is the computer's local time).

The fleet's timer calls ``LabHost.tick_tasks()``: a due task starts (State Running, LastRunTime now,
LastTaskResult 0x41301); ``task_start_s`` later (the host's powershell.exe start-up) its action runs as the
principal — SYSTEM for S-1-5-18 — through lab/host/powershell_exe.py, and LastTaskResult becomes the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PSObject
from . import errors
from .builtin import COMMON_CHANGE, SWITCH, builtin_command, ps_error
from .model import as_list
from .security import SYSTEM, account_sid

if TYPE_CHECKING:
    from .state import LabHost

TASK_NS = "Root/Microsoft/Windows/TaskScheduler"
SCHED_S_TASK_RUNNING, SCHED_S_TASK_HAS_NOT_RUN = 0x41301, 0x41303
FILENAME_TOO_LONG = 0x800700CE  # HRESULT_FROM_WIN32(ERROR_FILENAME_EXCED_RANGE)
MAX_COMMAND_LINE = 32767 - 1  # CreateProcessW lpCommandLine: 32,767 characters with the terminating null
SETTING_DEFAULTS: dict[str, Any] = {
    "DisallowStartIfOnBatteries": True, "StopIfGoingOnBatteries": True, "StartWhenAvailable": False,
    "MultipleInstances": "IgnoreNew", "ExecutionTimeLimit": "PT72H", "Hidden": False, "AllowHardTerminate": True,
}


@dataclass
class ScheduledTask:
    name: str
    path: str
    at: datetime | None  # the -Once trigger's instant (tz-aware)
    execute: str
    argument: str
    user_id: str
    description: str | None = None
    logon_type: str | None = None
    run_level: str = "Limited"
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTING_DEFAULTS))
    state: str = "Ready"
    last_run: datetime | None = None
    last_result: int | None = None
    missed_runs: int = 0

    @property
    def key(self) -> str:
        return (self.path + self.name).lower()

    @property
    def command_line(self) -> str:
        return f'"{self.execute}" {self.argument}'

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "at": self.at.isoformat() if self.at else None,
            "execute": self.execute, "argument": self.argument, "arguments": self.argument, "user": self.user_id,
            "principal": self.user_id, "logon_type": self.logon_type, "run_level": self.run_level,
            "settings": dict(self.settings), "state": self.state,
            "last_run": self.last_run.isoformat() if self.last_run else None, "last_result": self.last_result,
            "last_run_time": self.last_run.isoformat() if self.last_run else None,
        }


@dataclass
class TaskInstance:
    """A started task whose action takes effect at ``effect_at`` (host clock)."""

    task: ScheduledTask
    effect_at: datetime
    stopped: bool = False


def task_path(value: Any) -> str:
    text = str(value or "\\")
    text = text if text.startswith("\\") else "\\" + text
    return text if text.endswith("\\") else text + "\\"


def _cim(cls: str, props: dict[str, Any]) -> PSObject:
    return PSObject.cim(f"{TASK_NS}/{cls}", props)


def _at(host: LabHost, value: Any) -> datetime | None:
    """The instant a -At DateTime means on this host (see HostAssumptions.trigger_utc_datetime)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    assert isinstance(value, datetime)
    zone = host.now().tzinfo
    if value.tzinfo is None:  # Unspecified: local wall-clock time
        return value.replace(tzinfo=zone)
    if value.utcoffset() == timedelta(0) and value.tzinfo is not zone and \
            host.config.assumptions.trigger_utc_datetime == "wall_clock":
        return value.replace(tzinfo=zone)
    return value


def new_trigger(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    if not args.get("Once"):
        raise errors.parameter_set_error("New-ScheduledTaskTrigger")  # the lab implements -Once only
    at = _at(host, args.get("At"))
    boundary = at.astimezone(host.now().tzinfo).strftime("%Y-%m-%dT%H:%M:%S") if at else None
    return [_cim("MSFT_TaskTimeTrigger", {"Enabled": True, "StartBoundary": boundary, "At": at})]


def new_action(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    return [_cim("MSFT_TaskExecAction", {"Execute": args["Execute"], "Arguments": args.get("Argument"),
                                          "WorkingDirectory": args.get("WorkingDirectory")})]


def new_principal(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                  _in: list[Any]) -> Iterable[Any]:
    return [_cim("MSFT_TaskPrincipal2", {"UserId": args["UserId"], "LogonType": args.get("LogonType"),
                                          "RunLevel": args.get("RunLevel") or "Limited"})]


def _iso_duration(value: Any) -> str:
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
    return f"PT{seconds}S" if seconds % 60 else f"PT{seconds // 60}M"


def new_settings(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    settings = dict(SETTING_DEFAULTS)
    if args.get("AllowStartIfOnBatteries"):
        settings["DisallowStartIfOnBatteries"] = False
    if args.get("DontStopIfGoingOnBatteries"):
        settings["StopIfGoingOnBatteries"] = False
    for name in ("StartWhenAvailable", "Hidden"):
        if args.get(name):
            settings[name] = True
    if args.get("MultipleInstances"):
        settings["MultipleInstances"] = args["MultipleInstances"]
    if args.get("ExecutionTimeLimit") is not None:
        settings["ExecutionTimeLimit"] = _iso_duration(args["ExecutionTimeLimit"])
    return [_cim("MSFT_TaskSettings3", settings)]


def _task_object(task: ScheduledTask) -> PSObject:
    return _cim("MSFT_ScheduledTask", {
        "TaskName": task.name, "TaskPath": task.path, "State": task.state, "Description": task.description,
        "Actions": [_cim("MSFT_TaskExecAction", {"Execute": task.execute, "Arguments": task.argument})],
        "Triggers": [_cim("MSFT_TaskTimeTrigger", {"StartBoundary": task.at.isoformat() if task.at else None})],
        "Principal": _cim("MSFT_TaskPrincipal2", {"UserId": task.user_id, "LogonType": task.logon_type,
                                                  "RunLevel": task.run_level}),
        "Settings": _cim("MSFT_TaskSettings3", dict(task.settings)),
    })


def is_system(user_id: str) -> bool:
    return account_sid(user_id) == SYSTEM


def register_task(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                  _in: list[Any]) -> Iterable[Any]:
    cmd = "Register-ScheduledTask"
    triggers = [t for t in as_list(args.get("Trigger")) if isinstance(t, PSObject)]
    actions = [a for a in as_list(args.get("Action")) if isinstance(a, PSObject)]
    if not actions:
        raise errors.missing_mandatory(cmd, ["Action"])
    principal = args.get("Principal")
    settings = args.get("Settings")
    task = ScheduledTask(
        name=str(args["TaskName"]), path=task_path(args.get("TaskPath")),
        at=_at(host, triggers[0].get("At")) if triggers else None,
        execute=str(actions[0].get("Execute")), argument=str(actions[0].get("Arguments") or ""),
        user_id=str(principal.get("UserId")) if isinstance(principal, PSObject)
        else str(args.get("User") or host.identity.name),
        description=args.get("Description"),
        logon_type=str(principal.get("LogonType")) if isinstance(principal, PSObject) and principal.get("LogonType")
        else None,
        run_level=str(principal.get("RunLevel") or "Limited") if isinstance(principal, PSObject) else "Limited",
        settings=dict(settings.properties.items()) if isinstance(settings, PSObject) else dict(SETTING_DEFAULTS),
    )
    if task.key in host.tasks and not args.get("Force"):
        # Task Scheduler answers HRESULT 0x800700b7 (ERROR_ALREADY_EXISTS) without -Force.
        raise ps_error("Cannot create a file when that file already exists.", f"HRESULT 0x800700b7,{cmd}",
                       "ResourceExists", errors.CIM_EXCEPTION, target=task.name, command=cmd)
    if is_system(task.user_id) and task.logon_type != "ServiceAccount" and \
            host.config.assumptions.system_task_logon_type == "required":
        raise ps_error("The task XML contains a value which is incorrectly formatted or out of range.",
                       f"HRESULT 0x80041318,{cmd}", "InvalidArgument", errors.CIM_EXCEPTION, target=task.name,
                       command=cmd)
    if len(task.command_line) > MAX_COMMAND_LINE and host.config.assumptions.long_task_command == "fails_at_register":
        raise ps_error("The filename or extension is too long.", f"HRESULT 0x800700ce,{cmd}", "InvalidArgument",
                       errors.CIM_EXCEPTION, target=task.name, command=cmd)
    host.tasks[task.key] = task
    host.on_task_registered()
    return [_task_object(task)]


def _select(host: LabHost, ctx: InvocationContext, cmd: str, args: CaseInsensitiveDict,
            pipe: list[Any]) -> list[ScheduledTask]:
    names = [str(n) for n in as_list(args.get("TaskName"))]
    for obj in [*as_list(args.get("InputObject")), *pipe]:
        if isinstance(obj, PSObject):
            names.append(str(obj.get("TaskName")))
    given_paths = as_list(args.get("TaskPath"))
    path = task_path(given_paths[0]).lower() if given_paths else None
    tasks = [t for t in host.tasks.values() if path is None or t.path.lower() == path]
    if not names:
        return tasks
    out = []
    for name in names:
        found = [t for t in tasks if t.name.lower() == name.lower()]
        if not found:
            ctx.write_error(errors.not_found(cmd, "MSFT_ScheduledTask", "TaskName", name))
        out.extend(found)
    return out


def get_task(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
    return [_task_object(t) for t in _select(host, ctx, "Get-ScheduledTask", args, [])]


def get_task_info(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                  pipe: list[Any]) -> Iterable[Any]:
    out = []
    for task in _select(host, ctx, "Get-ScheduledTaskInfo", args, pipe):
        pending = task.last_run is None and task.state == "Ready" and task.at is not None
        out.append(_cim("MSFT_TaskDynamicInfo", {
            "TaskName": task.name, "TaskPath": task.path,
            "LastRunTime": task.last_run,
            "LastTaskResult": task.last_result if task.last_result is not None else SCHED_S_TASK_HAS_NOT_RUN,
            "NextRunTime": task.at.astimezone(host.now().tzinfo) if pending and task.at else None,
            "NumberOfMissedRuns": task.missed_runs,
        }))
    return out


def unregister_task(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                    pipe: list[Any]) -> Iterable[Any]:
    for task in _select(host, ctx, "Unregister-ScheduledTask", args, pipe):
        host.tasks.pop(task.key, None)
        if host.config.assumptions.unregister_running_task == "stops":
            for instance in host.task_instances:
                if instance.task is task:
                    instance.stopped = True
    return []


# --- running ------------------------------------------------------------------------------------------------
def due(host: LabHost, host_now: datetime) -> list[ScheduledTask]:
    running = {id(i.task) for i in host.task_instances}
    return [t for t in host.tasks.values() if t.state == "Ready" and t.last_run is None and t.at is not None
            and t.at <= host_now and id(t) not in running]


def start(host: LabHost, task: ScheduledTask) -> TaskInstance | None:
    """Start a due task (None: a setting keeps it from starting — on batteries)."""
    if host.config.on_battery and task.settings.get("DisallowStartIfOnBatteries", True):
        task.missed_runs += 1
        task.last_run = host.now()  # counted as missed; a one-time trigger does not come back
        task.last_result = SCHED_S_TASK_HAS_NOT_RUN
        return None
    task.state, task.last_run, task.last_result = "Running", host.now(), SCHED_S_TASK_RUNNING
    instance = TaskInstance(task, host.now() + timedelta(seconds=host.config.task_start_s))
    host.task_instances.append(instance)
    return instance


def finish(host: LabHost, instance: TaskInstance) -> Any:
    """The instance's action takes effect: powershell.exe runs as the principal; the exit code is recorded."""
    from .powershell_exe import run_exe  # a cycle: powershell_exe runs scripts through the host

    host.task_instances.remove(instance)
    task = instance.task
    result: Any = None
    if instance.stopped:
        code = 0x41306  # SCHED_S_TASK_TERMINATED
    elif len(task.command_line) > MAX_COMMAND_LINE:
        code = FILENAME_TOO_LONG
    elif task.execute.lower().rsplit("\\", 1)[-1] != "powershell.exe":
        code = 0x80070002  # the lab runs powershell.exe only
    else:
        with host.running_as(host.identity_for(task.user_id)):
            code, result = run_exe(host, task.argument)
    task.state, task.last_result = "Ready", code
    return result


def register(host: LabHost, table: CommandTable) -> None:
    dt = "DateTime"
    table.add(builtin_command(host, "New-ScheduledTaskTrigger", [
        ParamSpec("Once", SWITCH), ParamSpec("At", dt), ParamSpec("RandomDelay", "TimeSpan"),
        ParamSpec("RepetitionInterval", "TimeSpan"), ParamSpec("RepetitionDuration", "TimeSpan")], new_trigger))
    table.add(builtin_command(host, "New-ScheduledTaskAction", [
        ParamSpec("Execute", "String", mandatory=True, position=0), ParamSpec("Argument", "String", position=1),
        ParamSpec("WorkingDirectory", "String", position=2), ParamSpec("Id", "String")], new_action))
    table.add(builtin_command(host, "New-ScheduledTaskPrincipal", [
        ParamSpec("UserId", "String", mandatory=True, position=0),
        ParamSpec("LogonType", "LogonTypeEnum", values=("None", "Password", "S4U", "Interactive", "Group",
                                                         "ServiceAccount", "InteractiveOrPassword")),
        ParamSpec("RunLevel", "RunLevelEnum", values=("Limited", "Highest")), ParamSpec("Id", "String")],
        new_principal))
    table.add(builtin_command(host, "New-ScheduledTaskSettingsSet", [
        ParamSpec("ExecutionTimeLimit", "TimeSpan"), ParamSpec("StartWhenAvailable", SWITCH),
        ParamSpec("AllowStartIfOnBatteries", SWITCH), ParamSpec("DontStopIfGoingOnBatteries", SWITCH),
        ParamSpec("Hidden", SWITCH),
        ParamSpec("MultipleInstances", "MultipleInstancesEnum", values=("Parallel", "Queue", "IgnoreNew",
                                                                         "StopExisting"))], new_settings))
    table.add(builtin_command(host, "Register-ScheduledTask", [
        ParamSpec("TaskName", "String", mandatory=True, position=0), ParamSpec("TaskPath", "String", position=1),
        ParamSpec("Action", "CimInstance[]", array=True), ParamSpec("Trigger", "CimInstance[]", array=True),
        ParamSpec("Principal", "CimInstance"), ParamSpec("Settings", "CimInstance"),
        ParamSpec("Description", "String"), ParamSpec("User", "String"), ParamSpec("Force", SWITCH)],
        register_task))
    table.add(builtin_command(host, "Get-ScheduledTask", [
        ParamSpec("TaskName", "String[]", array=True, position=0), ParamSpec("TaskPath", "String[]", array=True)],
        get_task))
    table.add(builtin_command(host, "Get-ScheduledTaskInfo", [
        ParamSpec("TaskName", "String[]", array=True, position=0), ParamSpec("TaskPath", "String[]", array=True),
        ParamSpec("InputObject", "CimInstance[]", array=True)], get_task_info))
    table.add(builtin_command(host, "Unregister-ScheduledTask", [
        ParamSpec("TaskName", "String[]", array=True, position=0), ParamSpec("TaskPath", "String[]", array=True),
        ParamSpec("InputObject", "CimInstance[]", array=True), ParamSpec("PassThru", SWITCH), *COMMON_CHANGE],
        unregister_task))
