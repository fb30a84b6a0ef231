"""The controller's fast CLIXML writer and reader give exactly what pypsrp's own Serializer gives."""

from __future__ import annotations

import copy
import struct
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psrpcore.types import serialize as ps_serialize
from pypsrp import messages as M
from pypsrp.complex_objects import (
    ApartmentState,
    Command,
    CommandParameter,
    GenericComplexObject,
    HostInfo,
    ObjectMeta,
    Pipeline,
    RemoteStreamOptions,
)
from pypsrp.serializer import Serializer

from ipsec_remote.lab.values import PSObject as LabObject
from ipsec_remote.lab.winrm.convert import to_ps
from ipsec_remote.remote.fastclixml import FastSerializer, Frozen, no_copy, to_bytes
from ipsec_remote.remote.transport import plain, script_text

RPID = "00000000-0000-0000-0000-000000000001"
PID = "00000000-0000-0000-0000-000000000002"

# Strings with what pypsrp escapes: _x in either case, control characters, non-BMP characters, XML specials.
texts = st.text(alphabet=st.sampled_from(list("abcXx_ <>&\"'\n\r\t\x00\x1f\x85é€\U0001F600")), max_size=12)
scalars = st.one_of(texts, st.booleans(), st.integers(-2**40, 2**40), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=30)


def pack(serializer: Serializer, script: str, params: dict[str, Any], wrap: Any) -> bytes:
    command = Command(cmd=script, is_script=True, use_local_scope=None, protocol_version="2.3")
    for name, value in params.items():
        command.args.append(CommandParameter(name=name, value=wrap(value)))
    if wrap is Frozen:
        no_copy([command])  # as the transport sends them: the same command objects serialized twice
    pipeline = Pipeline(is_nested=False, cmds=[command], history=None, redirect_err_to_out=False)
    create = M.CreatePipeline(True, ApartmentState(value=ApartmentState.UNKNOWN),
                              RemoteStreamOptions(value=RemoteStreamOptions.ADD_INVOCATION_INFO), False,
                              HostInfo(host=None), pipeline, False)
    data: bytes = M.Message(M.Destination.SERVER, RPID, PID, create, serializer).pack()
    return data


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["Calls", "Guard", "Probes", "Group"]), values, max_size=4))
def test_a_pipeline_message_is_byte_for_byte_pypsrps(params: dict[str, Any]) -> None:
    script = script_text("invoke_batch")
    expected = pack(Serializer(), script, copy.deepcopy(params), lambda v: v)
    assert pack(FastSerializer(), script, params, Frozen) == expected


def read(serializer: Serializer, xml: str, element: bool) -> tuple[str, Any, str]:
    """(outcome, value as plain data, the metadata tag the reader recorded)."""
    meta = ObjectMeta()
    try:
        value = serializer.deserialize(ET.fromstring(xml) if element else xml, meta)
    except Exception as exc:  # pypsrp itself fails on some nested arrays: the fast reader must fail alike
        return type(exc).__name__, None, meta.tag
    return "ok", plain(value), meta.tag


def outputs(inner: Any) -> Any:
    """What our scripts output, as a Windows host serializes it: [pscustomobject]s, arrays, hashtables."""
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=3),
                     st.dictionaries(st.sampled_from(["Name", "Rules", "_x", "Ok"]), inner, max_size=4).map(
                         lambda props: LabObject.custom(props)))


host_values = st.recursive(scalars, outputs, max_leaves=25)


def host_xml(value: Any) -> str:
    return ET.tostring(ps_serialize(to_ps(value), None), encoding="utf-8").decode()


def read_full(serializer: Serializer, xml: str, element: bool) -> tuple[str, Any, str, list[Any]]:
    """``read`` plus, for every dynamic object in the result, its type names, ToString and XML text."""
    outcome, value, tag = read(serializer, xml, element)
    found: list[Any] = []
    if outcome == "ok":
        found = dynamic_details(serializer.deserialize(ET.fromstring(xml) if element else xml))
    return outcome, value, tag, found


def dynamic_details(value: Any) -> list[Any]:
    if isinstance(value, GenericComplexObject):
        nested = [*value.extended_properties.values(), *value.adapted_properties.values()]
        return [(type(value).__mro__[-3].__name__, value.types, value.to_string, value._xml),
                *(d for v in nested for d in dynamic_details(v))]
    if isinstance(value, list):
        return [d for v in value for d in dynamic_details(v)]
    if isinstance(value, dict):
        return [d for v in value.values() for d in dynamic_details(v)]
    return []


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_reading_back_matches_pypsrp(value: Any) -> None:
    xml = ET.tostring(Serializer().serialize(copy.deepcopy(value)), encoding="utf-8").decode()
    for element in (False, True):
        assert read(FastSerializer(), xml, element) == read(Serializer(), xml, element)


@settings(max_examples=300, deadline=None)
@given(value=host_values)
def test_reading_host_output_matches_pypsrp(value: Any) -> None:
    xml = host_xml(value)
    for element in (False, True):
        assert read_full(FastSerializer(), xml, element) == read_full(Serializer(), xml, element)


@given(value=values)
def test_the_text_writer_is_elementtrees(value: Any) -> None:
    element = Serializer().serialize(copy.deepcopy(value))
    assert element is not None
    assert to_bytes(element) == ET.tostring(element, encoding="utf-8")


def test_frozen_values_survive_pypsrps_deep_copy_as_they_are() -> None:
    calls = [{"cmdlet": "New-NetIPsecRule", "params": {"DisplayName": "x"}}]
    frozen = Frozen(calls)
    assert copy.deepcopy(frozen) is frozen and copy.copy(frozen) is frozen


@given(attrib=st.dictionaries(st.sampled_from(["N", "RefId", "x"]), texts, max_size=3), text=st.none() | texts,
       children=st.integers(0, 2))
def test_the_text_writer_escapes_attributes_and_text_as_elementtree(attrib: dict[str, str], text: str | None,
                                                                    children: int) -> None:
    element = ET.Element("Obj", attrib)
    element.text = text
    for i in range(children):
        ET.SubElement(element, "S", {"N": f"c{i}"}).text = text
    assert to_bytes(element) == ET.tostring(element, encoding="utf-8")


def test_raw_text_is_parsed_back_when_elementtree_must_write_the_tree() -> None:
    params = {"Calls": [{"cmdlet": "New-NetIPsecRule", "params": {"DisplayName": "a<b", "Enabled": True}}]}
    serializer = FastSerializer()
    element = serializer.serialize(Frozen(params), None)
    plain = Serializer().serialize(copy.deepcopy(params), None)
    assert element is not None and plain is not None
    assert to_bytes(element) == ET.tostring(plain, encoding="utf-8")
    outer, twin = ET.Element("Obj"), ET.Element("Obj")
    outer.append(element)
    twin.append(plain)
    outer.tail = twin.tail = "\n"  # a tail: the text writer hands the tree to ElementTree
    assert to_bytes(outer) == ET.tostring(twin, encoding="utf-8")


@pytest.mark.parametrize("xml", [
    # A message's text as a host may write it (quoting, spacing): a top-level object keeps that very text.
    "<Obj RefId='0'><TN RefId='0'><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>"
    "<MS><S N='Name'>a</S> <I32 N='Count'>2</I32></MS></Obj>",
    '<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN>'
    '<LST><S>x</S><Obj RefId="1"><TNRef RefId="0" /><LST /></Obj></LST></Obj>',
    # Types the fast reader leaves to pypsrp, and text that is no XML at all.
    '<Obj RefId="0"><TN RefId="0"><T>System.Version</T><T>System.Object</T></TN><ToString>1.2</ToString>'
    '<Version>1.2</Version></Obj>',
    "<S>a_x000A_b</S>", "<I64>7</I64>", "not xml <",
])
def test_an_output_messages_text_is_read_as_pypsrp_reads_it(xml: str) -> None:
    # Watched it fail with the top-level object's _xml written back from the parsed tree.
    assert read_full(FastSerializer(), xml, False) == read_full(Serializer(), xml, False)


def dump(value: Any, depth: int = 0) -> Any:
    """Everything pypsrp's reader recorded on a value (attributes of its objects, recursively)."""
    if depth > 12:
        return "…"
    if isinstance(value, dict):
        return {str(k): dump(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [dump(v, depth + 1) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, type):
        public = next(c for c in type(value).__mro__ if not c.__name__.startswith("_"))  # _Dynamic: its base
        return (public.__name__, {k: dump(v, depth + 1) for k, v in vars(value).items()
                                                   if k not in ("_element", "_text", "_xml")},
                getattr(value, "_xml", None))
    return value


PSVERSIONS = "".join(f'<En><S N="Key">{k}</S><Version N="Value">{v}</Version></En>'
                     for k, v in [("PSVersion", "5.1.20348.2849"), ("BuildVersion", "10.0.20348.2849"),
                                  ("WSManStackVersion", "3.0")])
OPENING = [  # what a host sends when a pool opens (MS-PSRP 2.2.2.1, 2.2.2.13, 2.2.2.3), and a pipeline's end
    (M.MessageType.SESSION_CAPABILITY, '<Obj RefId="0"><MS><Version N="PSVersion">2.0</Version><Version '
     'N="protocolversion">2.3</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>'),
    (M.MessageType.APPLICATION_PRIVATE_DATA, '<Obj RefId="0"><MS><Obj RefId="1" N="ApplicationPrivateData"><TN '
     'RefId="0"><T>System.Management.Automation.PSPrimitiveDictionary</T><T>System.Collections.Hashtable</T>'
     '<T>System.Object</T></TN><DCT><En><S N="Key">PSVersionTable</S><Obj RefId="2" N="Value"><TN RefId="1"><T>'
     'System.Collections.Hashtable</T><T>System.Object</T></TN><DCT>' + PSVERSIONS + '<En><S N="Key">'
     'PSCompatibleVersions</S><Obj RefId="3" N="Value"><TN RefId="2"><T>System.Collections.ArrayList</T><T>'
     'System.Object</T></TN><LST><Version>1.0</Version><Version>5.1.20348.2849</Version></LST></Obj></En>'
     '</DCT></Obj></En></DCT></Obj></MS></Obj>'),
    (M.MessageType.RUNSPACEPOOL_STATE, '<Obj RefId="0"><MS><I32 N="RunspaceState">2</I32></MS></Obj>'),
    (M.MessageType.PIPELINE_STATE, '<Obj RefId="0"><MS><I32 N="PipelineState">4</I32></MS></Obj>'),
    (M.MessageType.PIPELINE_OUTPUT, '<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
     '</T><T>System.Object</T></TN><MS><Version N="V">1.2</Version><DT N="At">2026-01-02T03:04:05Z</DT>'
     '<TS N="Took">PT1.5S</TS><D N="Amount">1.50</D><Version N="Empty"></Version></MS></Obj>'),
]


@pytest.mark.parametrize("message_type, text", OPENING)
def test_a_hosts_messages_are_unpacked_as_pypsrp_unpacks_them(message_type: int, text: str) -> None:
    # Watched it fail with a version read as its element rather than its text, and with PSCompatibleVersions
    # (an ArrayList) read as a tuple.
    data = struct.pack("<II", 0x00010000 if message_type < 0x20000 else 0x00040000, message_type) + bytes(32) \
        + text.encode()
    assert dump(M.Message.unpack(data, FastSerializer()).data) == dump(M.Message.unpack(data, Serializer()).data)
