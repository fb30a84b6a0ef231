"""``New-Object System.Net.Sockets.TcpClient``: the bounded connect the product probes peers with; and
``Get-NetIPAddress``, which an exported plan uses to find the section of the host it runs on.

Only what the product's verify.ps1 uses is modelled: ``BeginConnect(host, port, $null, $null)``, the
result's ``AsyncWaitHandle.WaitOne(ms)``, ``EndConnect``, ``Connected`` and ``Close``/``Dispose``
(System.Net.Sockets.TcpClient / IAsyncResult / WaitHandle, .NET Framework 4.x API reference). The SYN goes
out at BeginConnect, so IKE negotiates then; the network decides what it meets (``ProbeResult.outcome``).

Time: the answer comes ``ProbeResult.answer_in_s`` after BeginConnect (0 unless the SYN met an SA still
negotiating, lab/fleet/latency.py ``ike_negotiation_s``). Every wait is recorded in ``host.probes`` (the log
``lab inspect`` shows: ``waited_s``, the sum of the waits; the same log records Test-NetConnection's 21 s).
With ``real_waits`` (the latency model on, ``blocked_connect = "wait"``) ``WaitOne`` really waits, through
``host.sleep`` (the fleet lock released), so a script polling its SAs between waits sees negotiations
complete; otherwise it returns at once and the wait is only recorded — ``owed_s``, what the latency model
charges the pipeline, is the part not really waited.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, ErrorRecord, NetObject, PowerShellError, PSObject, method_exception
from .model import CIM_NAMESPACE, as_list
from .network import ProbeResult

if TYPE_CHECKING:
    from .state import LabHost

TCP_CLIENT = "System.Net.Sockets.TcpClient"
# Winsock texts of the SocketExceptions EndConnect throws (WSAECONNREFUSED 10061, WSAETIMEDOUT 10060).
REFUSED = "No connection could be made because the target machine actively refused it {0}:{1}"
NOT_COMPLETED = ("A connection attempt failed because the connected party did not properly respond after a period "
                 "of time, or established connection failed because connected host has failed to respond {0}:{1}")


class _WaitHandle(NetObject):
    type_name = "System.Threading.ManualResetEvent"

    def __init__(self, attempt: _ConnectAttempt) -> None:
        self.attempt = attempt

    def invoke(self, name: str, args: list[Any]) -> Any:
        if name == "waitone":
            return self.attempt.wait(args)
        if name in ("close", "dispose"):
            return None
        return super().invoke(name, args)


class _ConnectAttempt(NetObject):
    """The IAsyncResult of BeginConnect."""

    type_name = "System.Net.Sockets.Socket+ConnectAsyncResult"

    def __init__(self, host: LabHost, record: dict[str, Any], result: ProbeResult) -> None:
        self.host, self.record, self.result = host, record, result
        self.answer_at = time.monotonic() + result.answer_in_s

    @property
    def answered(self) -> bool:
        return self.result.answer != "dropped" and time.monotonic() >= self.answer_at

    def wait(self, args: list[Any]) -> bool:
        if self.answered:
            return True
        timeout_ms = int(args[0]) if args else -1
        # WaitOne(-1) waits for ever; the SYN retransmissions give up after about 21 s (initial RTO 3 s,
        # two retries), which is also what an infinite wait ends with.
        bound = 21.0 if timeout_ms < 0 else timeout_ms / 1000.0
        coming = self.answer_at - time.monotonic() if self.result.answer != "dropped" else None
        if coming is not None and coming < bound:
            self._pass(max(coming, 0.0))
            self.answer_at = min(self.answer_at, time.monotonic())  # a recorded-only wait reached it too
            return True
        self._pass(bound)
        return False

    def _pass(self, seconds: float, owed: bool = False) -> None:
        """``seconds`` of waiting: really (then not owed), or recorded only."""
        self.record["waited_s"] = round(float(self.record.get("waited_s", 0.0)) + seconds, 6)
        if self.result.real_waits and not owed:
            if seconds > 0:
                self.host.sleep(seconds)
        else:
            self.record["owed_s"] = round(float(self.record.get("owed_s", 0.0)) + seconds, 6)

    def member(self, name: str) -> Any:
        if name == "asyncwaithandle":
            return _WaitHandle(self)
        if name == "iscompleted":
            return self.answered
        return None


class LabTcpClient(NetObject):
    type_name = TCP_CLIENT

    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.attempt: _ConnectAttempt | None = None
        self.connected = False

    def member(self, name: str) -> Any:
        if name == "connected":
            return self.connected
        return None

    def invoke(self, name: str, args: list[Any]) -> Any:
        if name == "beginconnect":
            return self._begin(args)
        if name == "endconnect":
            return self._end(args)
        if name in ("close", "dispose"):
            self.connected = False
            return None
        return super().invoke(name, args)

    def _begin(self, args: list[Any]) -> _ConnectAttempt:
        if len(args) != 4:
            raise method_exception("BeginConnect", args, "Parameter count mismatch.", "TargetParameterCountException")
        target, port = str(args[0]), int(args[1])
        result = self.host.network.probe(self.host, target, port, "TCP")
        record: dict[str, Any] = {"via": "TcpClient", "target": target, "port": port, "outcome": result.answer,
                                  "waited_s": 0.0, "owed_s": 0.0}
        self.host.probes.append(record)
        self.attempt = _ConnectAttempt(self.host, record, result)
        return self.attempt

    def _end(self, args: list[Any]) -> None:
        attempt = args[0] if args else None
        if not isinstance(attempt, _ConnectAttempt):
            raise method_exception("EndConnect", args, "The IAsyncResult object was not returned from the "
                                   "corresponding asynchronous method on this class.", "ArgumentException")
        address = attempt.result.remote_address or attempt.record["target"]
        if not attempt.answered and attempt.result.answer != "dropped":
            attempt.wait([-1])  # EndConnect blocks until the answer
        if attempt.result.answer == "refused":
            raise method_exception("EndConnect", args, REFUSED.format(address, attempt.record["port"]),
                                   "SocketException")
        if attempt.result.answer == "dropped":
            attempt._pass(max(0.0, 21.0 - attempt.record["waited_s"]), owed=True)  # blocks until it gives up
            raise method_exception("EndConnect", args, NOT_COMPLETED.format(address, attempt.record["port"]),
                                   "SocketException")
        self.connected = True


def new_object(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    type_name = str(args.get("TypeName") or "")
    name = type_name[len("System."):] if type_name.lower().startswith("system.") else type_name
    if name.lower() == "net.sockets.tcpclient" and not args.get("ArgumentList"):
        return [LabTcpClient(host)]
    # PowerShell's text for a type it cannot load; the lab only has the TcpClient its scripts use.
    raise PowerShellError(ErrorRecord(
        f"Cannot find type [{type_name}]: verify that the assembly containing this type is loaded.",
        "TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand", "InvalidType",
        "System.Management.Automation.PSArgumentException", command="New-Object"))


NEW_OBJECT_PARAMS = {p.name: p for p in (
    ParamSpec("TypeName", "String", mandatory=True, position=0),
    ParamSpec("ArgumentList", "Object[]", array=True, position=1, aliases=("Args",)),
    ParamSpec("Property", "Object"),
)}


def get_ip_address(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]
                   ) -> Iterable[Any]:
    """Get-NetIPAddress [-IPAddress <String[]>] (NetTCPIP, learn.microsoft.com/powershell/module/nettcpip):
    the host's addresses as MSFT_NetIPAddress instances (IPAddress, AddressFamily 2 = IPv4, 23 = IPv6); an
    address the host does not have is the adapter's not-found error (non-terminating)."""
    own = [host.address, *host.config.extra_addresses, "127.0.0.1", "::1"]
    wanted = [str(a) for a in as_list(args.get("IPAddress"))]
    families = [str(f) for f in as_list(args.get("AddressFamily"))]
    out = []
    for address in own:
        if wanted and not any(address.lower() == w.lower() for w in wanted):
            continue
        version = ipaddress.ip_address(address).version
        if families and f"IPv{version}" not in families:
            continue
        family = 2 if version == 4 else 23
        props = {"IPAddress": address, "AddressFamily": family, "InterfaceAlias": "Ethernet"}
        out.append(PSObject.cim(f"{CIM_NAMESPACE}/MSFT_NetIPAddress", props))
    for w in wanted:
        if not any(w.lower() == a.lower() for a in own):
            ctx.write_error(ErrorRecord(
                f"No MSFT_NetIPAddress objects found with property 'IPAddress' equal to '{w}'.  Verify the value "
                "of the property and retry.", "CmdletizationQuery_NotFound_IPAddress,Get-NetIPAddress",
                "ObjectNotFound", "Microsoft.Management.Infrastructure.CimException", target=w,
                command="Get-NetIPAddress"))
    return out


GET_IP_ADDRESS_PARAMS = {p.name: p for p in (
    ParamSpec("IPAddress", "String[]", array=True, position=0),
    ParamSpec("AddressFamily", "AddressFamily[]", array=True, values=("IPv4", "IPv6")),
)}


def register(host: LabHost, table: CommandTable) -> None:
    table.add(FunctionCommand("New-Object", NEW_OBJECT_PARAMS,
                              lambda ctx, args, pipe: new_object(host, ctx, args, pipe)))
    table.add(FunctionCommand("Get-NetIPAddress", GET_IP_ADDRESS_PARAMS,
                              lambda ctx, args, pipe: get_ip_address(host, ctx, args, pipe),
                              ignores_caller_preference=True))
