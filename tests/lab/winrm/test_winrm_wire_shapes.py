"""Every WSMan response the lab sends has the element structure real Windows sends for the same request.

The expectations (``windows_wsman_shapes.json``) are derived by tools/derive_wsman_shapes.py from pypsrp's
recordings of real Windows hosts: per kind of response, every structure Windows was seen to send (hosts
differ: newer ones add ``p:ActivityId`` to the header, protocol 2.1 hosts send no ``rsp:Shell`` on Create).
The test drives the lab through every operation pypsrp performs — and the faults it answers with — with
unmodified pypsrp over HTTP(S), records each raw response, and requires each to equal one recorded shape.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan, _TransportHTTP
from wire_shapes import SHELL_URI, fault_code, response_kind, shape, without_activity_id

from ipsec_remote.lab.winrm import LabEndpoint

EXPECTED = json.loads((Path(__file__).parent / "windows_wsman_shapes.json").read_text("utf-8"))["kinds"]
RECORDED = {kind: {without_activity_id(entry["shape"]) for entry in entries} for kind, entries in EXPECTED.items()}
ANY_FAULT = {s for kind, shapes in RECORDED.items() if " fault " in kind for s in shapes}
PWSH = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
EndpointFactory = Callable[..., LabEndpoint]
Exchange = tuple[bytes, bytes]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Exchange]]:
    """Every (request, response) pypsrp exchanges, after decryption: pypsrp's own send, wrapped."""
    seen: list[Exchange] = []
    original = _TransportHTTP.send

    def send(self: _TransportHTTP, message: bytes, **kwargs: Any) -> bytes:
        try:
            response: bytes = original(self, message, **kwargs)
        except WinRMTransportError as err:  # a WSMan fault arrives as HTTP 500 with the fault envelope
            seen.append((message, err.response_text.encode("utf-8")))
            raise
        seen.append((message, response))
        return response

    monkeypatch.setattr(_TransportHTTP, "send", send)
    yield seen


def _raw(wsman: WSMan, action: str, resource_uri: str, shell_id: str, body: ET.Element | None = None,
         timeout: int | None = None) -> None:
    selectors = SelectorSet()
    selectors.add_option("ShellId", shell_id)
    wsman.invoke(action, resource_uri, body, selector_set=selectors, timeout=timeout)


def _receive_body(command_id: str | None = None) -> ET.Element:
    receive = ET.Element(f"{{{NAMESPACES['rsp']}}}Receive")
    stream = ET.SubElement(receive, f"{{{NAMESPACES['rsp']}}}DesiredStream")
    stream.text = "stdout"
    if command_id:
        stream.attrib["CommandId"] = command_id
    return receive


def exercise(wsman: WSMan) -> None:
    """Every operation pypsrp performs on a PowerShell endpoint, then the faults a client can meet."""
    pool = RunspacePool(wsman)
    pool.open()  # Create, Receive (pool state)
    assert pool.is_alive()  # Get on the shell
    wsman.update_max_payload_size()  # Get on the WinRM config
    ps = PowerShell(pool)
    ps.add_script("big").add_parameters({"Count": 1})
    assert ps.invoke() == ["x" * 1000]  # Command, Receive (Done)
    ps.close()  # Signal terminate
    large = PowerShell(pool)
    large.add_script("big").add_parameters({"Count": 600, "Padding": "p" * 800_000})
    assert len(large.invoke()) == 600  # Command + Send (fragments), several Receives (output in pieces)
    stopped = PowerShell(pool)
    stopped.add_script("input")
    stopped.begin_invoke()
    stopped.stop()  # Signal ctrl_c
    shell_id = str(pool.shell.id).upper()
    with pytest.raises(WSManFaultError) as info:  # Receive with nothing to say before OperationTimeout
        _raw(wsman, RECEIVE, PWSH, shell_id, _receive_body(), timeout=1)
    assert info.value.code == 2150858793
    with pytest.raises(WSManFaultError):  # Receive for a command the shell never ran
        _raw(wsman, RECEIVE, PWSH, shell_id, _receive_body(str(uuid.uuid4()).upper()))
    pool.close()  # Delete
    with pytest.raises(WSManFaultError):  # Get on a shell that no longer exists
        _raw(wsman, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", SHELL_URI, shell_id)
    with pytest.raises(WSManFaultError):  # Receive on a shell that no longer exists
        _raw(wsman, RECEIVE, PWSH, shell_id, _receive_body())


@pytest.mark.parametrize(("scheme", "auth"), [("https", "basic"), ("http", "ntlm")])
def test_every_lab_response_has_a_recorded_windows_shape(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], recorded: list[Exchange], scheme: str, auth: str
) -> None:
    ep = endpoint(scheme, auth)
    exercise(connect(ep))
    kinds: dict[str, int] = {}
    wrong: list[str] = []
    for request, response in recorded:
        req, resp = ET.fromstring(request), ET.fromstring(response)
        kind = response_kind(req, resp)
        assert kind is not None, request[:300]
        kinds[kind] = kinds.get(kind, 0) + 1
        allowed = RECORDED.get(kind) or (ANY_FAULT if " fault " in kind else set())
        got = without_activity_id(shape(resp))
        if got not in allowed:
            wrong.append(f"{kind} (code {fault_code(resp)}):\n  lab:     {got}\n  windows: "
                         + "\n           ".join(sorted(allowed)))
    assert not wrong, "\n".join(wrong)
    # Every operation and the faults pypsrp handles were met (the test proves nothing about kinds it skipped).
    assert {"Create", "Receive", "Command", "Send", "Signal", "Delete", "Get shell", "Get config",
            "Receive fault w:TimedOut", "Receive fault w:InvalidSelectors",
            "Get shell fault w:InvalidSelectors"} <= set(kinds), kinds


def test_expectations_cover_what_the_lab_answers() -> None:
    """The data file holds structure only and every kind the test above requires."""
    assert EXPECTED and all(entries for entries in EXPECTED.values())
    assert all("<" not in e["shape"] and "uuid" not in e["shape"].lower()
               for entries in EXPECTED.values() for e in entries)
