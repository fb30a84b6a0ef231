"""WS-Management SOAP 1.2 envelopes: reading requests, writing responses and faults.

Responses are written as text templates rather than built with ElementTree: they have a fixed shape and
this is the hot path when 1,000 hosts are polled. Every dynamic value goes through ``escape``.
"""

from __future__ import annotations

import contextlib
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "pwsh": "http://schemas.microsoft.com/powershell",
}
RSP = NS["rsp"]


def qname(prefixed: str) -> str:
    """``"rsp:Stream"`` -> ``"{http://…/shell}Stream"``: ElementTree finds a Clark name in C, while a
    namespaces map sends every find through ElementPath (a sorted cache key per call, on every request)."""
    prefix, _, local = prefixed.partition(":")
    return f"{{{NS[prefix]}}}{local}"


_HEADER, _BODY = qname("s:Header"), qname("s:Body")
_ACTION, _MESSAGE_ID = qname("wsa:Action"), qname("wsa:MessageID")
_RESOURCE_URI, _TIMEOUT, _MAX_ENVELOPE = (qname("wsman:ResourceURI"), qname("wsman:OperationTimeout"),
                                          qname("wsman:MaxEnvelopeSize"))
_SELECTORS = f"{qname('wsman:SelectorSet')}/{qname('wsman:Selector')}"
_OPTIONS = f"{qname('wsman:OptionSet')}/{qname('wsman:Option')}"

# wsa:Action -> the operation name used for counters, hooks and dispatch.
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get": "Get",
    f"{RSP}/Command": "Command",
    f"{RSP}/Receive": "Receive",
    f"{RSP}/Send": "Send",
    f"{RSP}/Signal": "Signal",
}
RESPONSE_ACTIONS = {
    "Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "Delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
    "Get": "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
    "Command": f"{RSP}/CommandResponse",
    "Receive": f"{RSP}/ReceiveResponse",
    "Send": f"{RSP}/SendResponse",
    "Signal": f"{RSP}/SignalResponse",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
_DURATION = re.compile(r"^P(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$")


class SoapError(Exception):
    """A request the service answers with a WSMan fault (HTTP 500)."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


@dataclass(frozen=True)
class Fault:
    code: int  # the WSManFault Code pypsrp surfaces as WSManFaultError.code
    subcode: str  # qualified, e.g. "w:TimedOut"
    message: str
    sender: bool = True  # s:Sender (the client's fault) or s:Receiver
    detail: str = ""  # w:FaultDetail URI, when Windows sends one
    provider: bool = False  # raised by the shell provider: its WSManFault nests inside the service's


def timed_out() -> Fault:
    # ERROR_WSMAN_OPERATION_TIMEDOUT: pypsrp's poll_invoke treats this code as "nothing yet, poll again".
    return Fault(
        2150858793,
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        sender=False,
    )


UNEXPECTED_SELECTORS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"


def shell_not_found(provider: bool = False) -> Fault:
    # ERROR_WSMAN_UNEXPECTED_SELECTORS, as Windows answers for a ShellId it does not know (text, FaultDetail
    # and, for a Get on the shell resource, the provider's nested fault: the recorded Windows exchanges);
    # pypsrp's RunspacePool.is_alive() reads this code as "the pool is gone".
    return Fault(
        2150858843,
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid selectors "
        "for the resource. ",
        detail=UNEXPECTED_SELECTORS,
        provider=provider,
    )


def command_not_found() -> Fault:
    # The same code for a CommandId the shell does not hold (recorded Windows exchange of a Receive).
    return Fault(
        2150858843,
        "w:InvalidSelectors",
        "The Windows Remote Shell received a request to perform an operation on a command identifier that does "
        "not exist. Either the command has completed execution or the client specified an invalid command "
        "identifier. ",
        detail=UNEXPECTED_SELECTORS,
    )


def action_not_supported(action: str) -> Fault:
    return Fault(  # ERROR_WSMAN_ACTION_NOT_SUPPORTED
        2150858771, "a:ActionNotSupported",
        f"The WS-Management service does not support the specified action: {action}",
    )


def invalid_body(detail: str) -> Fault:
    return Fault(2150858791, "w:InvalidBody", f"The WS-Management service cannot process the request: {detail}")


@dataclass
class Request:
    action: str
    kind: str  # Create, Command, ... or "Other"
    message_id: str
    resource_uri: str
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0
    max_envelope: int = 153600  # bytes; pypsrp's default, Windows 2008's limit
    body: ET.Element | None = None

    @property
    def shell_id(self) -> str:
        return self.selectors.get("ShellId", "")


def parse_duration(text: str | None, default: float) -> float:
    """``PT20S``/``PT0.5S``/``PT1M`` -> seconds."""
    if not text:
        return default
    m = _DURATION.match(text.strip())
    if not m:
        return default
    h, mi, s = (float(m.group(g) or 0) for g in ("h", "m", "s"))
    return h * 3600 + mi * 60 + s


def parse_request(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SoapError(invalid_body(f"malformed XML ({exc})")) from None
    header = root.find(_HEADER)
    body = root.find(_BODY)
    if header is None or body is None:
        raise SoapError(invalid_body("the SOAP envelope lacks a Header or a Body"))
    action = (header.findtext(_ACTION, "") or "").strip()
    req = Request(
        action=action,
        kind=ACTIONS.get(action, "Other"),
        message_id=(header.findtext(_MESSAGE_ID, "") or "").strip(),
        resource_uri=(header.findtext(_RESOURCE_URI, "") or "").strip(),
        timeout_s=parse_duration(header.findtext(_TIMEOUT, None), 60.0),
        body=body[0] if len(body) else None,
    )
    with contextlib.suppress(ValueError):
        req.max_envelope = int(header.findtext(_MAX_ENVELOPE, "153600") or 153600)
    for sel in header.iterfind(_SELECTORS):
        req.selectors[sel.attrib.get("Name", "")] = (sel.text or "").strip()
    for opt in header.iterfind(_OPTIONS):
        req.options[opt.attrib.get("Name", "")] = (opt.text or "").strip()
    return req


_ENVELOPE = (
    '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{wsa}" xmlns:x="{wst}" xmlns:w="{wsman}" '
    'xmlns:rsp="{rsp}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
    "<s:Header><a:Action>{{action}}</a:Action><a:MessageID>uuid:{{mid}}</a:MessageID>"
    "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
    "<a:RelatesTo>{{relates}}</a:RelatesTo></s:Header><s:Body>{{body}}</s:Body></s:Envelope>"
).format(**NS)


def envelope(action: str, relates_to: str, body: str) -> bytes:
    # RelatesTo must echo the request's MessageID: pypsrp compares them and raises on a mismatch.
    text = _ENVELOPE.format(
        action=escape(action), mid=str(uuid.uuid4()).upper(), relates=escape(relates_to), body=body
    )
    return text.encode("utf-8")


def response(req: Request, body: str = "") -> bytes:
    return envelope(RESPONSE_ACTIONS.get(req.kind, req.action + "Response"), req.message_id, body)


def fault_envelope(fault: Fault, relates_to: str, machine: str) -> bytes:
    """A SOAP fault with the Detail Windows sends: ``w:FaultDetail`` first when the fault has one, then the
    WSManFault, whose Message wraps the shell provider's own WSManFault when the provider raised it."""
    role = "s:Sender" if fault.sender else "s:Receiver"
    inner = escape(fault.message)
    if fault.provider:
        inner = (f'<f:ProviderFault provider="Shell provider" path="%systemroot%\\system32\\WsmSvc.dll">'
                 f'<f:WSManFault xmlns:f="{NS["wsmanfault"]}" Code="{fault.code}" Machine={quoteattr(machine)}>'
                 f"<f:Message>{inner}</f:Message></f:WSManFault></f:ProviderFault>")
    detail = f"<w:FaultDetail>{escape(fault.detail)}</w:FaultDetail>" if fault.detail else ""
    body = (
        f"<s:Fault><s:Code><s:Value>{role}</s:Value><s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.message)}</s:Text></s:Reason>'
        f'<s:Detail>{detail}<f:WSManFault xmlns:f="{NS["wsmanfault"]}" Code="{fault.code}" '
        f"Machine={quoteattr(machine)}><f:Message>{inner}</f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
    )
    return envelope(FAULT_ACTION, relates_to, body)


def shell_xml(shell_id: str, resource_uri: str, owner: str, client_ip: str, input_streams: str,
              output_streams: str, idle_timeout_s: float, state: str = "Connected", usage: bool = False) -> str:
    """The ``rsp:Shell`` Windows returns on Create and Get: its children, in this order, are those of the
    recorded Windows exchanges (tests/lab/winrm/windows_wsman_shapes.json); Get adds the shell's usage.
    MaxIdleTimeOut is the winrs default 2147483647 ms; locales are the en-US of the lab's hosts."""
    usage_xml = "<rsp:MemoryUsed>46MB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses>" if usage else ""
    return (
        f"<rsp:Shell><rsp:ShellId>{escape(shell_id)}</rsp:ShellId>"
        f"<rsp:ResourceUri>{escape(resource_uri)}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP><rsp:ProcessId>4412</rsp:ProcessId>"
        f"<rsp:IdleTimeOut>PT{idle_timeout_s:.3f}S</rsp:IdleTimeOut>"
        f"<rsp:InputStreams>{escape(input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(output_streams)}</rsp:OutputStreams>"
        "<rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut><rsp:Locale>en-US</rsp:Locale>"
        "<rsp:DataLocale>en-US</rsp:DataLocale><rsp:CompressionMode>NoCompression</rsp:CompressionMode>"
        "<rsp:ProfileLoaded>Yes</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding>"
        f"<rsp:BufferMode>Block</rsp:BufferMode><rsp:State>{escape(state)}</rsp:State>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        f"{usage_xml}</rsp:Shell>"
    )


def create_body(address: str, resource_uri: str, shell_id: str, shell: str) -> str:
    # pypsrp reads the ShellId selector from ResourceCreated and sends it with every later request.
    return (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{escape(shell_id)}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>{shell}"
    )


def command_body(command_id: str) -> str:
    return f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId></rsp:CommandResponse>"


def receive_body(streams: list[str], command_id: str | None, done: bool) -> str:
    """``streams`` are base64 chunks of the stdout stream. As in the recorded Windows exchanges, a command's
    last Receive ends with ``CommandState Done`` and its ``ExitCode``; earlier ones carry only streams (no
    ``Running`` state), and ``rsp:ReceiveResponse`` has no attributes."""
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    parts = [f'<rsp:Stream Name="stdout"{cid}>{chunk}</rsp:Stream>' for chunk in streams]
    if done and command_id:
        parts.append(f'<rsp:CommandState{cid} State="{RSP}/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode>'
                     "</rsp:CommandState>")
    return f'<rsp:ReceiveResponse>{"".join(parts)}</rsp:ReceiveResponse>'


def config_body(max_envelope_kb: int, max_shells_per_user: int, idle_timeout_ms: int, basic: bool) -> str:
    """``winrm/config`` with the elements, nesting and order Windows sends (the recorded exchanges); values
    are the MS-WSMV 2.2.4 schema defaults except where the lab's own settings (envelope size, shells per
    user, idle timeout, Basic on the HTTPS listener) say otherwise."""
    b = "true" if basic else "false"
    return (
        f'<cfg:Config xmlns:cfg="{NS["cfg"]}"><cfg:MaxEnvelopeSizekb>{max_envelope_kb}</cfg:MaxEnvelopeSizekb>'
        "<cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms><cfg:MaxBatchItems>32000</cfg:MaxBatchItems>"
        "<cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>"
        "<cfg:Client><cfg:NetworkDelayms>5000</cfg:NetworkDelayms><cfg:URLPrefix>wsman</cfg:URLPrefix>"
        "<cfg:AllowUnencrypted>false</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>true</cfg:Basic>"
        "<cfg:Digest>true</cfg:Digest><cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate>"
        "<cfg:Certificate>true</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP></cfg:Auth>"
        "<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts>"
        "<cfg:TrustedHosts></cfg:TrustedHosts></cfg:Client>"
        "<cfg:Service><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"
        "</cfg:RootSDDL><cfg:MaxConcurrentOperations>4294967295</cfg:MaxConcurrentOperations>"
        "<cfg:MaxConcurrentOperationsPerUser>1500</cfg:MaxConcurrentOperationsPerUser>"
        "<cfg:EnumerationTimeoutms>240000</cfg:EnumerationTimeoutms><cfg:MaxConnections>300</cfg:MaxConnections>"
        "<cfg:MaxPacketRetrievalTimeSeconds>120</cfg:MaxPacketRetrievalTimeSeconds>"
        f"<cfg:AllowUnencrypted>false</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>{b}</cfg:Basic>"
        "<cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>false</cfg:Certificate>"
        "<cfg:CredSSP>false</cfg:CredSSP><cfg:CbtHardeningLevel>Relaxed</cfg:CbtHardeningLevel></cfg:Auth>"
        "<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts>"
        "<cfg:IPv4Filter>*</cfg:IPv4Filter><cfg:IPv6Filter>*</cfg:IPv6Filter>"
        "<cfg:EnableCompatibilityHttpListener>false</cfg:EnableCompatibilityHttpListener>"
        "<cfg:EnableCompatibilityHttpsListener>false</cfg:EnableCompatibilityHttpsListener>"
        "<cfg:CertificateThumbprint></cfg:CertificateThumbprint><cfg:AllowRemoteAccess>true</cfg:AllowRemoteAccess>"
        "</cfg:Service><cfg:Winrs><cfg:AllowRemoteShellAccess>true</cfg:AllowRemoteShellAccess>"
        f"<cfg:IdleTimeout>{idle_timeout_ms}</cfg:IdleTimeout><cfg:MaxConcurrentUsers>10</cfg:MaxConcurrentUsers>"
        "<cfg:MaxShellRunTime>2147483647</cfg:MaxShellRunTime><cfg:MaxProcessesPerShell>25</cfg:MaxProcessesPerShell>"
        "<cfg:MaxMemoryPerShellMB>1024</cfg:MaxMemoryPerShellMB>"
        f"<cfg:MaxShellsPerUser>{max_shells_per_user}</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>"
    )
