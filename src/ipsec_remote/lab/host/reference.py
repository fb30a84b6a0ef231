"""ParamSpecs for the lab's NetSecurity cmdlets, generated from the project's cmdlet reference.

The reference (``ipsec_remote/data/netsecurity.json``, derived from ``shared/reference/netsecurity.json``)
lists every parameter of every cmdlet with its type, enum values, aliases and the parameter sets it is
mandatory in. Generating the specs from it means an unknown parameter, a bad enum value or a missing
mandatory parameter fails during binding exactly where it would fail on Windows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..commands import ParamSpec

_IGNORED_SETS = {"InputObject (cdxml)"}  # pipeline-only set: it never decides what is mandatory


@functools.cache
def reference() -> dict[str, Any]:
    text = resources.files("ipsec_remote.data").joinpath("netsecurity.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def cmdlet_ref(name: str) -> dict[str, Any]:
    found: dict[str, Any] = reference()["cmdlets"][name]
    return found


def default_set_names() -> dict[str, str]:
    """``-Default`` names per set kind (``MainModeCryptoSet`` -> ``{E5A5D32A-…FE1}``)."""
    names = reference()["default_set_names"]
    return {k: v for k, v in names.items() if k != "source"}


def valid_security_pairs() -> set[tuple[str, str]]:
    """Documented In/Out pairs (New/Set-NetIPsecRule -OutboundSecurity text)."""
    return {(a, b) for a, b in reference()["security_pairs"]["pairs"]}


def _is_mandatory(spec: dict[str, Any], all_sets: list[str]) -> bool:
    """Mandatory for the engine's set-less binder: only when required in every parameter set.

    ``ParamSpec`` has no parameter-set notion, so a parameter mandatory in just one set (``-IPsecRuleName``
    in ``ByIPsecRuleName``) is optional here; the cmdlet checks set-specific requirements itself.
    """
    if not spec.get("mandatory"):
        return False
    sets = spec.get("mandatory_in_sets") or []
    if "(All)" in sets:
        return True
    relevant = [s for s in all_sets if s not in _IGNORED_SETS]
    return bool(relevant) and all(s in sets for s in relevant)


def _position(spec: dict[str, Any]) -> int | None:
    pos = spec.get("position")
    if not pos:
        return None
    values = {int(p) for p in pos if str(p).isdigit()}
    return values.pop() if len(values) == 1 else None


@functools.cache
def param_specs(name: str) -> Mapping[str, ParamSpec]:
    """Every parameter the reference lists for ``name``, keyed by canonical name.

    Built once per cmdlet and shared read-only by every lab host (a 1,000-host fleet would otherwise
    hold a thousand copies)."""
    ref = cmdlet_ref(name)
    sets = list(ref.get("parameter_sets") or [])
    out: dict[str, ParamSpec] = {}
    for pname, spec in ref["parameters"].items():
        if not isinstance(spec, dict):
            continue
        values = spec.get("values")
        out[pname] = ParamSpec(
            name=pname,
            type=str(spec.get("type", "Object")),
            array=bool(spec.get("array")),
            mandatory=_is_mandatory(spec, sets),
            aliases=tuple(spec.get("aliases") or ()),
            values=tuple(values) if values else None,
            flags=bool(spec.get("flags")),
            position=None if spec.get("type") == "SwitchParameter" else _position(spec),
        )
    return MappingProxyType(out)


def param_default(cmdlet: str, param: str) -> str | None:
    """The documented default (prose-derived, see netsecurity-notes §0), or None."""
    spec = cmdlet_ref(cmdlet)["parameters"].get(param) or {}
    value = spec.get("default")
    return str(value) if value is not None else None
