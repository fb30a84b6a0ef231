"""Pipeline output written straight from lab values to CLIXML, as psrpcore writes ``convert.to_ps(value)``.

``to_ps`` builds psrpcore objects (each through psrpcore's PSObject machinery) that psrpcore then serializes
into an ElementTree and writes out: a fifth of the lab's CPU on a 1,000-host fleet (issue 17, py-spy). For the
values our scripts output — strings, booleans, integers (CIM unsigned ones keep their type), nulls, arrays,
hashtables, ``[pscustomobject]``s and CIM instances — ``clixml`` produces the same text directly: the same
element per type, RefIds in the same order, the same type-name references, properties in the same order and
the same escaping. Any other value (a date, a number with a fraction, bytes…) raises ``Unsupported`` and the
caller takes psrpcore's path. ``tests/lab/winrm/test_leanoutput.py`` compares both on generated values.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from typing import Any

from psrpcore.types._serializer import _serialize_string

from ..values import ErrorRecord, PSObject, UInt8, UInt16, UInt32, UInt64
from .convert import ARRAY_TYPES

_UNSIGNED = {UInt8: "By", UInt16: "U16", UInt32: "U32", UInt64: "U64"}
_HASHTABLE = ["System.Collections.Hashtable", "System.Object"]
_INT32_MAX = 2**31 - 1


class Unsupported(Exception):
    """A value only psrpcore's path writes exactly."""


class _Writer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.ref_id = 0
        self.type_refs: list[str] = []  # main type names in order of first use (psrpcore's TN RefIds)

    def value(self, value: Any, name: str | None = None) -> None:
        """One element; ``name`` (escaped already) becomes its N attribute (a property, Key or Value)."""
        attr = "" if name is None else f' N="{name}"'
        if value is None:
            self.out.append(f"<Nil{attr} />")
        elif isinstance(value, bool):
            self.out.append(f"<B{attr}>{'true' if value else 'false'}</B>")
        elif isinstance(value, str):
            text = _escape(_clixml_string(value))
            self.out.append(f"<S{attr}>{text}</S>" if text else f"<S{attr} />")
        elif isinstance(value, enum.Enum):
            self.value(value.value, name)
        elif type(value) in _UNSIGNED:
            tag = _UNSIGNED[type(value)]
            self.out.append(f"<{tag}{attr}>{int(value)}</{tag}>")
        elif type(value) is int:
            tag = "I64" if value > _INT32_MAX else "I32"
            self.out.append(f"<{tag}{attr}>{value}</{tag}>")
        elif isinstance(value, (list, tuple)):
            start = self._open(attr, ARRAY_TYPES)
            self._container("LST", start, lambda: self._items(value))
        elif isinstance(value, PSObject):
            self._object(value, attr)
        elif isinstance(value, Mapping):
            start = self._open(attr, _HASHTABLE)
            self._container("DCT", start, lambda: self._entries(value))
        elif isinstance(value, ErrorRecord):
            self.value(value.message, name)
        else:
            raise Unsupported(type(value).__name__)

    def _open(self, attr: str, type_names: list[str]) -> int:
        """``<Obj RefId=…`` and the type names (or a reference to their first listing); returns where the
        element starts in ``out`` (``_close`` decides between ``>…</Obj>`` and `` />``)."""
        start = len(self.out)
        self.out.append(f'<Obj RefId="{self.ref_id}"{attr}')  # psrpcore names the element after creating it
        self.ref_id += 1
        if not type_names:
            return start
        main = type_names[0]
        if main in self.type_refs:
            self.out.append(f'<TNRef RefId="{self.type_refs.index(main)}" />')
        else:
            self.type_refs.append(main)
            names = "".join(f"<T>{_escape(t)}</T>" for t in type_names)
            self.out.append(f'<TN RefId="{len(self.type_refs) - 1}">{names}</TN>')
        return start

    def _close(self, start: int) -> None:
        if len(self.out) == start + 1:
            self.out[start] += " />"
        else:
            self.out[start] += ">"
            self.out.append("</Obj>")

    def _container(self, tag: str, start: int, fill: Callable[[], None]) -> None:
        at = len(self.out)
        fill()
        if len(self.out) == at:
            self.out.append(f"<{tag} />")
        else:
            self.out.insert(at, f"<{tag}>")
            self.out.append(f"</{tag}>")
        self._close(start)

    def _items(self, values: Any) -> None:
        for item in values:
            self.value(item)

    def _entries(self, table: Mapping[Any, Any]) -> None:
        for key, item in table.items():
            self.out.append("<En>")
            self.value(key, "Key")
            self.value(item, "Value")
            self.out.append("</En>")

    def _object(self, value: PSObject, attr: str) -> None:
        start = self._open(attr, list(value.type_names))
        if value.properties:
            tag = "Props" if value.adapted else "MS"
            self.out.append(f"<{tag}>")
            for prop, item in value.properties.items():
                self.value(item, _property_name(prop))
            self.out.append(f"</{tag}>")
        if value.to_string:
            self.out.append(f"<ToString>{_escape(value.to_string)}</ToString>")
        self._close(start)


def clixml(value: Any) -> bytes:
    """The CLIXML psrpcore would send for ``to_ps(value)`` (UTF-8), or ``Unsupported``."""
    writer = _Writer()
    writer.value(value)
    return "".join(writer.out).encode("utf-8", "xmlcharrefreplace")


def pipeline_state(state: int) -> bytes:
    """The CLIXML of a PipelineState message without an error (MS-PSRP 2.2.2.21), as psrpcore writes it."""
    return b'<Obj RefId="0"><MS><I32 N="PipelineState">%d</I32></MS></Obj>' % int(state)


def _clixml_string(value: str) -> str:
    """psrpcore's ``_serialize_string``, skipped for text it leaves as is: printable ASCII with no ``_x``
    (it escapes only C0/C1 controls, surrogates, non-BMP characters and the ``_x`` of an escape lookalike;
    two regex substitutions per string were ~5 % of the lab's CPU)."""
    if value.isascii() and value.isprintable() and not ("_" in value and ("_x" in value or "_X" in value)):
        return value
    return _serialize_string(value)


@functools.lru_cache(maxsize=4096)
def _property_name(name: str) -> str:
    """A property's N attribute (the same few hundred names over and over)."""
    return _escape_attrib(_serialize_string(name))


def _escape(text: str) -> str:
    # ElementTree's escaping of character data.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attrib(text: str) -> str:
    # ElementTree's escaping of attribute values.
    text = _escape(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text
