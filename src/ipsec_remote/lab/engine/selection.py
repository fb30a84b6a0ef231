"""Select-Object, Sort-Object and Measure-Object: the built-ins that reshape objects."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cmp_to_key
from typing import Any

from ..commands import InvocationContext
from ..values import CaseInsensitiveDict, ErrorRecord, PSObject
from .errors import ScriptError
from .functions import Context
from .members import get_member
from .operators import _scalar_compare as scalar_compare
from .values import ScriptBlock, enumerate_value, to_str


def as_context(ctx: InvocationContext) -> Context:
    assert isinstance(ctx, Context)
    return ctx


def _type_name(item: Any) -> str:
    if isinstance(item, PSObject):
        return item.type_names[0] if item.type_names else "System.Object"
    if isinstance(item, CaseInsensitiveDict):
        return "System.Collections.Hashtable"
    return {str: "System.String", int: "System.Int32", bool: "System.Boolean", float: "System.Double"}.get(
        type(item), "System.Object"
    )


def input_of(args: CaseInsensitiveDict, pipeline: list[Any]) -> list[Any]:
    if pipeline:
        return pipeline
    if "InputObject" in args and args["InputObject"] is not None:
        return [args["InputObject"]]  # -InputObject is one object, not enumerated (as on Windows)
    return []


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


def select_object(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = as_context(ctx)
    items = input_of(args, pipeline)
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
            # Select-Object emits new objects whose properties are *extended* ones (DESIGN §5), typed
            # Selected.<original type> first, as Windows does.
            obj = PSObject.custom()
            obj.type_names.insert(0, f"Selected.{_type_name(item)}")
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


def sort_object(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    c = as_context(ctx)
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
        ((key(x), x) for x in input_of(args, pipeline)), key=cmp_to_key(cmp), reverse=bool(args.get("Descending"))
    )
    items = [x for _, x in keyed]
    if args.get("Unique"):
        unique: list[Any] = []
        for x in items:
            if not unique or to_str(unique[-1]).lower() != to_str(x).lower():
                unique.append(x)
        items = unique
    return items


def measure_object(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline: list[Any]) -> Iterable[Any]:
    items = input_of(args, pipeline)
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
