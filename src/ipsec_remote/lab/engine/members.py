"""Member access, method calls, indexing and casts on the lab's value model.

StrictMode is off (Windows default): a missing property, a property of ``$null`` and an index past the end
are all ``$null``. Arrays use member enumeration (about_Member-Access_Enumeration): ``$list.Name`` is the
Name of each element, nulls dropped. ``.Count``/``.Length`` work on scalars too (1), as in PS 3.0+.
"""

from __future__ import annotations

import math
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from ..values import (
    CaseInsensitiveDict,
    CimInstanceBase,
    CimProperty,
    CimPropertyCollection,
    NetObject,
    PowerShellError,
    PSHashtable,
    PSObject,
)
from .dotnet import cim_member, ip_address
from .errors import ScriptError, runtime_error
from .values import (
    NOTHING,
    collect,
    custom_object,
    date_kind,
    format_datetime,
    host_now,
    to_bool,
    to_datetime,
    to_int,
    to_number,
    to_str,
)

_INT_TYPES = {
    "int": "System.Int32",
    "int32": "System.Int32",
    "long": "System.Int64",
    "int64": "System.Int64",
    "uint32": "System.UInt32",
    "uint16": "System.UInt16",
    "uint64": "System.UInt64",
    "byte": "System.Byte",
    "int16": "System.Int16",
}
SUPPORTED_TYPES = frozenset(
    [
        *_INT_TYPES,
        "string",
        "bool",
        "boolean",
        "switch",
        "double",
        "float",
        "decimal",
        "datetime",
        "array",
        "object",
        "hashtable",
        "ordered",
        "pscustomobject",
        "psobject",
        "void",
        "guid",
        "regex",
        "collections.hashtable",
        "management.automation.pscustomobject",
        "ipaddress",
        "net.ipaddress",
    ]
)


def cast(type_name: str, value: Any) -> Any:
    """``[type]value`` for the supported types (about_Type_Conversion)."""
    if value is NOTHING:
        value = None
    t = type_name
    if t.endswith("[]") or t == "array":
        if value is None:
            return None
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        inner = t[:-2] if t.endswith("[]") else "object"
        return items if inner == "object" else [cast(inner, v) for v in items]
    if t == "string":
        return to_str(value)
    if t in _INT_TYPES:
        result = to_int(value, _INT_TYPES[t])
        if t.startswith("u") and result < 0:
            raise runtime_error(
                f'Cannot convert value "{value}" to type "{_INT_TYPES[t]}". Error: "Value was either '
                f'too large or too small for a {_INT_TYPES[t][7:]}."',
                "InvalidCastIConvertible",
            )
        return result
    if t in ("double", "float", "decimal"):
        return float(to_number(value, "System.Double"))
    if t in ("bool", "boolean", "switch"):
        return to_bool(value)
    if t == "datetime":
        return to_datetime(value)
    if t in ("pscustomobject", "psobject", "management.automation.pscustomobject"):
        return custom_object(value)
    if t in ("hashtable", "ordered", "collections.hashtable"):
        if isinstance(value, CaseInsensitiveDict):
            return value
        raise runtime_error(
            f'Cannot convert "{to_str(value)}" to "System.Collections.Hashtable".', "ConvertToFinalInvalidCastException"
        )
    if t == "void":
        return NOTHING
    if t in ("guid", "regex"):
        return to_str(value)
    if t in ("ipaddress", "net.ipaddress"):
        return ip_address(value)
    if t == "object":
        return value
    raise runtime_error(f"Unable to find type [{type_name}].", "TypeNotFound")


def get_member(target: Any, name: str) -> Any:
    low = name.lower()
    if isinstance(target, NetObject):
        return target.member(low)
    if target is None or target is NOTHING:
        return 0 if low in ("count", "length") else None  # $null.Count is 0 (PS 3.0+)
    if isinstance(target, PSObject):
        if name in target.properties:
            return target.properties[name]
        if low == "psbase" and target.cim_props is not None:
            return CimInstanceBase(target)
        return 1 if low in ("count", "length") else None
    if isinstance(target, (CimInstanceBase, CimPropertyCollection, CimProperty)):
        return cim_member(target, low)
    if isinstance(target, CaseInsensitiveDict):
        if name in target:
            return target[name]
        if low == "keys":
            return list(target.keys())
        if low == "values":
            return list(target.values())
        return len(target) if low == "count" else None
    if isinstance(target, (list, tuple)):
        if low in ("count", "length"):
            return len(target)
        out: list[Any] = []
        for item in target:
            value = get_member(item, name)
            if isinstance(value, (list, tuple)):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return collect(out)
    if isinstance(target, str) and low == "length":
        return len(target)
    if isinstance(target, timedelta):
        return _timespan_member(target, low)
    if isinstance(target, datetime):
        parts = {
            "year": target.year,
            "month": target.month,
            "day": target.day,
            "hour": target.hour,
            "minute": target.minute,
            "second": target.second,
            "millisecond": target.microsecond // 1000,
            "date": target.replace(hour=0, minute=0, second=0, microsecond=0),
            "dayofweek": target.strftime("%A"),
            "kind": date_kind(target),
        }
        if low in parts:
            return parts[low]
    return 1 if low in ("count", "length") else None


def _timespan_member(span: timedelta, low: str) -> Any:
    total = span.total_seconds()
    parts: dict[str, Any] = {
        "totalseconds": total,
        "totalminutes": total / 60,
        "totalhours": total / 3600,
        "totaldays": total / 86400,
        "totalmilliseconds": total * 1000,
        "days": span.days,
        "hours": span.seconds // 3600,
        "minutes": span.seconds // 60 % 60,
        "seconds": span.seconds % 60,
        "milliseconds": span.microseconds // 1000,
    }
    return parts.get(low, 1 if low in ("count", "length") else None)


def static_member(type_name: str, name: str) -> Any:
    low = name.lower()
    if type_name == "datetime" and low == "now":
        return host_now()  # Kind Local: the host's clock in its time zone
    if type_name == "datetime" and low == "utcnow":
        return host_now().astimezone(timezone.utc)
    if type_name in _INT_TYPES and low in ("maxvalue", "minvalue"):
        bits = {"int": 31, "int32": 31, "long": 63, "int64": 63, "int16": 15}.get(type_name)
        if bits is None:
            unsigned = {"uint32": 2**32 - 1, "uint16": 65535, "uint64": 2**64 - 1, "byte": 255}
            return 0 if low == "minvalue" else unsigned[type_name]
        return 2**bits - 1 if low == "maxvalue" else -(2**bits)
    if type_name == "string" and low == "empty":
        return ""
    raise runtime_error(f"The property '{name}' cannot be found on type [{type_name}].", "PropertyNotFound")


def static_method(type_name: str, name: str, args: list[Any]) -> Any:
    low = name.lower()
    if type_name == "guid" and low == "newguid":
        return str(uuid.uuid4())
    if type_name == "string" and low == "isnullorempty":
        return args[0] is None or to_str(args[0]) == ""
    if type_name == "string" and low == "join":
        items = args[1] if len(args) == 2 and isinstance(args[1], list) else args[1:]
        return to_str(args[0]).join(to_str(x) for x in items)
    if type_name == "datetime" and low == "parse":
        return to_datetime(args[0])
    if type_name == "uri" and low == "unescapedatastring":
        # Uri.UnescapeDataString: every %XX escape, the bytes read as UTF-8 (learn.microsoft.com/dotnet/api/
        # system.uri.unescapedatastring).
        return urllib.parse.unquote(to_str(args[0]), encoding="utf-8", errors="strict")
    if type_name == "math" and low in ("max", "min", "abs", "floor", "ceiling", "round"):
        nums = [to_number(a) for a in args]
        if low in ("max", "min"):
            return max(nums) if low == "max" else min(nums)
        if low == "round":
            return round(nums[0], int(nums[1])) if len(nums) > 1 else round(nums[0])
        if low == "abs":
            return abs(nums[0])
        return math.floor(nums[0]) if low == "floor" else math.ceil(nums[0])
    raise runtime_error(
        f"Method invocation failed because [{type_name}] does not contain a method named '{name}'.", "MethodNotFound"
    )


def _type_label(target: Any) -> str:
    if isinstance(target, PSObject):
        return target.type_names[0] if target.type_names else "System.Object"
    if isinstance(target, CaseInsensitiveDict):
        return "System.Collections.Hashtable"
    if isinstance(target, (list, tuple)):
        return "System.Object[]"
    return {
        str: "System.String",
        bool: "System.Boolean",
        int: "System.Int32",
        float: "System.Double",
        datetime: "System.DateTime",
    }.get(type(target), "System.Object")


def _string_method(s: str, name: str, args: list[Any]) -> Any:
    low = name.lower()
    a = [to_str(x) for x in args]
    if low in ("tolower", "tolowerinvariant"):
        return s.lower()
    if low in ("toupper", "toupperinvariant"):
        return s.upper()
    if low in ("trim", "trimstart", "trimend"):
        chars = "".join(a) if a else None
        return {"trim": s.strip, "trimstart": s.lstrip, "trimend": s.rstrip}[low](chars)
    # .NET string methods are ordinal/culture *case-sensitive*, unlike PowerShell operators.
    if low == "startswith":
        return s.startswith(a[0])
    if low == "endswith":
        return s.endswith(a[0])
    if low == "contains":
        return a[0] in s
    if low == "replace":
        return s.replace(a[0], a[1])
    if low == "indexof":
        return s.find(a[0])
    if low == "substring":
        start = int(to_number(args[0]))
        return s[start : start + int(to_number(args[1]))] if len(args) > 1 else s[start:]
    if low == "split":
        # PS 5.1 binds a string argument to Split(char[]): every character is a separator.
        seps = "".join(a) if a else None
        if seps is None:
            return s.split()
        out: list[str] = []
        cur: list[str] = []
        for ch in s:
            if ch in seps:
                out.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
        return [*out, "".join(cur)]
    if low in ("padleft", "padright"):
        width = int(to_number(args[0]))
        fill = a[1] if len(a) > 1 else " "
        return s.rjust(width, fill) if low == "padleft" else s.ljust(width, fill)
    if low == "equals":
        return s == a[0]
    return _missing(s, name)


def _missing(target: Any, name: str) -> Any:
    raise runtime_error(
        f"Method invocation failed because [{_type_label(target)}] does not contain a method named '{name}'.",
        "MethodNotFound",
    )


def call_method(target: Any, name: str, args: list[Any]) -> Any:
    low = name.lower()
    if target is None or target is NOTHING:
        raise runtime_error("You cannot call a method on a null-valued expression.", "InvokeMethodOnNull")
    if isinstance(target, NetObject):
        try:
            result = target.invoke(low, args)
            return NOTHING if result is None else result  # None: a void method writes nothing
        except PowerShellError as exc:  # a .NET exception: statement-terminating, catchable (about_Try_Catch)
            raise ScriptError(exc.record, script_level=False) from None
    if low == "tostring" and not (isinstance(target, datetime) and args):
        if args and isinstance(target, (int, float)) and not isinstance(target, bool):
            from .operators import arithmetic

            return arithmetic("-f", "{0:" + to_str(args[0]) + "}", [target])
        return to_str(target)
    if low == "gettype":
        return PSObject.custom(Name=_type_label(target).rsplit(".", 1)[-1], FullName=_type_label(target))
    if isinstance(target, str):
        return _string_method(target, name, args)
    if isinstance(target, CaseInsensitiveDict):
        key = to_str(args[0]) if args else ""
        if low in ("containskey", "contains"):
            return key in target
        if low == "add":
            if key in target:
                raise runtime_error(
                    f"Item has already been added. Key in dictionary: '{key}'  Key being added: '{key}'",
                    "ArgumentException",
                    "NotSpecified",
                )
            target[key] = args[1]
            return NOTHING
        if low == "remove":
            target.pop(key, None)
            return NOTHING
        if low == "clear":
            target.clear()
            return NOTHING
        if low == "clone":
            return PSHashtable(dict(target.items()))
        if low == "containsvalue":
            return any(v == args[0] for v in target.values())
        return _missing(target, name)
    if isinstance(target, datetime):
        units = {
            "addseconds": "seconds",
            "addminutes": "minutes",
            "addhours": "hours",
            "adddays": "days",
            "addmilliseconds": "milliseconds",
        }
        if low in units:
            return target + timedelta(**{units[low]: float(to_number(args[0]))})
        if low == "touniversaltime":
            # An Unspecified time converts as if it were local (DateTime.ToUniversalTime).
            zone = target.tzinfo or host_now().tzinfo
            return target.replace(tzinfo=zone).astimezone(timezone.utc)
        if low == "tolocaltime":
            zone = host_now().tzinfo
            return (target if target.tzinfo else target.replace(tzinfo=timezone.utc)).astimezone(zone)
        if low == "tostring":
            return format_datetime(target, to_str(args[0]))
        return _missing(target, name)
    if isinstance(target, (list, tuple)) and low == "contains":
        return any(x == args[0] for x in target)
    if isinstance(target, (list, tuple)) and low == "add":
        raise runtime_error(
            'Exception calling "Add" with "1" argument(s): "Collection was of a fixed size."',
            "NotSupportedException",
            "NotSpecified",
        )
    return _missing(target, name)


def index(target: Any, key: Any) -> Any:
    if target is None or target is NOTHING:
        raise runtime_error("Cannot index into a null array.", "NullArray")
    if isinstance(target, CaseInsensitiveDict):
        if isinstance(key, list):
            return [index(target, k) for k in key]
        return target.get(to_str(key))
    if isinstance(target, PSObject):
        if isinstance(key, int) and not isinstance(key, bool):
            return target if key in (0, -1) else None  # a scalar indexes as a one-element array
        return target.properties.get(to_str(key))
    if isinstance(target, CimPropertyCollection):
        return target.items.get(to_str(key))
    if isinstance(key, list):
        return [v for v in (index(target, k) for k in key) if v is not None]
    seq = target if isinstance(target, (list, tuple, str)) else [target]
    i = int(to_number(key))
    if -len(seq) <= i < len(seq):
        return seq[i]
    return None


def set_member(target: Any, name: str, value: Any) -> None:
    if isinstance(target, CaseInsensitiveDict):
        target[name] = value
    elif isinstance(target, PSObject) and name in target.properties:
        target.properties[name] = value
    elif target is None:
        raise runtime_error(
            "The property '" + name + "' cannot be found on this object. Verify that the property "
            "exists and can be set.",
            "PropertyNotFound",
        )
    else:
        raise runtime_error(
            f"The property '{name}' cannot be found on this object. Verify that the property exists and can be set.",
            "PropertyAssignmentException",
        )


def set_index(target: Any, key: Any, value: Any) -> None:
    if isinstance(target, CaseInsensitiveDict):
        target[to_str(key)] = value
        return
    if isinstance(target, list):
        i = int(to_number(key))
        if -len(target) <= i < len(target):
            target[i] = value
            return
        raise runtime_error("Index was outside the bounds of the array.", "IndexOutOfRange")
    raise runtime_error(f"Unable to index into an object of type {_type_label(target)}.", "CannotIndex")


def cast_supported(name: str) -> bool:
    """Whether ``[name]`` is a cast the engine implements (checked at parse time)."""
    return name in SUPPORTED_TYPES or (name.endswith("[]") and name[:-2] in SUPPORTED_TYPES)
