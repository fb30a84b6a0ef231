"""The structure of a WSMan response, as compared between the lab and recordings of real Windows.

``shape`` writes an element tree as ``prefix:Local[@attr,…]{child child …}``: namespaces by fixed prefixes
(so the prefixes a server picks do not matter, the namespaces do), children in document order, attribute
names without values, consecutive repeated siblings collapsed (a Receive carries one or many ``rsp:Stream``).
``response_kind`` names what a response answers: ``Create``, ``Receive``, … or ``Receive fault w:TimedOut``;
``None`` for resources the product never uses (cmd shells, enumerations).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

PREFIXES = {
    "http://www.w3.org/2003/05/soap-envelope": "s",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing": "a",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer": "x",
    "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd": "w",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell": "rsp",
    "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd": "p",
    "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault": "f",
    "http://schemas.microsoft.com/wbem/wsman/1/config": "cfg",
    "http://schemas.microsoft.com/powershell": "pwsh",
    "http://www.w3.org/XML/1998/namespace": "xml",
}
_S = "{http://www.w3.org/2003/05/soap-envelope}"
_A = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
_W = "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}"
_F = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}"
POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"


def _name(tag: str) -> str:
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return f"{PREFIXES.get(ns, ns)}:{local}"
    return tag


def shape(el: ET.Element) -> str:
    attrs = sorted(_name(a) for a in el.attrib)
    kids: list[str] = []
    for child in el:
        s = shape(child)
        if not kids or kids[-1] != s:
            kids.append(s)
    return (_name(el.tag) + (f"[@{',@'.join(attrs)}]" if attrs else "")
            + (f"{{{' '.join(kids)}}}" if kids else ""))


def without_activity_id(text: str) -> str:
    """A shape with the header's ``p:ActivityId`` left out: the recordings show it per host, not per operation
    (every response of some hosts carries it, none of others'), so the lab may send it or not."""
    return text.replace(" p:ActivityId ", " ", 1)


def response_kind(request: ET.Element, response: ET.Element) -> str | None:
    action = (request.findtext(f"{_S}Header/{_A}Action") or "").strip().rsplit("/", 1)[-1]
    uri = (request.findtext(f"{_S}Header/{_W}ResourceURI") or "").strip().rstrip("/")
    if action == "Get" and uri == CONFIG_URI:
        kind = "Get config"
    elif action == "Get" and (uri == SHELL_URI or uri.startswith(POWERSHELL_URI)):
        kind = "Get shell"
    elif uri.startswith(POWERSHELL_URI) and action in ("Create", "Command", "Send", "Receive", "Signal", "Delete"):
        kind = action
    else:
        return None
    fault = response.find(f"{_S}Body/{_S}Fault")
    if fault is not None:
        subcode = (fault.findtext(f"{_S}Code/{_S}Subcode/{_S}Value") or "").strip()
        return f"{kind} fault {subcode}"
    return kind


def fault_code(response: ET.Element) -> str | None:
    detail = response.find(f"{_S}Body/{_S}Fault/{_S}Detail/{_F}WSManFault")
    return detail.attrib.get("Code") if detail is not None else None
