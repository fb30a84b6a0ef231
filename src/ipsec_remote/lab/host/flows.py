"""A lab host's connection tables (NetTCPIP's Get-NetTCPConnection, Get-NetUDPEndpoint) and Start-Sleep.

The rows come from the fleet's traffic model (``lab/fleet/traffic.py``) through ``host.connections``; a host
on its own has none. Objects are CIM instances with the properties the classes document (MicrosoftDocs
win32, desktop-src/FWP/wmi/nettcpipprov/msft-nettcpconnection.md and msft-netudpendpoint.md):
MSFT_NetTCPConnection has LocalAddress, LocalPort, RemoteAddress, RemotePort, State (uint8: 1 Closed,
2 Listen, 3 SynSent, 4 SynReceived, 5 Established … 11 TimeWait, 12 DeleteTCB), AppliedSetting,
OwningProcess, CreationTime, OffloadState and the inherited CIM_ManagedElement…CIM_NetworkPipe ones (null
here); MSFT_NetUDPEndpoint documents LocalAddress and LocalPort only — no remote end.

``Start-Sleep`` (Microsoft.PowerShell.Utility: -Seconds or -Milliseconds) really waits, through
``host.sleep``: in a fleet that releases the fleet lock meanwhile, so the network, the timers and other
hosts carry on while a script sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from ..commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, CimProperty, ErrorRecord, PSObject, UInt8, UInt16, UInt32
from .builtin import builtin_command
from .model import CIM_NAMESPACE, as_list

if TYPE_CHECKING:
    from .state import LabHost

TCP_CLASS = f"{CIM_NAMESPACE}/MSFT_NetTCPConnection"
UDP_CLASS = f"{CIM_NAMESPACE}/MSFT_NetUDPEndpoint"
STATES = ("Closed", "Listen", "SynSent", "SynReceived", "Established", "FinWait1", "FinWait2", "CloseWait",
          "Closing", "LastAck", "TimeWait", "DeleteTCB")  # codes 1..12 on the class page
# Inherited properties the class pages list (CIM_ManagedElement … CIM_NetworkPipe): present, null in the lab.
INHERITED = ("Caption", "Description", "ElementName", "InstallDate", "Name", "OperationalStatus",
             "StatusDescriptions", "Status", "HealthState", "CommunicationStatus", "DetailedStatus",
             "OperatingStatus", "PrimaryStatus", "OtherEnabledState", "EnabledDefault", "TimeOfLastStateChange",
             "TransitioningToState", "AvailableRequestedStates", "EnabledState", "RequestedState",
             "Directionality", "AggregationBehavior")


class ConnectionSource(Protocol):
    def tcp_table(self, host: LabHost) -> list[dict[str, Any]]: ...

    def udp_table(self, host: LabHost) -> list[dict[str, Any]]: ...


class NoConnections:
    """A host cabled to nothing: empty tables."""

    def tcp_table(self, host: LabHost) -> list[dict[str, Any]]:
        return []

    def udp_table(self, host: LabHost) -> list[dict[str, Any]]:
        return []


# The documented types of the properties the rows carry (the class pages' MOF syntax); inherited ones are
# null strings/uint16 in the lab, typed as the pages say where set.
TYPES = {"LocalAddress": "string", "LocalPort": "uint16", "RemoteAddress": "string", "RemotePort": "uint16",
         "State": "uint8", "AppliedSetting": "uint8", "OwningProcess": "uint32", "CreationTime": "datetime",
         "OffloadState": "uint8", "InstanceID": "string"}
_UNSIGNED = {"uint8": UInt8, "uint16": UInt16, "uint32": UInt32}


def _instance(cim_class: str, row: dict[str, Any], key: str) -> PSObject:
    """A CIM instance: ``$o.X`` and ``$o.PSBase.CimInstanceProperties['X'].Value`` read the same typed values."""
    props: dict[str, Any] = dict.fromkeys(INHERITED)
    props.update(row)
    props["InstanceID"] = key
    cim = CaseInsensitiveDict()
    for name, value in props.items():
        cim_type = TYPES.get(name, "string")
        unsigned = _UNSIGNED.get(cim_type)
        typed = unsigned(int(value)) if unsigned is not None and value is not None else value
        cim[name] = CimProperty(name, typed, cim_type)
    obj = PSObject.cim(cim_class, CaseInsensitiveDict({p.name: p.value for p in cim.values()}))
    obj.cim_props = cim
    return obj


def _not_found(cmdlet: str, cim: str, args: CaseInsensitiveDict) -> ErrorRecord:
    where = " AND ".join(f"(({k} = {v}))" for k, v in args.items() if k != "ErrorAction")
    return ErrorRecord(
        f"No matching {cim} objects found by CIM query for instances of the {CIM_NAMESPACE.upper()}/{cim} class "
        f"on the  CIM server: SELECT * FROM {cim}  WHERE {where}. Verify query parameters and retry.",
        f"CmdletizationQuery_NotFound,{cmdlet}", "ObjectNotFound",
        "Microsoft.Management.Infrastructure.CimException", command=cmdlet)


def _matches(row: dict[str, Any], args: CaseInsensitiveDict) -> bool:
    for name in ("LocalAddress", "RemoteAddress"):
        wanted = [str(v).lower() for v in as_list(args.get(name))]
        if wanted and str(row.get(name, "")).lower() not in wanted:
            return False
    for name in ("LocalPort", "RemotePort", "OwningProcess"):
        wanted_n = [int(v) for v in as_list(args.get(name))]
        if wanted_n and int(row.get(name) or 0) not in wanted_n:
            return False
    states = [STATES.index(str(s)) + 1 for s in as_list(args.get("State"))]
    return not states or int(row.get("State") or 0) in states


def get_tcp(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    rows = [r for r in host.connections.tcp_table(host) if _matches(r, args)]
    if not rows and any(k in args for k in ("LocalAddress", "LocalPort", "RemoteAddress", "RemotePort", "State",
                                            "OwningProcess")):
        ctx.write_error(_not_found("Get-NetTCPConnection", "MSFT_NetTCPConnection", args))
    return [_instance(TCP_CLASS, r, f"{r['LocalAddress']}++{r['LocalPort']}++{r['RemoteAddress']}++"
                                    f"{r['RemotePort']}") for r in rows]


def get_udp(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    rows = [r for r in host.connections.udp_table(host) if _matches(r, args)]
    if not rows and any(k in args for k in ("LocalAddress", "LocalPort")):
        ctx.write_error(_not_found("Get-NetUDPEndpoint", "MSFT_NetUDPEndpoint", args))
    return [_instance(UDP_CLASS, r, f"{r['LocalAddress']}++{r['LocalPort']}") for r in rows]


def start_sleep(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    seconds = float(args.get("Seconds") or 0) + float(args.get("Milliseconds") or 0) / 1000.0
    if seconds > 0:
        host.sleep(seconds)
    return []


def _common(*specs: ParamSpec) -> list[ParamSpec]:
    return [*specs, ParamSpec("CimSession", "CimSession[]", array=True), ParamSpec("ThrottleLimit", "Int32"),
            ParamSpec("AsJob", "SwitchParameter")]


def register(host: LabHost, table: CommandTable) -> None:
    # Parameters as the NetTCPIP reference lists them (learn.microsoft.com/powershell/module/nettcpip).
    tcp = _common(ParamSpec("LocalAddress", "String[]", array=True, position=0),
                  ParamSpec("LocalPort", "UInt16[]", array=True, position=1),
                  ParamSpec("RemoteAddress", "String[]", array=True), ParamSpec("RemotePort", "UInt16[]", array=True),
                  ParamSpec("State", "State[]", array=True, values=STATES),
                  ParamSpec("AppliedSetting", "AppliedSetting[]", array=True,
                            values=("Internet", "Datacenter", "Compat", "Custom")),
                  ParamSpec("OwningProcess", "UInt32[]", array=True),
                  ParamSpec("CreationTime", "DateTime[]", array=True),
                  ParamSpec("OffloadState", "OffloadState[]", array=True))
    udp = _common(ParamSpec("LocalAddress", "String[]", array=True, position=0),
                  ParamSpec("LocalPort", "UInt16[]", array=True, position=1))
    table.add(builtin_command(host, "Get-NetTCPConnection", tcp, get_tcp))
    table.add(builtin_command(host, "Get-NetUDPEndpoint", udp, get_udp))
    table.add(FunctionCommand("Start-Sleep", {p.name: p for p in (
        ParamSpec("Seconds", "Double", position=0, aliases=("s",)),
        ParamSpec("Milliseconds", "Int32", aliases=("ms",)))},
        lambda ctx, args, pipe: list(start_sleep(host, ctx, args, pipe))), "sleep")


Sleeper = Callable[[float], None]
DEFAULT_SLEEP: Sleeper = time.sleep
