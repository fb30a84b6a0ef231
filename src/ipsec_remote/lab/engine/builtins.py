"""The utility cmdlets the engine itself provides, as ``FunctionCommand``s so binding stays uniform."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, ErrorRecord
from .members import get_member
from .operators import compare
from .selection import as_context, input_of, measure_object, select_object, sort_object
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


def _where(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    flt = args.get("FilterScript")
    if isinstance(flt, ScriptBlock):
        return [x for x in input_of(args, pipeline) if to_bool(ctx.invoke_scriptblock(flt, x))]
    # Simplified syntax: Where-Object Name -eq 'x' (the property name binds positionally to FilterScript).
    prop = to_str(flt if flt is not None else args.get("Property"))
    ops = [o for o in _WHERE_OPS if args.get(o)]
    value = args.get("Value")
    out = []
    for item in input_of(args, pipeline):
        current = get_member(item, prop)
        hit = to_bool(compare("-" + ops[0].lower(), current, value)) if ops else to_bool(current)
        if hit:
            out.append(item)
    return out


def _foreach(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = as_context(ctx)
    out: list[Any] = []
    if isinstance(args.get("Begin"), ScriptBlock):
        out.extend(c.invoke_scriptblock(args["Begin"]))
    process = args.get("Process") if args.get("MemberName") is None else args["MemberName"]
    for item in input_of(args, pipeline):
        if isinstance(process, ScriptBlock):
            out.extend(c.invoke_scriptblock(process, item))
        elif process is not None:  # ForEach-Object Name: member access on each input
            out.extend(enumerate_value(get_member(item, to_str(process))))
    if isinstance(args.get("End"), ScriptBlock):
        out.extend(c.invoke_scriptblock(args["End"]))
    return out


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
        c = as_context(ctx)
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
    return ["".join(to_str(x) + "\n" for x in input_of(args, pipeline))]


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
        select_object,
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
        sort_object,
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
        measure_object,
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
