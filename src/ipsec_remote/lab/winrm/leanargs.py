"""Command arguments of a CreatePipeline message read straight into lab values.

psrpcore turns every CLIXML element into a ``PSObject`` (its metaclass machinery costs ~10 µs per string) and
``convert.from_ps`` then turns those into lab values: for the controller's batches (hundreds of strings per
pipeline) that was a quarter of the lab's CPU on a 1,000-host fleet (issue 17, profiled with py-spy and
yappi). ``LeanReader`` is psrpcore's own reader for a CreatePipeline message, except that a command
argument's value (``<… N="V">`` inside the pipeline's ``Args``, MS-PSRP 2.2.3.13) made only of strings,
numbers, booleans, nulls, hashtables and object arrays is read directly into the lab value ``from_ps`` would
have produced, wrapped in ``Lifted``. Anything else (a reference, a typed object, extra members) is read by
psrpcore as before. ``tests/lab/winrm/test_leanargs.py`` checks both give the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from psrpcore.types import PSString
from psrpcore.types._serializer import _deserialize_string, _Serializer

from ..values import PSHashtable

_HASHTABLE = ("System.Collections.Hashtable", "System.Object")
_OBJECT_ARRAY = ("System.Object[]", "System.Array", "System.Object")
_INT_RANGES = {"I32": (-2**31, 2**31 - 1), "I64": (-2**63, 2**63 - 1)}


class Lifted:
    """An argument value already in the lab's value model (``convert.from_ps`` would give the same)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _NotPlain(Exception):
    """The value holds something only psrpcore knows how to read."""


class PlainValues:
    """Argument values read straight into lab values; ``types`` maps TN RefIds to type names (shared with the
    reader of the rest of the message, so references either way resolve)."""

    def __init__(self, types: dict[str, list[str]]) -> None:
        self.types = types

    def read(self, element: ElementTree.Element) -> Any:
        tag = element.tag
        if tag == "S":
            return _text(element.text or "")
        if tag in _INT_RANGES:
            number = int(element.text or "")
            low, high = _INT_RANGES[tag]
            if not low <= number <= high:
                raise _NotPlain  # psrpcore refuses it: let it
            return number
        if tag == "B":
            return (element.text or "").lower() == "true"
        if tag == "Nil":
            return None
        if tag != "Obj":
            raise _NotPlain
        types = self._type_names(element)
        body = [child for child in element if child.tag not in ("TN", "TNRef")]
        if len(body) != 1:
            raise _NotPlain
        (content,) = body
        if types == _HASHTABLE and content.tag == "DCT":
            table = PSHashtable()
            for entry in content:
                key = value = None
                for part in entry:  # psrpcore takes the first Key and the first Value
                    name = part.attrib.get("N")
                    if name == "Key" and key is None:
                        key = part
                    elif name == "Value" and value is None:
                        value = part
                if entry.tag != "En" or key is None or value is None:
                    raise _NotPlain
                table[str(self.read(key))] = self.read(value)
            return table
        if types == _OBJECT_ARRAY and content.tag == "LST":
            return [self.read(item) for item in content]
        raise _NotPlain

    def _type_names(self, element: ElementTree.Element) -> tuple[str, ...]:
        """The object's type names, registering a definition for later references as psrpcore does."""
        tn = element.find("TN")
        if tn is not None:
            names = [t.text or "" for t in tn.findall("T")]
            self.types[tn.attrib["RefId"]] = names
            return tuple(names)
        ref = element.find("TNRef")
        if ref is not None and ref.attrib.get("RefId") in self.types:
            return tuple(self.types[ref.attrib["RefId"]])
        raise _NotPlain


class LeanReader(_Serializer):
    """psrpcore's reader, except for the arguments' values (``Lifted``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._args_depth = 0

    def deserialize(self, element: ElementTree.Element) -> Any:
        name = element.attrib.get("N")
        if name == "V" and self._args_depth:
            tn_before = dict(self._tn_ref_map)
            try:
                return Lifted(PlainValues(self._tn_ref_map).read(element))
            except _NotPlain:
                self._tn_ref_map.clear()
                self._tn_ref_map.update(tn_before)
        if element.tag == "S" and len(element.text or "") > 256:
            return PSString(_text(element.text or ""))  # a script's text: the same for every host
        if name == "Args":
            self._args_depth += 1
            try:
                return super().deserialize(element)
            finally:
                self._args_depth -= 1
        return super().deserialize(element)


def _text(text: str) -> str:
    """A CLIXML string's text (``_xHHHH_`` escapes decoded), long ones remembered."""
    if "_x" not in text:
        return text
    return _long_text(text) if len(text) > 256 else str(_deserialize_string(text))


@functools.lru_cache(maxsize=64)
def _long_text(text: str) -> str:
    return str(_deserialize_string(text))


def read_create_pipeline(data: bytes, cipher: Any, **kwargs: Any) -> Any:
    """A CreatePipeline message's object, as psrpcore's ``deserialize`` reads it but with ``Lifted`` arguments."""
    return LeanReader(cipher, **kwargs).deserialize(ElementTree.fromstring(data))


@dataclass(slots=True)
class LeanCommand:
    """The attributes of psrpcore's ``Command`` the lab reads (psrpcore's PSObject machinery made building
    one cost as much as parsing its XML)."""

    command_text: str
    is_script: bool
    use_local_scope: bool | None
    parameters: list[tuple[str | None, Any]] = field(default_factory=list)
    end_of_statement: bool = False


@dataclass(slots=True)
class LeanPipeline:
    """The attributes of psrpcore's ``PowerShell`` the lab reads: NoInput and the commands."""

    no_input: bool
    commands: list[LeanCommand] = field(default_factory=list)


def read_pipeline(data: bytes) -> LeanPipeline | None:
    """What the lab runs from a CreatePipeline message (MS-PSRP 2.2.2.10: NoInput, and the PowerShell's
    commands — text, script or cmdlet, local scope, arguments — statement by statement), read without
    psrpcore's objects; None when the message has a shape this reader does not know (psrpcore reads it).

    The apartment state, stream options, history flag, host information and stream merges are not read:
    the lab uses none of them.
    """
    root = ElementTree.fromstring(data)
    reader = PlainValues({tn.attrib.get("RefId", ""): [t.text or "" for t in tn.findall("T")]
                          for tn in root.iter("TN")})
    try:
        fields = _members(root)
        pipeline = _members(fields["PowerShell"])
        extra = pipeline.get("ExtraCmds")
        statements = ([_members(s)["Cmds"] for s in _list(extra)] if extra is not None and extra.tag == "Obj"
                      else [pipeline["Cmds"]])
        powershell = LeanPipeline(no_input=_flag(fields["NoInput"]))
        for statement in statements:
            commands = [_command(c, reader) for c in _list(statement)]
            if not commands:
                return None
            commands[-1].end_of_statement = True
            powershell.commands.extend(commands)
    except (KeyError, _NotPlain):
        return None
    return powershell


def _members(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """An object's extended members by name."""
    members = element.find("MS")
    if element.tag != "Obj" or members is None:
        raise _NotPlain
    return {m.attrib["N"]: m for m in members if "N" in m.attrib}


def _list(element: ElementTree.Element) -> list[ElementTree.Element]:
    entries = element.find("LST")
    if element.tag != "Obj" or entries is None:
        raise _NotPlain
    return list(entries)


def _flag(element: ElementTree.Element) -> bool:
    if element.tag != "B":
        raise _NotPlain
    return (element.text or "").lower() == "true"


def _command(element: ElementTree.Element, reader: PlainValues) -> LeanCommand:
    fields = _members(element)
    text, scope = fields["Cmd"], fields["UseLocalScope"]
    if text.tag != "S":
        raise _NotPlain
    command = LeanCommand(_text(text.text or ""), is_script=_flag(fields["IsScript"]),
                          use_local_scope=None if scope.tag == "Nil" else _flag(scope))
    for argument in _list(fields["Args"]):
        parts = _members(argument)
        name = parts["N"]
        if name.tag not in ("S", "Nil"):
            raise _NotPlain
        command.parameters.append((None if name.tag == "Nil" else _text(name.text or ""),
                                   Lifted(reader.read(parts["V"]))))
    return command


def lab_value(value: Any, from_ps: Callable[[Any], Any]) -> Any:
    """An argument as a lab value: lifted ones are already converted."""
    return value.value if isinstance(value, Lifted) else from_ps(value)
