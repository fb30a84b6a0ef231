"""Engine-side values and the conversions every operator, cast and binding shares.

PowerShell semantics cited per function: about_Booleans (truthiness), about_Operators / about_Arithmetic_Operators
(left-operand coercion), about_Type_Conversion ([string]/[int] casts, banker's rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..commands import HOST_CLOCK
from ..values import PSCUSTOMOBJECT_TYPES, CaseInsensitiveDict, ErrorRecord, PSHashtable, PSObject
from . import ast as A
from .errors import runtime_error


class _Nothing:
    """AutomationNull: what ``[void]`` and a command with no output yield; writes nothing to the pipeline,
    reads as ``$null``, and ``@()`` of it is empty."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING = _Nothing()

def host_now() -> datetime:
    clock = HOST_CLOCK.get()
    return clock() if clock is not None else datetime.now(timezone.utc)


def date_kind(value: datetime) -> str:
    """DateTime.Kind: the lab keeps Utc as tzinfo=timezone.utc, Local as the host's zone, Unspecified naive."""
    if value.tzinfo is None:
        return "Unspecified"
    return "Utc" if value.tzinfo is timezone.utc else "Local"


def ticks(value: datetime) -> datetime:
    """The wall-clock value .NET compares and subtracts: DateTime.Compare and DateTime.Subtract ignore Kind
    (learn.microsoft.com/dotnet/api/system.datetime.subtract), so a Local and a Utc time are not converted."""
    return value.replace(tzinfo=None)


@dataclass(eq=False)
class ScriptBlock:
    """A ``{ ... }`` value. PowerShell script blocks are not closures: they run in the caller's scope."""

    block: A.Block
    text: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class ErrorView(PSObject):
    """``$_`` inside ``catch``: an ErrorRecord with the members scripts read (about_Try_Catch_Finally)."""

    record: ErrorRecord = field(default_factory=lambda: ErrorRecord(""))

    @classmethod
    def of(cls, record: ErrorRecord) -> ErrorView:
        exc = PSObject(
            properties=CaseInsensitiveDict(Message=record.message, InnerException=None),
            type_names=[record.exception_type, "System.Exception", "System.Object"],
            to_string=record.message,
        )
        reason = record.exception_type.rsplit(".", 1)[-1]
        info = PSObject(
            properties=CaseInsensitiveDict(
                Category=record.category, Reason=reason, TargetName="", Activity=record.command or ""
            ),
            type_names=["System.Management.Automation.ErrorCategoryInfo", "System.Object"],
            to_string=f"{record.category}: (:) [{record.command or ''}], {reason}",
        )
        invocation = PSObject.custom(ScriptLineNumber=record.line or 0, MyCommand=record.command)
        props = CaseInsensitiveDict(
            Exception=exc,
            FullyQualifiedErrorId=record.error_id,
            CategoryInfo=info,
            TargetObject=record.target,
            InvocationInfo=invocation,
            ErrorDetails=None,
            ScriptStackTrace="",
        )
        return cls(
            properties=props,
            type_names=["System.Management.Automation.ErrorRecord", "System.Object"],
            to_string=record.message,
            record=record,
        )


def plain(value: Any) -> Any:
    """AutomationNull stored into a collection, a property or an argument becomes a real $null."""
    return None if value is NOTHING else value


def is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def enumerate_value(value: Any) -> list[Any]:
    """What a value contributes to a pipeline: arrays unroll one level, ``$null`` is one object."""
    if value is NOTHING:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def collect(items: list[Any]) -> Any:
    """Pipeline output as a value: one object -> itself, more -> an array, nothing -> AutomationNull
    (reads as $null, but ``@($x)`` of it is empty and it writes nothing to the pipeline)."""
    if not items:
        return NOTHING
    return items[0] if len(items) == 1 else items


def to_bool(value: Any) -> bool:
    """about_Booleans: $null, 0, '' and empty arrays are false; a one-element array is its element."""
    if value is None or value is NOTHING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return len(value) > 0
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            item = value[0]
            return to_bool(item) if not isinstance(item, (list, tuple)) else len(item) > 0
        return len(value) > 1
    return True


def format_number(value: float) -> str:
    """A double as PowerShell prints it: whole values without a decimal point."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_datetime(value: datetime, fmt: str | None = None) -> str:
    """DateTime.ToString: 'o' round-trip, 's' sortable, 'u', or the invariant default (casts use it)."""
    if fmt in (None, ""):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if fmt in ("o", "O"):
        base = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0"
        if value.tzinfo is None:
            return base
        offset = value.utcoffset()
        if offset is not None and offset.total_seconds() == 0 and value.tzinfo is timezone.utc:
            return base + "Z"
        return base + value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]
    if fmt == "s":
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if fmt == "u":
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    out = fmt
    for token, code in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
        out = out.replace(token, code)
    if "fff" in out:
        out = out.replace("fff", f"{value.microsecond // 1000:03d}")
    return value.strftime(out)


def to_str(value: Any) -> str:
    """PowerShell's string conversion ([string], interpolation, -join): arrays join with a space ($OFS)."""
    if value is None or value is NOTHING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):  # TimeSpan: [-][d.]hh:mm:ss[.fffffff]
        sign = "-" if value < timedelta(0) else ""
        span = -value if sign else value
        hours, rest = divmod(span.seconds, 3600)
        days = f"{span.days}." if span.days else ""
        frac = f".{span.microseconds:06d}0" if span.microseconds else ""
        return f"{sign}{days}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{frac}"
    if isinstance(value, (list, tuple)):
        return " ".join(to_str(v) for v in value)
    if isinstance(value, PSObject):
        if value.to_string is not None:
            return value.to_string
        if value.adapted:
            return value.type_names[0] if value.type_names else ""
        inner = "; ".join(f"{k}={to_str(v)}" for k, v in value.properties.items())
        return "@{" + inner + "}"
    if isinstance(value, CaseInsensitiveDict):
        return "System.Collections.Hashtable"
    if isinstance(value, ScriptBlock):
        return value.text
    return str(value)


def _parse_int(text: str) -> int | float | None:
    s = text.strip()
    if not s:
        return 0
    try:
        return int(s, 16) if s.lower().startswith("0x") else int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return None


def to_number(value: Any, for_type: str = "System.Int32") -> int | float:
    """Arithmetic operand conversion; failure is PowerShell's InvalidCastFromStringToInteger."""
    if value is None or value is NOTHING:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        number = _parse_int(value)
        if number is not None:
            return number
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return to_number(value[0], for_type)
    raise runtime_error(
        f'Cannot convert value "{to_str(value)}" to type "{for_type}". Error: "Input string was not in a correct '
        'format."',
        "InvalidCastFromStringToInteger",
        "InvalidArgument",
        "System.Management.Automation.RuntimeException",
    )


def to_int(value: Any, type_label: str = "System.Int32") -> int:
    """[int] cast: rounds half to even, as .NET's Convert does."""
    number = to_number(value, type_label)
    return round(number) if isinstance(number, float) else number


def to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            pass
        for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
    raise runtime_error(
        f'Cannot convert value "{to_str(value)}" to type "System.DateTime". Error: "String was not recognized as '
        'a valid DateTime."',
        "InvalidCastParseTargetInvocation",
        "InvalidArgument",
    )


def custom_object(value: Any) -> Any:
    """``[pscustomobject]@{...}``: a hashtable becomes an object with ordered extended properties."""
    if isinstance(value, CaseInsensitiveDict):
        return PSObject(properties=CaseInsensitiveDict(dict(value.items())), type_names=list(PSCUSTOMOBJECT_TYPES))
    return value


__all__ = [
    "NOTHING",
    "ErrorView",
    "PSHashtable",
    "ScriptBlock",
    "collect",
    "custom_object",
    "enumerate_value",
    "format_datetime",
    "is_list",
    "to_bool",
    "to_datetime",
    "to_int",
    "to_number",
    "to_str",
]
