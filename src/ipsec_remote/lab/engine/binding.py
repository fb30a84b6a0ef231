"""Generic parameter binding of a command's arguments against its ``ParamSpec``s (about_Parameters).

Names match exactly, by alias, or by an unambiguous case-insensitive prefix; the common parameters
(about_CommonParameters) are bound here and never passed to the command. Conversion failures use Windows
PowerShell 5.1's wording so a script that would fail on Windows fails the same way in the lab.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..commands import Command, ParamSpec, binding_error
from ..values import CaseInsensitiveDict
from .values import NOTHING, ScriptBlock, to_datetime, to_str

# (name, aliases, values) of the common parameters every cmdlet takes.
_ACTIONS = ("SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend")
COMMON: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        ParamSpec("ErrorAction", "ActionPreference", aliases=("ea",), values=_ACTIONS),
        ParamSpec("WarningAction", "ActionPreference", aliases=("wa",), values=_ACTIONS),
        ParamSpec("InformationAction", "ActionPreference", aliases=("infa",), values=_ACTIONS),
        ParamSpec("ErrorVariable", "String", aliases=("ev",)),
        ParamSpec("WarningVariable", "String", aliases=("wv",)),
        ParamSpec("InformationVariable", "String", aliases=("iv",)),
        ParamSpec("OutVariable", "String", aliases=("ov",)),
        ParamSpec("OutBuffer", "Int32", aliases=("ob",)),
        ParamSpec("PipelineVariable", "String", aliases=("pv",)),
        ParamSpec("Verbose", "SwitchParameter", aliases=("vb",)),
        ParamSpec("Debug", "SwitchParameter", aliases=("db",)),
    )
}
_UNSIGNED = {"UInt32": 2**32 - 1, "UInt16": 65535, "UInt64": 2**64 - 1, "Byte": 255}
_SIGNED = {"Int32": 2**31 - 1, "Int64": 2**63 - 1, "Int16": 2**15 - 1}


@dataclass(slots=True)
class Named:
    name: str
    value: Any = NOTHING  # NOTHING: ``-Name`` with no value yet (a switch, or takes the next argument)
    from_splat: bool = False


@dataclass(slots=True)
class Positional:
    value: Any


Token = Named | Positional


def resolve(command: str, specs: Mapping[str, ParamSpec], name: str) -> ParamSpec:
    """Exact name or alias first, then an unambiguous prefix of names and aliases."""
    low = name.lower()
    for spec in specs.values():
        if spec.name.lower() == low or any(a.lower() == low for a in spec.aliases):
            return spec
    return _by_prefix(command, specs, name)


def _by_prefix(command: str, specs: Mapping[str, ParamSpec], name: str) -> ParamSpec:
    low = name.lower()
    hits: list[ParamSpec] = []
    for spec in specs.values():
        if (
            spec.name.lower().startswith(low) or any(a.lower().startswith(low) for a in spec.aliases)
        ) and spec not in hits:
            hits.append(spec)
    if len(hits) == 1:
        return hits[0]
    if hits:
        listed = " ".join("-" + h.name for h in hits)
        raise binding_error(
            command,
            f"Parameter cannot be processed because the parameter name '{name}' is ambiguous. "
            f"Possible matches include: {listed}.",
            "AmbiguousParameter",
        )
    raise binding_error(
        command, f"A parameter cannot be found that matches parameter name '{name}'.", "NamedParameterNotFound"
    )


class _Index:
    """What binding needs of a command's parameters, worked out once per command (a NetSecurity cmdlet has
    dozens; the controller's batch binds thousands of calls per apply): its specs with the common ones, the
    exact names and aliases (the first spec that has one wins, as ``resolve`` scans), the positional slots
    in order and the mandatory names. A command's ``params`` do not change once it is made."""

    __slots__ = ("exact", "mandatory", "params", "slots", "specs")

    def __init__(self, params: Mapping[str, ParamSpec]) -> None:
        self.params = params
        self.specs: dict[str, ParamSpec] = dict(params)
        for name, spec in COMMON.items():
            self.specs.setdefault(name, spec)
        self.exact: dict[str, ParamSpec] = {}
        for spec in self.specs.values():
            for known in (spec.name, *spec.aliases):
                self.exact.setdefault(known.lower(), spec)
        self.slots = sorted((s for s in params.values() if s.position is not None), key=lambda s: s.position or 0)
        self.mandatory = [s for s in params.values() if s.mandatory]


# Indexes of read-only parameter tables (the reference's, shared by every host's copy of a cmdlet), by id;
# each entry holds its table, so the id cannot be reused while the entry lives.
_SHARED: dict[int, _Index] = {}


def _index(cmd: Command) -> _Index:
    index = getattr(cmd, "bind_index", None)
    if isinstance(index, _Index) and index.params is cmd.params:
        return index
    params = cmd.params
    index = _SHARED.get(id(params))
    if index is None or index.params is not params:
        index = _Index(params)
        if isinstance(params, MappingProxyType):
            _SHARED[id(params)] = index
    with contextlib.suppress(AttributeError):  # a command class that cannot carry it binds uncached
        cmd.bind_index = index  # type: ignore[attr-defined]
    return index


def bind(
    cmd: Command, tokens: list[Token], pipeline_input: list[Any]
) -> tuple[CaseInsensitiveDict, CaseInsensitiveDict]:
    """(arguments for the command, common parameters) or a binding ``PowerShellError``."""
    index = _index(cmd)
    args = CaseInsensitiveDict()
    common = CaseInsensitiveDict()
    positional: list[Any] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if isinstance(tok, Positional):
            positional.append(tok.value)
            continue
        spec = index.exact.get(tok.name.lower()) or _by_prefix(cmd.name, index.specs, tok.name)
        value = tok.value
        if value is NOTHING and not spec.is_switch and tok.from_splat:
            value = None  # a PSRP parameter sent without a value
        elif value is NOTHING and not spec.is_switch:
            nxt = tokens[i] if i < len(tokens) else None
            if isinstance(nxt, Positional):
                value = nxt.value
                i += 1
            else:
                raise binding_error(
                    cmd.name,
                    f"Missing an argument for parameter '{spec.name}'. Specify a parameter "
                    f"of type '{_net_type(spec)}' and try again.",
                    "MissingArgument",
                )
        if spec.name in args or spec.name in common:
            raise binding_error(
                cmd.name,
                f"Cannot bind parameter because parameter '{spec.name}' is specified more "
                "than once. To provide multiple values to parameters that can accept multiple values, "
                'use the array syntax. For example, "-parameter value1,value2,value3".',
                "ParameterAlreadyBound",
            )
        target = common if spec.name in COMMON and spec.name not in cmd.params else args
        target[spec.name] = convert(cmd.name, spec, True if value is NOTHING else value)
    slots = [s for s in index.slots if s.name not in args]
    for value in positional:
        if not slots:
            raise binding_error(
                cmd.name,
                f"A positional parameter cannot be found that accepts argument '{to_str(value)}'.",
                "PositionalParameterNotFound",
            )
        spec = slots.pop(0)
        args[spec.name] = convert(cmd.name, spec, value)
    missing = [
        s.name
        for s in index.mandatory
        if s.name not in args
        and not (pipeline_input and cmd.accepts_pipeline and s.name.lower() == "inputobject")
    ]
    if missing:
        raise binding_error(
            cmd.name,
            f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}.",
            "MissingMandatoryParameter",
        )
    return args, common


def _net_type(spec: ParamSpec) -> str:
    base = spec.type[:-2] if spec.type.endswith("[]") else spec.type
    if spec.values is not None and spec.type not in ("String", "String[]"):
        return spec.type
    name = {
        "SwitchParameter": "System.Management.Automation.SwitchParameter",
        "CimInstance": "Microsoft.Management.Infrastructure.CimInstance",
        "ScriptBlock": "System.Management.Automation.ScriptBlock",
    }.get(base, f"System.{base}")
    return name + ("[]" if spec.type.endswith("[]") or spec.array else "")


def _transform(cmd: str, spec: ParamSpec, value: Any, target: str, detail: str) -> Exception:
    return binding_error(
        cmd,
        f"Cannot bind parameter '{spec.name}'. Cannot convert value \"{to_str(value)}\" to type "
        f'"{target}". Error: "{detail}"',
        "CannotConvertArgumentNoMessage",
    )


def _enum(cmd: str, spec: ParamSpec, value: Any) -> Any:
    assert spec.values is not None
    canon = {v.lower(): v for v in spec.values}
    parts = value if isinstance(value, (list, tuple)) else [value]
    names: list[str] = []
    for part in parts:
        if spec.type == "ActionPreference" and isinstance(part, int) and 0 <= part < len(_ACTIONS):
            part = _ACTIONS[part]  # -ea 0: the ActionPreference enum's numeric values follow _ACTIONS
        text = to_str(part)
        for piece in text.split(",") if spec.flags else [text]:
            found = canon.get(piece.strip().lower())
            if found is None:
                generated = f"Microsoft.PowerShell.Cmdletization.GeneratedTypes.NetSecurity.{spec.type}"
                if spec.name in COMMON:
                    generated = "System.Management.Automation.ActionPreference"
                raise binding_error(
                    cmd,
                    f"Cannot bind parameter '{spec.name}'. Cannot convert value \"{piece.strip()}\" to type "
                    f'"{generated}". Error: "Unable to match the identifier name {piece.strip()} to a valid '
                    f"enumerator name. Specify one of the following enumerator names and try again: "
                    f'{", ".join(spec.values)}"',
                    "CannotConvertArgumentNoMessage",
                )
            if found not in names:
                names.append(found)
    if spec.flags:
        return [v for v in spec.values if v in names]  # canonical names, in the enum's declared order
    if spec.array or isinstance(value, (list, tuple)):
        return names
    return names[0]


def _scalar(cmd: str, spec: ParamSpec, base: str, value: Any) -> Any:
    if base == "String":
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, (list, tuple)):
            raise binding_error(
                cmd,
                f"Cannot convert 'System.Object[]' to the type 'System.String' required by "
                f"parameter '{spec.name}'. Specified method is not supported.",
                "CannotConvertArgument",
            )
        return None if value is None else to_str(value)
    if base in _UNSIGNED or base in _SIGNED:
        target = f"System.{base}"
        if isinstance(value, bool):
            return int(value)
        try:
            number = int(value) if isinstance(value, (int, float)) else int(to_str(value).strip(), 0)
        except (TypeError, ValueError):
            raise _transform(cmd, spec, value, target, "Input string was not in a correct format.") from None
        low, high = (0, _UNSIGNED[base]) if base in _UNSIGNED else (-_SIGNED[base] - 1, _SIGNED[base])
        if not low <= number <= high:
            raise _transform(cmd, spec, value, target, f"Value was either too large or too small for a {base}.")
        return number
    if base == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        raise binding_error(
            cmd,
            f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert "
            f'value "{_type_of(value)}" to type "System.Boolean". Boolean parameters accept only '
            "Boolean values and numbers, such as $True, $False, 1 or 0.",
            "ParameterArgumentTransformationError",
        )
    if base == "DateTime":
        if isinstance(value, datetime):
            return value
        try:
            return to_datetime(value)
        except Exception:
            raise _transform(
                cmd, spec, value, "System.DateTime", "String was not recognized as a valid DateTime."
            ) from None
    if base == "ScriptBlock" and value is not None and not isinstance(value, (ScriptBlock, str)):
        raise _transform(cmd, spec, value, "System.Management.Automation.ScriptBlock", "Invalid cast.")
    return value


def _type_of(value: Any) -> str:
    return {str: "System.String", datetime: "System.DateTime"}.get(type(value), "System.Object")


def convert(cmd: str, spec: ParamSpec, value: Any) -> Any:
    """One argument converted to the parameter's type; enums in canonical spelling."""
    if value is NOTHING:
        value = None
    if spec.is_switch:
        from .values import to_bool

        return to_bool(value)
    if value is None and spec.mandatory:
        raise binding_error(
            cmd,
            f"Cannot bind argument to parameter '{spec.name}' because it is null.",
            "ParameterArgumentValidationErrorNullNotAllowed",
            "InvalidData",
        )
    if value is None:
        return None
    if spec.values is not None:
        return _enum(cmd, spec, value)
    is_array = spec.array or spec.type.endswith("[]")
    base = spec.type[:-2] if spec.type.endswith("[]") else spec.type
    if is_array:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        return [_scalar(cmd, spec, base, v) for v in items]
    result = _scalar(cmd, spec, base, value)
    if base == "String" and result == "" and spec.mandatory:
        raise binding_error(
            cmd,
            f"Cannot bind argument to parameter '{spec.name}' because it is an empty string.",
            "ParameterArgumentValidationErrorEmptyStringNotAllowed",
            "InvalidData",
        )
    return result
