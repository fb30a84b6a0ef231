"""The controller's WSMan envelopes are written byte for byte as ElementTree writes them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypsrp.exceptions import WinRMError
from pypsrp.powershell import RunspacePool
from pypsrp.shell import SignalCode
from pypsrp.wsman import NAMESPACES, SelectorSet
from test_fastclixml import texts

from ipsec_remote.remote import fastwsman
from ipsec_remote.remote.fastwsman import FastWSMan, envelope_bytes


class Sent(Exception):
    """The envelope was written; nothing is sent."""


def wsman() -> FastWSMan:
    return FastWSMan("host.invalid", ssl=True, auth="basic", username="u", password="p")


def test_every_envelope_a_pool_and_its_pipelines_send_is_elementtrees(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[bytes, bytes]] = []

    def recorded(root: ET.Element) -> bytes:
        written.append((envelope_bytes(root), ET.tostring(root, encoding="utf-8", method="xml")))
        raise Sent

    monkeypatch.setattr(fastwsman, "envelope_bytes", recorded)
    pool = RunspacePool(wsman())
    with pytest.raises(Sent):
        pool.open()  # Create: the shell with its creationXml (a plain xmlns attribute), an option with attributes
    shell = pool.shell
    shell.opened, shell.id = True, pool.id
    selectors = SelectorSet()
    selectors.add_option("ShellId", pool.id)
    shell._selector_set = selectors
    for send in (lambda: shell.command("", arguments=["AAAA"], command_id="C0FFEE"),
                 lambda: shell.receive("stdout"), lambda: shell.receive("stdout", command_id="C0FFEE", timeout=5),
                 lambda: shell.send("stdin", b"<&>", command_id="C0FFEE", end=True),
                 lambda: shell.signal(SignalCode.TERMINATE, "C0FFEE"), shell.close):
        with pytest.raises(Sent):
            send()
    assert len(written) == 7
    for mine, elementtrees in written:
        assert mine == elementtrees


def test_the_answer_must_relate_to_the_request() -> None:
    man = wsman()
    seen: dict[str, bytes] = {}

    def answer(message: bytes, **_: Any) -> bytes:
        seen["request"] = message
        return (f'<s:Envelope xmlns:s="{NAMESPACES["s"]}" xmlns:a="{NAMESPACES["wsa"]}"><s:Header>'
                "<a:RelatesTo>uuid:not-it</a:RelatesTo></s:Header><s:Body /></s:Envelope>").encode()

    man.transport.send = answer  # type: ignore[method-assign]
    with pytest.raises(WinRMError, match="does not match"):
        man.receive("http://schemas.microsoft.com/powershell/Microsoft.PowerShell", ET.Element("x"))
    assert seen["request"].startswith(b"<s:Envelope xmlns:s=")


names = st.sampled_from(["Obj", "{http://www.w3.org/2003/05/soap-envelope}Body", "{urn:unregistered}x",
                         "{urn:other}y", "{http://www.w3.org/XML/1998/namespace}lang"])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    element = ET.Element(draw(names), draw(st.dictionaries(names | st.just("xmlns"), texts, max_size=3)))
    element.text = draw(st.none() | texts)
    element.tail = draw(st.none() | texts) if depth else None
    if depth < 3:
        element.extend(draw(st.lists(trees(depth + 1), max_size=3)))
    return element


@settings(max_examples=300, deadline=None)
@given(tree=trees())
def test_generated_trees_are_written_as_elementtree_writes_them(tree: ET.Element) -> None:
    # Watched it fail with the namespace declarations in the order met instead of sorted by prefix.
    assert envelope_bytes(tree) == ET.tostring(tree, encoding="utf-8", method="xml")


def test_what_the_text_writer_does_not_take_on_goes_to_elementtree() -> None:
    root = ET.Element("a")
    root.append(ET.Comment("c"))
    root.append(ET.Element(ET.QName("urn:q", "b")))  # type: ignore[arg-type]
    assert envelope_bytes(root) == ET.tostring(root, encoding="utf-8", method="xml")
