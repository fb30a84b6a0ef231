"""CLIXML for the controller's pipelines at a fraction of pypsrp's CPU cost, byte for byte the same.

pypsrp 0.9's ``Serializer`` builds a table of ~30 closures for every value it serializes, copies metadata per
list entry, runs two regular expressions over every string, and pypsrp deep-copies every command's arguments
on each invocation; ``Message.pack`` then writes the tree through ElementTree's byte writer. On a 1,000-host
apply that was most of the controller's CPU (issue 17: measured with py-spy, 44 % in ``Fragmenter.fragment``).

``FastSerializer`` takes the values our scripts send (str, bool, int, None, dict, list — what
``sessions.batch_data`` produces) on a direct path that allocates the same RefIds and type-name references in
the same order, so the XML is identical (``tests/unit/test_fastclixml.py`` compares it with pypsrp's own on
generated values); anything else goes to pypsrp unchanged. A PSRP message object comes back as the UTF-8
bytes ``Message.pack`` would have produced from the tree (it takes bytes as they are). ``Frozen`` wraps a
parameter value so that pypsrp's deep copy of the command keeps it as it is (the value is only ever read).
Reading: primitive elements (strings, numbers, booleans, nulls) skip pypsrp's per-element table and its
re-serialization of the element to text, which it only needs for complex objects.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from pypsrp import messages
from pypsrp.complex_objects import (
    Command,
    ComplexObject,
    DictionaryMeta,
    GenericComplexObject,
    ListMeta,
    ObjectMeta,
)
from pypsrp.serializer import Serializer

# Characters pypsrp's string encoder rewrites (``_x`` in any case, C0/C1 controls, non-BMP characters).
_NEEDS_ESCAPE = re.compile("(?i)_x|[\u0000-\u001f\u007f-\u009f\U00010000-\U0010ffff]")
_HASHTABLE = ["System.Collections.Hashtable", "System.Object"]  # DictionaryMeta's default type names
_ARRAY = ["System.Object[]", "System.Array", "System.Object"]  # ListMeta's default type names
_MESSAGES = tuple(t for t in vars(messages).values()
                  if isinstance(t, type) and issubclass(t, ComplexObject) and hasattr(t, "MESSAGE_TYPE"))
_SKIP = object()
_GUESSED = {dict: "DCT", list: "LST", str: "S", bool: "B", int: "I32"}  # pypsrp's tag for a plain value
# Tags pypsrp writes as element text: encoded strings, lower-cased booleans, numbers as str().
_TEXT_TAGS = {"S": "string", "ToString": "string", "URI": "string", "XD": "string", "SBK": "string", "B": "bool",
              **dict.fromkeys(("TS", "By", "SB", "U16", "I16", "U32", "I32", "U64", "I64", "Sg", "Db", "D", "G",
                               "Version"), "number")}
_ATTRS: dict[str | None, str] = {None: ""}  # a property name as written in its element: ' N="…"'
_ESCAPED: dict[str, str] = {}  # long strings (the scripts) as encoded once: every host is sent the same text


class _Unusual(Exception):
    """A tree the text writer does not take on (namespaces, tails, comments): ElementTree writes it."""


class _Raw(ET.Element):
    """Serialized text standing in for an element (a parameter's value); ``to_bytes`` writes it as it is."""

    __slots__ = ("raw",)
    raw: str


class Packed:
    """A PSRP message's CLIXML already written (``fastpipeline``): ``FastSerializer`` hands the bytes to
    ``Message.pack``, which takes bytes as they are."""

    MESSAGE_TYPE: int
    __slots__ = ("xml",)

    def __init__(self, xml: bytes) -> None:
        self.xml = xml


class Frozen:
    """A parameter value pypsrp must not deep-copy (it is serialized, never changed)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __copy__(self) -> Frozen:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Frozen:
        return self


def _int(element: ET.Element) -> int:
    return int(element.text or "")


def _float(element: ET.Element) -> float:
    return float(element.text or "")


def _bool(element: ET.Element) -> bool:
    return (element.text or "").lower() == "true"


def _text_of(element: ET.Element) -> str | None:
    return element.text


def _nil(element: ET.Element) -> None:
    return None


class _Dynamic(GenericComplexObject):
    """A PSCustomObject as pypsrp reads it; its XML text (``_xml``) is written only if someone asks (a message's
    top-level object keeps the text it was read from, as pypsrp's does)."""

    def __init__(self) -> None:
        self._element: ET.Element | None = None
        self._text: str | None = None
        super().__init__()

    @property
    def _xml(self) -> str | None:
        if self._text is not None:
            return self._text
        return None if self._element is None else ET.tostring(self._element, encoding="utf-8").decode("utf-8")

    @_xml.setter
    def _xml(self, value: str | None) -> None:
        if value is None:
            self._element = None
        self._text = value


class _NoCopyCommand(Command):
    """A command whose arguments are ``Frozen``: pypsrp's defensive deep copy (for XML elements used as
    values, which may only have one parent) has nothing to protect."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoCopyCommand:
        return self


# How pypsrp reads the objects our scripts output (its type table: System.Object -> a dynamic object,
# Object[] and ArrayList -> a list, Hashtable -> a dict); any other type list takes pypsrp's own path.
_PSCUSTOMOBJECT = ("System.Management.Automation.PSCustomObject", "System.Object")
_OBJECT_ARRAY = ("System.Object[]", "System.Array", "System.Object")
_HASHTABLE_TYPES = ("System.Collections.Hashtable", "System.Object")
_ARRAY_LIST = ("System.Collections.ArrayList", "System.Object")  # PSVersionTable's PSCompatibleVersions

# Primitive CLIXML elements read exactly as pypsrp reads them (MS-PSRP 2.2.5.1).
_PRIMITIVES: dict[str, Any] = {
    "B": _bool, "By": _int, "SB": _int, "U16": _int, "I16": _int, "U32": _int, "I32": _int, "U64": _int,
    "I64": _int, "Sg": _float, "Db": _float, "Nil": _nil,
    # Read as their text (pypsrp's own reading: a version, a date, a duration, a decimal); a pool's opening
    # messages carry a dozen versions (the host's PSVersionTable), each a full pass of pypsrp's reader.
    "Version": _text_of, "DT": _text_of, "TS": _text_of, "D": _text_of,
}


class FastSerializer(Serializer):
    def serialize(self, value: Any, metadata: ObjectMeta | None = None, parent: ET.Element | None = None,
                  clear: bool = True) -> Any:
        if isinstance(value, Packed):
            return value.xml
        if clear:
            self._clear()
        frozen = type(value) is Frozen
        if frozen:
            value = value.value
        # A command's arguments are serialized twice per message (pypsrp writes both Cmds and ExtraCmds) and,
        # not deep-copied (no_copy), keep the tag the first pass recorded: the same as guessing it again.
        if frozen and type(metadata) is ObjectMeta and metadata.tag == _GUESSED.get(type(value)):
            metadata.tag = "*"
        if metadata is None or (type(metadata) is ObjectMeta and metadata.tag == "*"):
            if frozen and type(value) in (dict, list):
                raw = self._raw(value, metadata, parent)
                if raw is not None:
                    return raw
            element = self._plain(value, metadata, parent)
            if element is not _SKIP:
                return element
        elif type(metadata) is ObjectMeta and metadata.tag in _TEXT_TAGS and not isinstance(value, ET.Element):
            return self._tagged(value, metadata, parent)
        result = super().serialize(value, metadata, parent, clear=False)
        if clear and parent is None and isinstance(value, _MESSAGES) and isinstance(result, ET.Element):
            # What Message.pack does with the tree (no XML declaration for UTF-8), through the faster text writer.
            return to_bytes(result)
        return result

    def _tagged(self, value: Any, metadata: ObjectMeta, parent: ET.Element | None) -> ET.Element | None:
        """A value pypsrp's own objects declare the type of (a string, a flag, a number), as pypsrp writes it."""
        if value is None:
            if metadata.optional:
                return None
            element = ET.Element("Nil")
        else:
            element = ET.Element(metadata.tag)
            kind = _TEXT_TAGS[metadata.tag]
            element.text = (self._serialize_string(value) if kind == "string"
                            else str(value).lower() if kind == "bool" else str(value))
        if metadata.name is not None:
            element.attrib["N"] = metadata.name
        if parent is not None:
            parent.append(element)
        return element

    def _serialize_string(self, value: str | None) -> str | None:
        """pypsrp's string encoding, skipped when there is nothing to encode and remembered for long strings
        (the scripts: every host is sent the same text)."""
        if value is None or type(value) is not str:
            result: str | None = super()._serialize_string(value)
            return result
        if _NEEDS_ESCAPE.search(value) is None:
            return value
        if len(value) < 256:
            return str(super()._serialize_string(value))
        escaped = _ESCAPED.get(value)
        if escaped is None:
            escaped = str(super()._serialize_string(value))
            if len(_ESCAPED) < 64:
                _ESCAPED[value] = escaped
        return escaped

    def _raw(self, value: Any, metadata: ObjectMeta | None, parent: ET.Element | None) -> _Raw | None:
        """A parameter's hashtable or array written straight as text (a ``_Raw`` element only ``to_bytes``
        writes), with the RefIds and type references the element path would allocate; None (nothing
        allocated) when it holds something else."""
        saved = (self.obj_id, dict(self.tn), self.tn_id)
        out: list[str] = []
        try:
            self._text(value, None if metadata is None else metadata.name, out)
        except _Unusual:
            self.obj_id, self.tn, self.tn_id = saved
            return None
        if metadata is not None:
            metadata.tag = "DCT" if type(value) is dict else "LST"
        element = _Raw("Raw")
        element.raw = "".join(out)
        if parent is not None:
            parent.append(element)
        return element

    def _text(self, value: Any, name: str | None, out: list[str]) -> None:
        attr = _ATTRS.get(name)  # the names are a few (Key, Value, the parameters'): escaped once
        if attr is None:
            attr = "" if name is None else f' N="{_escape_attrib(name)}"'
            if len(_ATTRS) < 1024:
                _ATTRS[name] = attr
        kind = type(value)
        if kind is str:
            text = _escape_cdata(self._serialize_string(value) or "")
            out.append(f"<S{attr}>{text}</S>" if text else f"<S{attr} />")
        elif kind is bool:
            out.append(f"<B{attr}>{'true' if value else 'false'}</B>")
        elif kind is int:
            out.append(f"<I32{attr}>{value}</I32>")
        elif value is None:
            out.append(f"<Nil{attr} />")
        elif kind is dict or kind is list:
            out.append(f'<Obj RefId="{self._get_obj_id()}"{attr}>')
            self._text_tn(_HASHTABLE if kind is dict else _ARRAY, out)
            tag = "DCT" if kind is dict else "LST"
            if not value:
                out.append(f"<{tag} />")
            else:
                out.append(f"<{tag}>")
                if kind is dict:
                    for key, item in value.items():
                        out.append("<En>")
                        self._text(key, "Key", out)
                        self._text(item, "Value", out)
                        out.append("</En>")
                else:
                    for item in value:
                        self._text(item, None, out)
                out.append(f"</{tag}>")
            out.append("</Obj>")
        else:
            raise _Unusual

    def _text_tn(self, types: list[str], out: list[str]) -> None:
        # pypsrp's _create_tn: the first object of a type lists its names, later ones refer to that list.
        ref_id = self.tn.get(types[0])
        if ref_id is None:
            ref_id = self.tn[types[0]] = self.tn_id
            self.tn_id += 1
            out.append(f'<TN RefId="{ref_id}">' + "".join(f"<T>{_escape_cdata(t)}</T>" for t in types) + "</TN>")
        else:
            out.append(f'<TNRef RefId="{ref_id}" />')

    def _plain(self, value: Any, metadata: ObjectMeta | None, parent: ET.Element | None) -> Any:
        kind = type(value)
        element: ET.Element | None
        if kind is str:
            tag, element = "S", ET.Element("S")
            element.text = self._serialize_string(value)
        elif kind is bool:
            tag, element = "B", ET.Element("B")
            element.text = "true" if value else "false"
        elif kind is int:
            tag, element = "I32", ET.Element("I32")
            element.text = str(value)
        elif kind is dict:
            tag, element = "DCT", ET.Element("Obj", RefId=self._get_obj_id())
            self._create_tn(element, _HASHTABLE)
            entries = ET.SubElement(element, "DCT")
            for key, item in value.items():
                entry = ET.SubElement(entries, "En")
                self.serialize(key, ObjectMeta(name="Key"), parent=entry, clear=False)
                self.serialize(item, ObjectMeta(name="Value"), parent=entry, clear=False)
        elif kind is list:
            tag, element = "LST", ET.Element("Obj", RefId=self._get_obj_id())
            self._create_tn(element, _ARRAY)
            entries = ET.SubElement(element, "LST")
            for item in value:
                self.serialize(item, ObjectMeta(), parent=entries, clear=False)
        elif value is None:
            tag = "S"  # pypsrp's type guess for None (its catch-all)
            if metadata is not None and metadata.optional:
                metadata.tag = tag
                return None
            element = ET.Element("Nil")
        else:
            return _SKIP
        if metadata is not None:
            metadata.tag = tag  # pypsrp records the guessed tag on the metadata it was given
            if metadata.name is not None:
                element.attrib["N"] = metadata.name
        if parent is not None:
            parent.append(element)
        return element

    def deserialize(self, element: Any, metadata: ObjectMeta | None = None, clear: bool = True) -> Any:
        if clear:
            self._clear()
        if type(element) is str and metadata is None:
            # A PIPELINE_OUTPUT message's text: pypsrp builds its whole type table to read it.
            value = self._output(element)
            if value is not _SKIP:
                return value
        if isinstance(element, ET.Element):
            tag = element.tag
            generic = metadata is None or (type(metadata) is ObjectMeta and metadata.tag == "*")
            # pypsrp reads a primitive by its element whatever the metadata, recording the tag on "*" metadata.
            if tag == "S" or tag == "ToString":
                text = element.text
                if text is None or "_x" not in text:  # its decoder only rewrites _xHHHH_ sequences
                    if generic and metadata is not None:
                        metadata.tag = tag
                    return text or ""
            elif tag in _PRIMITIVES:
                if generic and metadata is not None:
                    metadata.tag = tag
                return _PRIMITIVES[tag](element)
            elif tag == "Obj" and (generic or _dynamic_meta(metadata)):
                value = self._known_object(element, metadata, generic)
                if value is not _SKIP:
                    return value
            elif tag == "Obj" and type(metadata) is DictionaryMeta:
                # A hashtable property of pypsrp's own objects (ApplicationPrivateData's): what pypsrp does with
                # it, without writing the element out as text first (a dict keeps no text).
                self._get_types_from_obj(element)
                value = self._deserialize_dct(element)
                self.obj[element.attrib["RefId"]] = value
                return value
        return super().deserialize(element, metadata, clear=False)

    def _output(self, text: str) -> Any:
        """An output object from its text, as pypsrp reads it (a primitive, or a PSCustomObject, object array or
        hashtable keeping the text as its ``_xml``); _SKIP, with nothing read, for anything else."""
        try:
            element = ET.fromstring(text)
        except ET.ParseError:
            return _SKIP  # pypsrp logs it and hands back the text
        tag = element.tag
        if tag in _PRIMITIVES or (tag in ("S", "ToString") and "_x" not in (element.text or "")):
            return self.deserialize(element, None, clear=False)
        if tag != "Obj":
            return _SKIP
        value = self._known_object(element, None, True)
        if isinstance(value, GenericComplexObject):
            value._xml = text
        return value

    def _known_object(self, element: ET.Element, metadata: ObjectMeta | None, generic: bool) -> Any:
        """A PSCustomObject, object array or hashtable without pypsrp's per-object type table and text copy."""
        if generic:
            tn = element.find("TN")
            if tn is not None:
                types = tuple(t.text or "" for t in tn.findall("T"))
            else:
                ref = element.find("TNRef")
                if ref is None or ref.attrib.get("RefId") not in self.tn:
                    return _SKIP
                types = tuple(self.tn[ref.attrib["RefId"]])
            if types not in (_PSCUSTOMOBJECT, _OBJECT_ARRAY, _HASHTABLE_TYPES, _ARRAY_LIST):
                return _SKIP
            if metadata is not None:
                metadata.tag = "Obj"
        else:
            types = _PSCUSTOMOBJECT  # array entries: pypsrp reads every object in an Object[] as a dynamic one
        self._get_types_from_obj(element)  # registers the type names' reference, as pypsrp does first
        value: Any
        if types == _PSCUSTOMOBJECT:
            value = self._deserialize_dynamic_obj(element, ObjectMeta("ObjDynamic", object=_Dynamic))
            value._element = element
        elif types == _OBJECT_ARRAY:
            value = self._deserialize_lst(element, ListMeta(list_value_meta=ObjectMeta(
                "ObjDynamic", object=GenericComplexObject)))
        elif types == _ARRAY_LIST:
            value = self._deserialize_lst(element, ListMeta())
        else:
            value = self._deserialize_dct(element)
        self.obj[element.attrib["RefId"]] = value
        return value


def _dynamic_meta(metadata: ObjectMeta | None) -> bool:
    return (type(metadata) is ObjectMeta and metadata is not None and metadata.tag == "ObjDynamic"
            and metadata.object is GenericComplexObject)


def to_bytes(element: ET.Element) -> bytes:
    """``ET.tostring(element, encoding="utf-8")`` (no XML declaration for UTF-8), written without ElementTree's
    per-fragment encoder calls."""
    out: list[str] = []
    try:
        _write(element, out)
    except _Unusual:
        data: bytes = ET.tostring(_expanded(element), encoding="utf-8")
        return data
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def _expanded(element: ET.Element) -> ET.Element:
    """The tree with each ``_Raw`` stand-in parsed back into elements (for ElementTree's writer)."""
    if type(element) is _Raw:
        return ET.fromstring(element.raw)
    copy = ET.Element(element.tag, element.attrib)
    copy.text, copy.tail = element.text, element.tail
    copy.extend(_expanded(child) for child in element)
    return copy


def _write(element: ET.Element, out: list[str]) -> None:
    if type(element) is _Raw:
        out.append(element.raw)
        return
    tag = element.tag
    if type(tag) is not str or tag[:1] == "{" or element.tail:
        raise _Unusual
    out.append("<" + tag)
    for key, value in element.attrib.items():
        if type(key) is not str or type(value) is not str or key[:1] == "{":
            raise _Unusual
        out.append(f' {key}="{_escape_attrib(value)}"')
    text = element.text
    if text or len(element):
        out.append(">")
        if text:
            out.append(_escape_cdata(text))
        for child in element:
            _write(child, out)
        out.append("</" + tag + ">")
    else:
        out.append(" />")


def _escape_cdata(text: str) -> str:
    # As ElementTree escapes character data.
    if type(text) is not str:
        raise _Unusual
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attrib(text: str) -> str:
    # As ElementTree escapes attribute values (CR, LF and TAB as character references).
    text = _escape_cdata(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text


def speed_up(pool: Any) -> None:
    """Give an unopened pypsrp RunspacePool the fast serializer (its fragmenter shares the same object)."""
    pool._serializer.__class__ = FastSerializer


def no_copy(commands: list[Any]) -> None:
    """Commands whose parameter values are all ``Frozen`` skip pypsrp's deep copy on invocation."""
    for command in commands:
        if type(command) is Command and all(type(arg.value) is Frozen for arg in command.args):
            command.__class__ = _NoCopyCommand
