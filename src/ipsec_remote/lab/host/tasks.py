"""Scheduled tasks: the cmdlets that build and register them, and the timer hooks the fleet calls.

The product's dead-man's switch registers a one-shot task that runs a revert script from
``C:\\ProgramData\\…`` as SYSTEM (DESIGN §1 step 5). The fleet calls ``LabHost.due_tasks(now)`` on a timer
and ``LabHost.run_task(task)`` for each, which reads the ``-File`` script from the lab file system and runs
it through the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PSObject
from . import errors
from .builtin import COMMON_CHANGE, SWITCH, builtin_command, ps_error
from .model import as_list

if TYPE_CHECKING:
    from .state import LabHost

TASK_NS = "Root/Microsoft/Windows/TaskScheduler"


@dataclass
class ScheduledTask:
    name: str
    path: str
    at: datetime | None  # the -Once trigger's time (host clock)
    execute: str
    argument: str
    user_id: str
    description: str | None = None
    state: str = "Ready"
    last_run: datetime | None = None
    last_result: int | None = None

    @property
    def key(self) -> str:
        return (self.path + self.name).lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "at": self.at.isoformat() if self.at else None,
            "execute": self.execute, "argument": self.argument, "user": self.user_id, "state": self.state,
            "last_run": self.last_run.isoformat() if self.last_run else None, "last_result": self.last_result,
        }


def task_path(value: Any) -> str:
    text = str(value or "\\")
    text = text if text.startswith("\\") else "\\" + text
    return text if text.endswith("\\") else text + "\\"


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    assert isinstance(value, datetime)
    # ASSUMPTION: lab hosts run in UTC, so a naive DateTime is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _cim(cls: str, props: dict[str, Any]) -> PSObject:
    return PSObject.cim(f"{TASK_NS}/{cls}", props)


def new_trigger(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    if not args.get("Once"):
        raise errors.parameter_set_error("New-ScheduledTaskTrigger")  # the lab implements -Once only
    at = _aware(args.get("At"))
    return [_cim("MSFT_TaskTimeTrigger", {"Enabled": True, "StartBoundary": at.isoformat() if at else None,
                                           "At": at})]


def new_action(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    return [_cim("MSFT_TaskExecAction", {"Execute": args["Execute"], "Arguments": args.get("Argument"),
                                          "WorkingDirectory": args.get("WorkingDirectory")})]


def new_principal(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    return [_cim("MSFT_TaskPrincipal2", {"UserId": args["UserId"], "LogonType": args.get("LogonType"),
                                          "RunLevel": args.get("RunLevel") or "Limited"})]


def new_settings(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    return [_cim("MSFT_TaskSettings3", dict(args.items()))]


def _task_object(task: ScheduledTask) -> PSObject:
    return _cim("MSFT_ScheduledTask", {
        "TaskName": task.name, "TaskPath": task.path, "State": task.state, "Description": task.description,
        "Actions": [_cim("MSFT_TaskExecAction", {"Execute": task.execute, "Arguments": task.argument})],
        "Triggers": [_cim("MSFT_TaskTimeTrigger", {"StartBoundary": task.at.isoformat() if task.at else None})],
        "Principal": _cim("MSFT_TaskPrincipal2", {"UserId": task.user_id}),
    })


def register_task(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    cmd = "Register-ScheduledTask"
    triggers = [t for t in as_list(args.get("Trigger")) if isinstance(t, PSObject)]
    actions = [a for a in as_list(args.get("Action")) if isinstance(a, PSObject)]
    if not actions:
        raise errors.missing_mandatory(cmd, ["Action"])
    principal = args.get("Principal")
    user = str(principal.get("UserId")) if isinstance(principal, PSObject) else str(args.get("User") or "SYSTEM")
    task = ScheduledTask(
        name=str(args["TaskName"]), path=task_path(args.get("TaskPath")),
        at=_aware(triggers[0].get("At")) if triggers else None,
        execute=str(actions[0].get("Execute")), argument=str(actions[0].get("Arguments") or ""),
        user_id=user, description=args.get("Description"),
    )
    if task.key in host.tasks and not args.get("Force"):
        # Task Scheduler answers HRESULT 0x800700b7 (ERROR_ALREADY_EXISTS) without -Force.
        raise ps_error("Cannot create a file when that file already exists.", f"HRESULT 0x800700b7,{cmd}",
                       "ResourceExists", errors.CIM_EXCEPTION, target=task.name, command=cmd)
    host.tasks[task.key] = task
    return [_task_object(task)]


def _select(
    host: LabHost, ctx: InvocationContext, cmd: str, args: CaseInsensitiveDict, pipe: list[Any]
) -> list[ScheduledTask]:
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


def get_task(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
    return [_task_object(t) for t in _select(host, ctx, "Get-ScheduledTask", args, [])]


def unregister_task(host: LabHost, ctx: InvocationContext,
    args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
    for task in _select(host, ctx, "Unregister-ScheduledTask", args, pipe):
        host.tasks.pop(task.key, None)
    return []


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
        ParamSpec("Hidden", SWITCH)], new_settings))
    table.add(builtin_command(host, "Register-ScheduledTask", [
        ParamSpec("TaskName", "String", mandatory=True, position=0), ParamSpec("TaskPath", "String", position=1),
        ParamSpec("Action", "CimInstance[]", array=True), ParamSpec("Trigger", "CimInstance[]", array=True),
        ParamSpec("Principal", "CimInstance"), ParamSpec("Settings", "CimInstance"),
        ParamSpec("Description", "String"), ParamSpec("User", "String"), ParamSpec("Force", SWITCH)],
        register_task))
    table.add(builtin_command(host, "Get-ScheduledTask", [
        ParamSpec("TaskName", "String[]", array=True, position=0), ParamSpec("TaskPath", "String[]", array=True)],
        get_task))
    table.add(builtin_command(host, "Unregister-ScheduledTask", [
        ParamSpec("TaskName", "String[]", array=True, position=0), ParamSpec("TaskPath", "String[]", array=True),
        ParamSpec("InputObject", "CimInstance[]", array=True), ParamSpec("PassThru", SWITCH), *COMMON_CHANGE],
        unregister_task))
