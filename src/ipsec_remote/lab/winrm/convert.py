"""Lab values (``lab.values``) <-> psrpcore's CLIXML types.

Outbound, the shapes follow what Windows PowerShell 5.1 serialises: ``[pscustomobject]`` properties as
*extended* members (``<MS>``), CIM instances' as *adapted* ones (``<Props>``), arrays as ``Object[]``,
hashtables as ``Hashtable``, floating point as ``Double``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    NETException,
    PSByte,
    PSDict,
    PSDouble,
    PSList,
    PSNoteProperty,
    PSSecureString,
    PSUInt,
    PSUInt16,
    PSUInt64,
    add_note_property,
)
from psrpcore.types import ErrorRecord as PSErrorRecord
from psrpcore.types import PSObject as CoreObject

from ..values import CaseInsensitiveDict, ErrorRecord, PSHashtable, PSObject, UInt8, UInt16, UInt32, UInt64

ARRAY_TYPES = ["System.Object[]", "System.Array", "System.Object"]
_DESERIALIZED = "Deserialized."


def from_ps(value: Any) -> Any:
    """A value psrpcore deserialised from the client -> the lab's value model."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return from_ps(value.value)
    if isinstance(value, str):
        return str.__str__(value)  # drop the PSString subclass, keep the text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (float, decimal.Decimal)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond, tzinfo=value.tzinfo,
        )
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, datetime.timedelta)):
        return value
    if isinstance(value, PSSecureString):
        return str.__str__(value.decrypt())
    if isinstance(value, dict):
        table = PSHashtable()
        for k, v in value.items():
            table[str(from_ps(k))] = from_ps(v)
        return table
    if isinstance(value, list):
        return [from_ps(v) for v in value]
    if isinstance(value, CoreObject):
        meta = value.PSObject
        props = CaseInsensitiveDict()
        for prop in [*meta.adapted_properties, *meta.extended_properties]:
            props[prop.name] = from_ps(prop.get_value(value))
        names = [t[len(_DESERIALIZED):] if t.startswith(_DESERIALIZED) else t for t in meta.type_names]
        obj = PSObject(properties=props, adapted=bool(meta.adapted_properties) and not meta.extended_properties)
        if names:
            obj.type_names = names
        return obj
    return str(value)


def to_ps(value: Any) -> Any:
    """A lab value -> an object psrpcore serialises the way Windows PowerShell would."""
    if value is None or isinstance(value, (bool, str, datetime.datetime, datetime.timedelta, bytes)):
        return value
    if isinstance(value, enum.Enum):
        return to_ps(value.value)
    if isinstance(value, (UInt8, UInt16, UInt32, UInt64)):
        # CIM properties keep their CIM type on the wire (uint16 -> <U16>, as a CimInstance serialises).
        unsigned = {UInt8: PSByte, UInt16: PSUInt16, UInt32: PSUInt, UInt64: PSUInt64}[type(value)]
        return unsigned(int(value))
    if isinstance(value, int):
        return value  # psrpcore picks I32 or I64 by magnitude, as PowerShell's own literals do
    if isinstance(value, (float, decimal.Decimal)):
        return PSDouble(float(value))
    if isinstance(value, (list, tuple)):
        arr = PSList([to_ps(v) for v in value])
        arr.PSObject.type_names = list(ARRAY_TYPES)
        return arr
    if isinstance(value, PSObject):
        obj = CoreObject()
        obj.PSObject.type_names = list(value.type_names)
        for name, prop_value in value.properties.items():
            if value.adapted:
                obj.PSObject.adapted_properties.append(PSNoteProperty(name, to_ps(prop_value)))
            else:
                add_note_property(obj, name, to_ps(prop_value))
        if value.to_string is not None:
            obj.PSObject.to_string = value.to_string
        return obj
    if isinstance(value, Mapping):
        return PSDict({to_ps(k): to_ps(v) for k, v in value.items()})
    if isinstance(value, ErrorRecord):
        return value.message
    return str(value)


class _CategoryInfo(ErrorCategoryInfo):
    """CategoryInfo whose text matches Windows: ``InvalidArgument: (x:String) [New-NetIPsecRule], CimException``."""

    def __str__(self) -> str:
        return (
            f"{self.Category.name}: ({self.TargetName or ''}:{self.TargetType or ''}) "
            f"[{self.Activity or ''}], {self.Reason or ''}"
        )


def _category(name: str) -> Any:
    try:
        return ErrorCategory[name]
    except KeyError:
        return ErrorCategory.NotSpecified


def _type_name(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, PSObject):
        return value.type_names[0].rsplit(".", 1)[-1] if value.type_names else "PSObject"
    return {str: "String", bool: "Boolean", int: "Int32", float: "Double"}.get(type(value), "Object")


def error_parts(record: ErrorRecord) -> dict[str, Any]:
    """Keyword arguments for psrpcore's ErrorRecord (and ``ServerPipeline.write_error``)."""
    exception = NETException(Message=record.message, HResult=-2146233087)
    exc_type = record.exception_type or "System.Management.Automation.RuntimeException"
    exception.PSObject.type_names = [exc_type, *(["System.Exception"] if exc_type != "System.Exception" else []),
                                     "System.Object"]
    target = record.target
    category = _CategoryInfo(
        Category=_category(record.category),
        Activity=record.command or "",
        Reason=exc_type.rsplit(".", 1)[-1],
        TargetName="" if target is None else str(target if not isinstance(target, PSObject) else ""),
        TargetType=_type_name(target),
    )
    stack = f"at <ScriptBlock>, <No file>: line {record.line}" if record.line else None
    return {
        "exception": exception,
        "category_info": category,
        "target_object": to_ps(target),
        "fully_qualified_error_id": record.error_id,
        "script_stack_trace": stack,
    }


def error_record(record: ErrorRecord) -> PSErrorRecord:
    """A terminating error as the ``ExceptionAsErrorRecord`` of a Failed pipeline state."""
    parts = error_parts(record)
    return PSErrorRecord(
        Exception=parts["exception"],
        CategoryInfo=parts["category_info"],
        TargetObject=parts["target_object"],
        FullyQualifiedErrorId=parts["fully_qualified_error_id"],
        ScriptStackTrace=parts["script_stack_trace"],
    )
