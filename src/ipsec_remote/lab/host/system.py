"""Services, the clock and the Security event log of a lab host, with their cmdlets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PSObject
from .builtin import SWITCH, builtin_command, ps_error
from .config import HostConfig
from .model import as_list
from .reference import reference

if TYPE_CHECKING:
    from .state import LabHost


@dataclass
class Service:
    name: str
    display_name: str
    start_type: str  # Automatic | Manual | Disabled
    status: str  # Running | Stopped


@dataclass
class HostEvent:
    """One Security-log record (ids and meanings: reference ``events``)."""

    id: int
    time: datetime
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    record_id: int = 0


def default_services(config: HostConfig) -> dict[str, Service]:
    """Startup types from the services guidance in the reference (IKEEXT/PolicyAgent Manual, BFE/MpsSvc
    Automatic); WinRM is Automatic on Windows Server. PolicyAgent Running: ASSUMPTION (trigger-start)."""
    ref = reference()["services"]
    out: dict[str, Service] = {}
    for name in ("IKEEXT", "BFE", "MpsSvc", "PolicyAgent"):
        out[name.lower()] = Service(name, str(ref[name]["display_name"]).split(" (")[0],
                                    str(ref[name]["startup_type_doc"]), "Running")
    out["winrm"] = Service("WinRM", "Windows Remote Management (WS-Management)", "Automatic", "Running")
    ikeext = out["ikeext"]
    if config.ikeext == "disabled":
        ikeext.start_type, ikeext.status = "Disabled", "Stopped"
    elif not config.ikeext_running:
        ikeext.status = "Stopped"
    for name in config.disabled_services:
        svc = out.get(name.lower())
        if svc is not None:
            svc.start_type, svc.status = "Disabled", "Stopped"
    for name in config.stopped_services:
        svc = out.get(name.lower())
        if svc is not None:
            svc.status = "Stopped"
    return out


def _service_object(svc: Service) -> PSObject:
    props = {"Name": svc.name, "ServiceName": svc.name, "DisplayName": svc.display_name, "Status": svc.status,
             "StartType": svc.start_type, "CanStop": svc.status == "Running"}
    return PSObject(properties=CaseInsensitiveDict(props), adapted=True,
                    type_names=["System.ServiceProcess.ServiceController", "System.ComponentModel.Component",
                                "System.Object"])


def _find_services(host: LabHost, ctx: InvocationContext, cmd: str, args: CaseInsensitiveDict) -> list[Service]:
    names = [str(n) for n in as_list(args.get("Name"))]
    inputs = [i for i in as_list(args.get("InputObject")) if isinstance(i, PSObject)]
    names += [str(i.get("Name")) for i in inputs]
    if not names:
        return list(host.services.values())
    out = []
    for name in names:
        svc = host.services.get(name.lower())
        if svc is None:
            ctx.write_error(ps_error(
                f"Cannot find any service with service name '{name}'.",
                f"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{cmd.replace('-', '')}Command",
                "ObjectNotFound", "Microsoft.PowerShell.Commands.ServiceCommandException", target=name,
                command=cmd).record)
            continue
        out.append(svc)
    return out


def get_service(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    return [_service_object(s) for s in _find_services(host, ctx, "Get-Service", args)]


def control_service(verb: str) -> Any:
    cmd = f"{verb}-Service"

    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
        if pipe and "Name" not in args and "InputObject" not in args:
            args = CaseInsensitiveDict({**args, "InputObject": pipe})
        out = []
        for svc in _find_services(host, ctx, cmd, args):
            if verb in ("Start", "Restart") and svc.start_type == "Disabled":
                ctx.write_error(ps_error(
                    f"Service '{svc.display_name} ({svc.name})' cannot be started due to the following error: "
                    f"Cannot start service {svc.name} on computer '.'.",
                    f"CouldNotStartService,Microsoft.PowerShell.Commands.{verb}ServiceCommand", "OpenError",
                    "Microsoft.PowerShell.Commands.ServiceCommandException", target=svc.name, command=cmd).record)
                continue
            svc.status = "Stopped" if verb == "Stop" else "Running"
            host.generation += 1  # the host's policy view (services) changed
            if args.get("PassThru"):
                out.append(_service_object(svc))
        return out

    return handler


def get_date(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    # Get-Date is the host clock (true time + configured skew) as a Local DateTime in the host's time zone.
    value = args.get("Date")
    if isinstance(value, datetime):
        return [value if value.tzinfo else value.replace(tzinfo=host.zone)]
    return [host.now()]


def new_timespan(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    parts = {unit: float(args.get(unit) or 0) for unit in ("Days", "Hours", "Minutes", "Seconds")}
    return [timedelta(days=parts["Days"], hours=parts["Hours"], minutes=parts["Minutes"], seconds=parts["Seconds"])]


def _event_object(ev: HostEvent) -> PSObject:
    props = {
        "Id": ev.id, "TimeCreated": ev.time, "Message": ev.message, "LogName": "Security",
        "ProviderName": "Microsoft-Windows-Security-Auditing", "RecordId": ev.record_id,
        "LevelDisplayName": "Information",
        "Properties": [PSObject.custom(Value=v) for v in ev.data.values()],
    }
    return PSObject(properties=CaseInsensitiveDict(props), adapted=True,
                    type_names=["System.Diagnostics.Eventing.Reader.EventLogRecord",
                                "System.Diagnostics.Eventing.Reader.EventRecord", "System.Object"])


def get_winevent(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    filt = args.get("FilterHashtable")
    if isinstance(filt, list):
        filt = filt[0] if filt else None
    table = CaseInsensitiveDict(dict(filt.items()) if isinstance(filt, Mapping) else {})
    if "LogName" in args:
        table["LogName"] = args["LogName"]
    for log in as_list(table.get("LogName")) or ["Security"]:
        if str(log).lower() != "security":  # the lab keeps only the Security log (IPsec audit events)
            raise ps_error(f'There is not an event log on the localhost computer that matches "{log}".',
                           "NoMatchingLogsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
                           "ObjectNotFound", "System.Exception", target=log, command="Get-WinEvent")
    ids = {int(i) for i in as_list(table.get("Id"))}
    start, end = table.get("StartTime"), table.get("EndTime")
    found = [
        ev for ev in host.events
        if (not ids or ev.id in ids) and (start is None or ev.time >= _aware(start))
        and (end is None or ev.time <= _aware(end))
    ]
    found.sort(key=lambda ev: (ev.time, ev.record_id), reverse=True)  # newest first, as Get-WinEvent reads
    if args.get("MaxEvents") is not None:
        found = found[: int(args["MaxEvents"])]
    if not found:
        ctx.write_error(ps_error("No events were found that match the specified selection criteria.",
                                 "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
                                 "ObjectNotFound", "System.Exception", command="Get-WinEvent").record)
    return [_event_object(ev) for ev in found]


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def register(host: LabHost, table: CommandTable) -> None:
    names = ParamSpec("Name", "String[]", array=True, position=0, aliases=("ServiceName",))
    table.add(builtin_command(host, "Get-Service", [names, ParamSpec("InputObject", "ServiceController[]",
                                                                      array=True)], get_service), "gsv")
    for verb in ("Start", "Stop", "Restart"):
        table.add(builtin_command(host, f"{verb}-Service", [
            names, ParamSpec("InputObject", "ServiceController[]", array=True), ParamSpec("PassThru", SWITCH),
            ParamSpec("Force", SWITCH), ParamSpec("WhatIf", SWITCH), ParamSpec("Confirm", SWITCH)],
            control_service(verb)))
    table.add(builtin_command(host, "Get-Date", [ParamSpec("Date", "DateTime", position=0)], get_date))
    table.add(builtin_command(host, "New-TimeSpan", [ParamSpec(u, "Int32") for u in ("Days", "Hours", "Minutes",
                                                                                   "Seconds")], new_timespan))
    table.add(builtin_command(host, "Get-WinEvent", [
        ParamSpec("FilterHashtable", "Hashtable[]"), ParamSpec("LogName", "String[]", array=True, position=0),
        ParamSpec("MaxEvents", "Int64"), ParamSpec("Oldest", SWITCH)], get_winevent))
