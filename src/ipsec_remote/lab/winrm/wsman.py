"""The WS-Management operations pypsrp's RunspacePool and PowerShell send, answered as Windows does.

What pypsrp 0.9 sends (``pypsrp/powershell.py``, ``shell.py``, ``wsman.py``):

* ``RunspacePool.open``: Create (``rsp:Shell`` with ``creationXml`` = SessionCapability + InitRunspacePool
  fragments), then Receive on the shell until the pool reports Opened — 2 requests.
* ``PowerShell.invoke``/``begin_invoke``: Command (``rsp:CommandLine``, CommandId = the pipeline id, the
  first CreatePipeline fragment as ``rsp:Arguments``), Send for any further fragments and for input, then
  Receive with that CommandId until the pipeline state arrives — 2 requests for a normal pipeline.
  ``poll_invoke`` treats fault 2150858793 (OperationTimeout) as "poll again".
* ``PowerShell.close``: Signal ``…/signal/Terminate``; ``PowerShell.stop``: Signal ``powershell/signal/ctrl_c``.
* ``RunspacePool.close``: Delete — 1 request. ``RunspacePool.is_alive``: Get on the shell resource.
* ``WSMan.update_max_payload_size``: Get on ``…/wsman/1/config`` (MaxEnvelopeSizekb).
"""

from __future__ import annotations

import base64
import binascii
import struct
import time
import uuid
import xml.etree.ElementTree as ET

from psrpcore import PSRPCoreError

from ..runtime import ScriptHost
from . import soap
from .counters import RequestCounters
from .psrp import PsrpShell

PWSH_URI = "http://schemas.microsoft.com/powershell/"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
MAX_ENVELOPE_KB = 500  # Server 2012+ default MaxEnvelopeSizekb
# Named assumptions (Windows defaults, `winrm get winrm/config/winrs` on Server 2022): a user may hold 30
# shells; a shell nobody touches for IdleTimeOut (7200 s unless the client's Create asks otherwise) is
# deleted by the service.
DEFAULT_MAX_SHELLS_PER_USER = 30
DEFAULT_IDLE_TIMEOUT_S = 7200.0
_ARGUMENTS, _STREAM, _DESIRED_STREAM = (soap.qname("rsp:Arguments"), soap.qname("rsp:Stream"),
                                        soap.qname("rsp:DesiredStream"))
_SLACK = 4096  # envelope bytes around the base64 stream data


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise soap.SoapError(soap.invalid_body("stream data is not valid base64")) from None


class WsmanService:
    """The shells of one lab host and the WSMan operations on them."""

    def __init__(self, host: ScriptHost, counters: RequestCounters, machine: str,
                 max_shells_per_user: int = DEFAULT_MAX_SHELLS_PER_USER, basic_auth: bool = False) -> None:
        self.host = host
        self.basic_auth = basic_auth  # shown in winrm/config (Service/Auth/Basic)
        self.counters = counters
        self.machine = machine
        self.max_shells_per_user = max_shells_per_user
        self.shells: dict[str, PsrpShell] = {}

    def _expire_idle(self) -> None:
        now = time.monotonic()
        for shell_id, shell in list(self.shells.items()):
            if now - shell.last_used > shell.idle_timeout_s:
                shell.close()
                del self.shells[shell_id]

    def close_all(self) -> None:
        for shell in self.shells.values():
            shell.close()
        self.shells.clear()

    async def handle(self, req: soap.Request, owner: str, client_ip: str, address: str) -> tuple[int, bytes]:
        """(HTTP status, SOAP envelope). Faults are HTTP 500 with a WSManFault, like Windows."""
        self._expire_idle()
        try:
            if req.kind == "Create":
                body = self._create(req, owner, client_ip, address)
            elif req.kind == "Command":
                body = soap.command_body(self._shell(req).create_command(*self._command_args(req)))
            elif req.kind == "Send":
                body = self._send(req)
            elif req.kind == "Receive":
                body = await self._receive(req)
            elif req.kind == "Signal":
                body = self._signal(req)
            elif req.kind == "Delete":
                self._shell(req).close()
                del self.shells[req.shell_id.upper()]
                body = ""
            elif req.kind == "Get":
                body = self._get(req)
            else:
                raise soap.SoapError(soap.action_not_supported(req.action))
        except soap.SoapError as err:
            return 500, soap.fault_envelope(err.fault, req.message_id, self.machine)
        except (PSRPCoreError, ValueError, KeyError, struct.error, ET.ParseError) as exc:
            # Fragments psrpcore cannot make sense of: the client gets a fault, the endpoint carries on.
            fault = soap.invalid_body(f"the PSRP data could not be processed ({type(exc).__name__}: {exc})")
            return 500, soap.fault_envelope(fault, req.message_id, self.machine)
        return 200, soap.response(req, body)

    def _shell(self, req: soap.Request) -> PsrpShell:
        shell = self.shells.get(req.shell_id.upper())
        if shell is None or shell.closed:
            raise soap.SoapError(soap.shell_not_found(provider=req.kind == "Get"))
        shell.last_used = time.monotonic()
        return shell

    def _create(self, req: soap.Request, owner: str, client_ip: str, address: str) -> str:
        if not req.resource_uri.startswith(PWSH_URI):
            # The lab is a PowerShell endpoint; plain WinRS (cmd) shells are not part of the product.
            raise soap.SoapError(soap.Fault(2150858752, "a:DestinationUnreachable",
                                            f"The resource URI {req.resource_uri} is not supported by this lab host."))
        shell_el = req.body
        if shell_el is None or shell_el.tag != f"{{{soap.RSP}}}Shell":
            raise soap.SoapError(soap.invalid_body("Create needs an rsp:Shell body"))
        creation = shell_el.find("pwsh:creationXml", soap.NS)
        if creation is None:
            raise soap.SoapError(soap.invalid_body("a PowerShell shell needs creationXml"))
        shell_id = (shell_el.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        if sum(1 for s in self.shells.values() if s.owner.lower() == owner.lower()) >= self.max_shells_per_user:
            raise soap.SoapError(soap.Fault(  # ERROR_WSMAN_QUOTA_MAX_SHELLS
                2150859173, "w:QuotaLimit",
                f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
                f"{self.max_shells_per_user} concurrent shells, which has been exceeded. Close existing shells or "
                "raise the quota for this user."))
        if shell_id in self.shells:
            raise soap.SoapError(soap.Fault(2150858803, "w:AlreadyExists", f"The shell {shell_id} already exists."))
        shell = PsrpShell(
            shell_id=shell_id, resource_uri=req.resource_uri, host=self.host, owner=owner, client_ip=client_ip,
            input_streams=shell_el.findtext("rsp:InputStreams", "stdin pr", soap.NS),
            output_streams=shell_el.findtext("rsp:OutputStreams", "stdout", soap.NS),
            idle_timeout_s=soap.parse_duration(shell_el.findtext("rsp:IdleTimeOut", None, soap.NS),
                                               DEFAULT_IDLE_TIMEOUT_S),
        )
        shell.feed(_b64(creation.text))
        self.shells[shell_id] = shell
        return soap.create_body(address, req.resource_uri, shell_id, self._shell_xml(shell))

    @staticmethod
    def _shell_xml(shell: PsrpShell, usage: bool = False) -> str:
        return soap.shell_xml(shell.shell_id, shell.resource_uri, shell.owner, shell.client_ip,
                              shell.input_streams, shell.output_streams, shell.idle_timeout_s, usage=usage)

    @staticmethod
    def _command_args(req: soap.Request) -> tuple[str | None, bytes]:
        line = req.body
        if line is None or line.tag != f"{{{soap.RSP}}}CommandLine":
            raise soap.SoapError(soap.invalid_body("Command needs an rsp:CommandLine body"))
        data = b"".join(_b64(a.text) for a in line.iterfind(_ARGUMENTS))
        if len(data) < 21 + 40:
            raise soap.SoapError(soap.invalid_body("the command carries no CreatePipeline fragment"))
        return line.attrib.get("CommandId"), data

    def _send(self, req: soap.Request) -> str:
        shell = self._shell(req)
        if req.body is None:
            raise soap.SoapError(soap.invalid_body("Send needs an rsp:Send body"))
        for stream in req.body.iterfind(_STREAM):
            command_id = stream.attrib.get("CommandId")
            if command_id and not shell.has_command(command_id):
                raise soap.SoapError(soap.command_not_found())
            shell.feed(_b64(stream.text), command_id)
        return "<rsp:SendResponse/>"

    async def _receive(self, req: soap.Request) -> str:
        shell = self._shell(req)
        desired = req.body.find(_DESIRED_STREAM) if req.body is not None else None
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        if command_id and not shell.has_command(command_id):
            raise soap.SoapError(soap.command_not_found())
        budget = max(4096, (req.max_envelope - _SLACK) * 3 // 4)
        chunks, done = shell.take(command_id, budget)
        if not chunks and not done:
            # Nothing yet: hold the request until output arrives or the client's OperationTimeout passes.
            if not await shell.wait(command_id, max(0.0, req.timeout_s - 0.5)):
                if shell.closed:
                    raise soap.SoapError(soap.shell_not_found())
                raise soap.SoapError(soap.timed_out())
            chunks, done = shell.take(command_id, budget)
        streams = [base64.b64encode(c).decode("ascii") for c in chunks]
        return soap.receive_body(streams, command_id, done)

    def _signal(self, req: soap.Request) -> str:
        shell = self._shell(req)
        sig = req.body
        if sig is None or sig.tag != f"{{{soap.RSP}}}Signal":
            raise soap.SoapError(soap.invalid_body("Signal needs an rsp:Signal body"))
        shell.signal(sig.attrib.get("CommandId", ""), sig.findtext("rsp:Code", "", soap.NS).strip())
        return "<rsp:SignalResponse/>"

    def _get(self, req: soap.Request) -> str:
        if req.resource_uri.rstrip("/") == CONFIG_URI:
            return soap.config_body(MAX_ENVELOPE_KB, self.max_shells_per_user, int(DEFAULT_IDLE_TIMEOUT_S * 1000),
                                    self.basic_auth)
        if req.resource_uri.startswith(SHELL_URI) or req.resource_uri.startswith(PWSH_URI):
            return self._shell_xml(self._shell(req), usage=True)
        raise soap.SoapError(soap.Fault(2150858752, "a:DestinationUnreachable",
                                        f"The resource URI {req.resource_uri} was not found."))
