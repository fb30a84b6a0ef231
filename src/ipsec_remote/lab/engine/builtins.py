"""The utility cmdlets the engine itself provides, as ``FunctionCommand``s so binding stays uniform."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cmp_to_key
from typing import Any

from ..commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, ErrorRecord, PSObject
from .errors import ScriptError
from .functions import Context
from .members import get_member
from .operators import _scalar_compare as scalar_compare
from .operators import compare
from .values import ErrorView, ScriptBlock, enumerate_value, to_bool, to_str

_WHERE_OPS = (
    "EQ",
    "NE",
    "GT",
    "GE",
    "LT",
    "LE",
    "Like",
    "NotLike",
    "Match",
    "NotMatch",
    "Contains",
    "NotContains",
    "In",
    "NotIn",
    "CEQ",
    "CNE",
    "CLike",
    "CMatch",
)


def _specs(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.name: s for s in specs}


def _ctx(ctx: InvocationContext) -> Context:
    assert isinstance(ctx, Context)
    return ctx


def _input(args: CaseInsensitiveDict, pipeline: list[Any]) -> list[Any]:
    if pipeline:
        return pipeline
    if "InputObject" in args and args["InputObject"] is not None:
        return [args["InputObject"]]  # -InputObject is one object, not enumerated (as on Windows)
    return []


def _where(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    flt = args.get("FilterScript")
    if isinstance(flt, ScriptBlock):
        return [x for x in _input(args, pipeline) if to_bool(ctx.invoke_scriptblock(flt, x))]
    # Simplified syntax: Where-Object Name -eq 'x' (the property name binds positionally to FilterScript).
    prop = to_str(flt if flt is not None else args.get("Property"))
    ops = [o for o in _WHERE_OPS if args.get(o)]
    value = args.get("Value")
    out = []
    for item in _input(args, pipeline):
        current = get_member(item, prop)
        hit = to_bool(compare("-" + ops[0].lower(), current, value)) if ops else to_bool(current)
        if hit:
            out.append(item)
    return out


def _foreach(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = _ctx(ctx)
    out: list[Any] = []
    if isinstance(args.get("Begin"), ScriptBlock):
        out.extend(c.invoke_scriptblock(args["Begin"]))
    process = args.get("Process")
    for item in _input(args, pipeline):
        if isinstance(process, ScriptBlock):
            out.extend(c.invoke_scriptblock(process, item))
        elif process is not None:  # ForEach-Object Name: member access on each input
            out.extend(enumerate_value(get_member(item, to_str(process))))
    if isinstance(args.get("End"), ScriptBlock):
        out.extend(c.invoke_scriptblock(args["End"]))
    return out


def _property_value(ctx: Context, item: Any, prop: Any) -> tuple[str, Any]:
    if isinstance(prop, CaseInsensitiveDict):  # calculated property @{ Name = ...; Expression = ... }
        name = to_str(next((prop[k] for k in prop if k.lower() in ("name", "n", "label", "l")), ""))
        expr = next((prop[k] for k in prop if k.lower() in ("expression", "e")), None)
        if isinstance(expr, ScriptBlock):
            out = ctx.invoke_scriptblock(expr, item)
            return name, out[0] if len(out) == 1 else (out or None)
        return name, get_member(item, to_str(expr))
    name = to_str(prop)
    if isinstance(item, PSObject):
        name = item.properties.canonical(name) or name
    elif isinstance(item, CaseInsensitiveDict):
        name = item.canonical(name) or name
    return name, get_member(item, name)


def _select(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = _ctx(ctx)
    items = _input(args, pipeline)
    if args.get("Skip"):
        items = items[args["Skip"] :]
    if args.get("First") is not None or args.get("Last") is not None:
        first, last = args.get("First"), args.get("Last")
        items = (items[:first] if first is not None else []) + (items[-last:] if last else [])
    out: list[Any] = []
    props = args.get("Property")
    expand = args.get("ExpandProperty")
    for item in items:
        if props is not None:
            # Select-Object emits new objects whose properties are *extended* ones (DESIGN §5).
            obj = PSObject.custom()
            for prop in props:
                name, value = _property_value(c, item, prop)
                obj.properties[name] = value
            item = obj
        if expand is not None:
            holder = item.properties if isinstance(item, PSObject) else item
            if isinstance(holder, CaseInsensitiveDict) and expand in holder:
                out.extend(enumerate_value(get_member(item, expand)))
            else:
                c.write_error(
                    ErrorRecord(
                        f'Property "{expand}" cannot be found.',
                        "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand",
                        "InvalidArgument",
                        "System.Management.Automation.PSArgumentException",
                        target=item,
                    )
                )
            continue
        out.append(item)
    if args.get("Unique"):
        seen: set[str] = set()
        unique = []
        for x in out:
            if to_str(x) not in seen:
                seen.add(to_str(x))
                unique.append(x)
        out = unique
    return out


def _sort(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = _ctx(ctx)
    props = args.get("Property") or []

    def key(item: Any) -> list[Any]:
        return [_property_value(c, item, p)[1] for p in props] if props else [item]

    def cmp(a: tuple[list[Any], Any], b: tuple[list[Any], Any]) -> int:
        for x, y in zip(a[0], b[0], strict=False):
            try:
                r = scalar_compare(x, y, False)
            except ScriptError:  # not comparable as such: fall back to the string forms
                r = scalar_compare(to_str(x), to_str(y), False)
            if r:
                return r
        return 0

    keyed = sorted(
        ((key(x), x) for x in _input(args, pipeline)), key=cmp_to_key(cmp), reverse=bool(args.get("Descending"))
    )
    items = [x for _, x in keyed]
    if args.get("Unique"):
        unique: list[Any] = []
        for x in items:
            if not unique or to_str(unique[-1]).lower() != to_str(x).lower():
                unique.append(x)
        items = unique
    return items


def _measure(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    items = _input(args, pipeline)
    prop = args.get("Property")
    values = [get_member(x, to_str(prop[0] if isinstance(prop, list) else prop)) for x in items] if prop else items
    numbers = (
        [float(v) if not isinstance(v, int) else v for v in values if v is not None]
        if (args.get("Sum") or args.get("Average") or args.get("Maximum") or args.get("Minimum"))
        else []
    )
    return [
        PSObject.custom(
            Count=len(values),
            Average=(sum(numbers) / len(numbers)) if args.get("Average") and numbers else None,
            Sum=sum(numbers) if args.get("Sum") else None,
            Maximum=max(numbers) if args.get("Maximum") and numbers else None,
            Minimum=min(numbers) if args.get("Minimum") and numbers else None,
            Property=to_str(prop[0]) if isinstance(prop, list) else prop,
        )
    ]


def _write_output(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    if pipeline:
        return pipeline
    value = args.get("InputObject")
    return [value] if args.get("NoEnumerate") else enumerate_value(value)


def _write_error(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    given = args.get("ErrorRecord") or args.get("Message")
    if isinstance(given, ErrorView):  # Write-Error $_ re-emits the record itself
        ctx.write_error(given.record)
        return []
    message = to_str(given)
    ctx.write_error(
        ErrorRecord(
            message=message,
            error_id=to_str(args.get("ErrorId")) or "Microsoft.PowerShell.Commands.WriteErrorException",
            category=to_str(args.get("Category")) or "NotSpecified",
            exception_type="Microsoft.PowerShell.Commands.WriteErrorException",
            target=args.get("TargetObject"),
            command="Write-Error",
        )
    )
    return []


def _stream(kind: str) -> Any:
    """Write-Warning/-Verbose/-Information go to side lists; Write-Host and Write-Debug are dropped."""

    def run(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
        c = _ctx(ctx)
        text = to_str(args.get("Message") if "Message" in args else args.get("Object"))
        if kind == "warning":
            c.write_warning(text)
        elif kind == "verbose":
            c.write_verbose(text)
        elif kind == "information":
            c.write_information(text)
        return []

    return run


def _out_null(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    return []


def _out_string(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    return ["".join(to_str(x) + "\n" for x in _input(args, pipeline))]


_INPUT = ParamSpec("InputObject", "Object")
_CATEGORIES = (
    "NotSpecified",
    "OpenError",
    "CloseError",
    "DeviceError",
    "DeadlockDetected",
    "InvalidArgument",
    "InvalidData",
    "InvalidOperation",
    "InvalidResult",
    "InvalidType",
    "MetadataError",
    "NotImplemented",
    "NotInstalled",
    "ObjectNotFound",
    "OperationStopped",
    "OperationTimeout",
    "SyntaxError",
    "ParserError",
    "PermissionDenied",
    "ResourceBusy",
    "ResourceExists",
    "ResourceUnavailable",
    "ReadError",
    "WriteError",
    "FromStdErr",
    "SecurityError",
    "ProtocolError",
    "ConnectionError",
    "AuthenticationError",
    "LimitsExceeded",
    "QuotaExceeded",
    "NotEnabled",
)


def builtin_commands() -> CommandTable:
    table = CommandTable()

    def add(name: str, fn: Any, specs: dict[str, ParamSpec], *aliases: str) -> None:
        table.add(FunctionCommand(name, specs, fn, accepts_pipeline=True), *aliases)

    add(
        "Where-Object",
        _where,
        _specs(
            ParamSpec("FilterScript", "Object", position=0),
            ParamSpec("Value", "Object", position=1),
            ParamSpec("Property", "String"),
            _INPUT,
            *(ParamSpec(o, "SwitchParameter") for o in _WHERE_OPS),
        ),
        "?",
        "where",
    )
    add(
        "ForEach-Object",
        _foreach,
        _specs(
            ParamSpec("Process", "Object", position=0),
            ParamSpec("Begin", "ScriptBlock"),
            ParamSpec("End", "ScriptBlock"),
            ParamSpec("MemberName", "String"),
            _INPUT,
        ),
        "%",
        "foreach",
    )
    add(
        "Select-Object",
        _select,
        _specs(
            ParamSpec("Property", "Object", array=True, position=0),
            ParamSpec("ExpandProperty", "String"),
            ParamSpec("First", "Int32"),
            ParamSpec("Last", "Int32"),
            ParamSpec("Skip", "Int32"),
            ParamSpec("Unique", "SwitchParameter"),
            _INPUT,
        ),
        "select",
    )
    add(
        "Sort-Object",
        _sort,
        _specs(
            ParamSpec("Property", "Object", array=True, position=0),
            ParamSpec("Descending", "SwitchParameter"),
            ParamSpec("Unique", "SwitchParameter"),
            _INPUT,
        ),
        "sort",
    )
    add(
        "Measure-Object",
        _measure,
        _specs(
            ParamSpec("Property", "String", array=True, position=0),
            *(ParamSpec(s, "SwitchParameter") for s in ("Sum", "Average", "Maximum", "Minimum")),
            _INPUT,
        ),
        "measure",
    )
    add("Out-Null", _out_null, _specs(_INPUT))
    add("Out-String", _out_string, _specs(_INPUT, ParamSpec("Stream", "SwitchParameter"), ParamSpec("Width", "Int32")))
    add(
        "Write-Output",
        _write_output,
        _specs(ParamSpec("InputObject", "Object", position=0), ParamSpec("NoEnumerate", "SwitchParameter")),
        "echo",
        "write",
    )
    add(
        "Write-Error",
        _write_error,
        _specs(
            ParamSpec("Message", "Object", position=0, aliases=("Msg",)),
            ParamSpec("ErrorRecord", "Object"),
            ParamSpec("ErrorId", "String"),
            ParamSpec("Category", "ErrorCategory", values=_CATEGORIES),
            ParamSpec("TargetObject", "Object"),
            ParamSpec("Exception", "Object"),
            ParamSpec("RecommendedAction", "String"),
        ),
    )
    for name, kind in (
        ("Write-Warning", "warning"),
        ("Write-Verbose", "verbose"),
        ("Write-Debug", "debug"),
        ("Write-Information", "information"),
    ):
        add(
            name,
            _stream(kind),
            _specs(ParamSpec("Message", "String", position=0, aliases=("Msg",)), ParamSpec("Tags", "String[]")),
        )
    add(
        "Write-Host",
        _stream("host"),
        _specs(
            ParamSpec("Object", "Object", position=0),
            ParamSpec("NoNewline", "SwitchParameter"),
            ParamSpec("Separator", "Object"),
            ParamSpec("ForegroundColor", "String"),
            ParamSpec("BackgroundColor", "String"),
        ),
    )
    return table
