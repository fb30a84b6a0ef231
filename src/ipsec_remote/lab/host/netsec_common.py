"""Shared machinery of the NetSecurity cmdlets: command wrapping, the call log, object rendering and the
CDXML-style selection (by name, display name, group, query properties or associated object)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..commands import FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PowerShellError, PSObject
from . import cim, errors
from .model import Kind, PolicyObject, Store, as_list
from .reference import param_specs

if TYPE_CHECKING:
    from .state import LabHost

Handler = Callable[["LabHost", InvocationContext, CaseInsensitiveDict, list[Any]], Iterable[Any]]

# Parameters that steer a cmdlet rather than describe an object.
CONTROL = {
    "policystore", "gposession", "cimsession", "throttlelimit", "asjob", "whatif", "confirm", "passthru",
    "tracepolicystore", "all", "inputobject", "default", "proposal", "newdisplayname",
}
FILTER_PARAMS = ("LocalAddress", "RemoteAddress", "Protocol", "LocalPort", "RemotePort", "InterfaceAlias",
                 "InterfaceType")
STATUS_OK = cim.STATUS_OK
CHANGES = ("New-", "Set-", "Remove-", "Enable-", "Disable-", "Rename-")


def to_json(host: LabHost, value: Any) -> Any:
    """A bound argument as plain JSON for the call log (proposals as nested calls, DESIGN §5)."""
    if isinstance(value, PSObject):
        prop = host.proposal_of(value)
        if prop is not None:
            return prop.to_json()
        name = object_id(value)
        return {"Name": name} if name is not None else {k: to_json(host, v) for k, v in value.properties.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(host, v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, CaseInsensitiveDict):
        return {k: to_json(host, v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def netsec_command(
    host: LabHost, name: str, handler: Handler, log: bool = True, params: dict[str, ParamSpec] | None = None
) -> FunctionCommand:
    """A cmdlet with ParamSpecs from the reference (or ``params`` for one it lacks); NetSecurity ones
    (``log``) go to the call log."""

    reads = name.startswith(("Get-", "Test-")) or name.endswith("Proposal")  # change nothing on the host

    def run(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline_input: list[Any]) -> list[Any]:
        entry: dict[str, Any] = {"cmdlet": name, "params": {k: to_json(host, v) for k, v in args.items()}}
        if log:
            host.calls.append(entry)
        if args.get("WhatIf") and name.startswith(CHANGES):
            return []  # -WhatIf: the change is described, not made
        try:
            out = list(handler(host, ctx, args, pipeline_input))
        except PowerShellError as exc:
            entry["error"] = exc.record.message
            raise
        finally:
            if not reads:
                host.generation += 1  # views derived from the host's policy are rebuilt (LabHost.derived)
        if name.startswith(CHANGES):
            host.notify_change()  # traffic in flight meets each intermediate state (lab/fleet/traffic.py)
        return out

    specs = params if params is not None else param_specs(name)
    # NetSecurity cmdlets are CDXML functions of a module (HostAssumptions.cdxml_sees_script_preference).
    cdxml = log and not host.config.assumptions.cdxml_sees_script_preference
    return FunctionCommand(name=name, params=specs, fn=run, accepts_pipeline=True, ignores_caller_preference=cdxml)


def profile_text(names: list[str]) -> str:
    return ", ".join(names) if names else "Any"


def object_id(obj: PSObject) -> str | None:
    """The ID of a NetSecurity object given back to a cmdlet: its CIM InstanceID (``Name``/``IPsecRuleName``
    are type-layer aliases of it, wfascim cmdlet_to_cim), or the Name of an object that has no CIM part."""
    for value in (obj.cim_value("InstanceID"), obj.get("InstanceID"), obj.get("Name")):
        if value is not None:
            return str(value)
    return None


def render(host: LabHost, obj: PolicyObject, store: Store, *, active: bool, trace: bool) -> PSObject:
    """A stored object as the cmdlet returns it: a CIM instance of its WFAS class (host/cim.py)."""
    proposals = [host.proposal_instance(p) for p in obj.proposals] if obj.kind.proposal_cim is not None else None
    return cim.render(host.config.assumptions, obj, store, proposals, active=active, trace=trace)


def _matches(value: Any, patterns: list[Any]) -> bool:
    texts = [str(v).lower() for v in as_list(value)] or [""]
    for pattern in patterns:
        pat = str(pattern).lower()
        if any(fnmatch.fnmatchcase(t, pat) if _is_wild(pat) else t == pat for t in texts):
            return True
    return False


def _is_wild(text: str) -> bool:
    return any(c in text for c in "*?[")


def select(
    host: LabHost, ctx: InvocationContext, cmdlet: str, kind: Kind, args: CaseInsensitiveDict,
    entries: list[tuple[PolicyObject, Store]], pipeline_input: list[Any],
) -> list[tuple[PolicyObject, Store]]:
    """The objects a Get/Set/Remove/Enable/Disable call addresses; exact selectors that match nothing
    write the adapter's ObjectNotFound error. No selector at all = every object (the GetAll set)."""
    chosen = list(entries)
    inputs = [o for o in [*as_list(args.get("InputObject")), *pipeline_input] if isinstance(o, PSObject)]
    if inputs:
        # Rules come in by their ID; their filter objects by InstanceID, which is the rule's own ID.
        wanted = [str(object_id(o)) for o in inputs]
        chosen = [e for e in chosen if _matches(e[0].name, wanted)]
    selectors: list[tuple[str, str, Callable[[PolicyObject], Any]]] = [
        (kind.name_param, "Name", lambda o: o.name),
        ("DisplayName", "DisplayName", lambda o: o.props.get("DisplayName")),
        ("Group", "RuleGroup", lambda o: o.props.get("Group")),
        ("DisplayGroup", "DisplayGroup", lambda o: o.props.get("Group")),
    ]
    for param, cim_prop, getter in selectors:
        if param not in args:
            continue
        values = as_list(args[param])
        for value in values:
            if not _is_wild(str(value)) and not any(_matches(getter(o), [value]) for o, _ in chosen):
                ctx.write_error(errors.not_found(cmdlet, kind.cim_class, cim_prop, value))
        chosen = [e for e in chosen if _matches(getter(e[0]), values)]
    for key, value in list(args.items()):
        low = key.lower()
        if low.startswith("associated"):
            chosen = _by_association(key, value, chosen)
        elif low in CONTROL or low in {kind.name_param.lower(), "displayname", "group", "displaygroup"}:
            continue
        elif low in {"policystoresource", "policystoresourcetype"}:
            attr = "name" if low == "policystoresource" else "source_type"
            chosen = [e for e in chosen if _matches(getattr(e[1], attr), as_list(value))]
        elif low in {"primarystatus", "status"}:
            chosen = [e for e in chosen if _matches("OK" if low == "primarystatus" else STATUS_OK, as_list(value))]
        else:
            chosen = [e for e in chosen if _matches(_query_value(e[0], key), as_list(value))]
    return chosen


def _query_value(obj: PolicyObject, key: str) -> Any:
    for k, v in {**obj.props, **obj.filters}.items():
        if k.lower() == key.lower():
            return profile_text(v) if k == "Profile" else v
    return None


Entry = tuple[PolicyObject, Store]


def _by_association(param: str, value: Any, chosen: list[Entry]) -> list[Entry]:
    """``-AssociatedNetIPsec…Set $set`` keeps rules referencing it; ``-AssociatedNetIPsecRule $rule`` keeps
    the sets the rule references; ``-AssociatedNetFirewall…Filter $f`` keeps the filter's rule (a filter's
    InstanceID is its rule's); ``-AssociatedNetFirewallProfile $p`` keeps rules applying to that profile."""
    others = [v for v in as_list(value) if isinstance(v, PSObject)]
    names = {str(object_id(v)).lower() for v in others}
    low = param.lower()
    if low.startswith("associatednetfirewall") and low.endswith("filter"):
        ids = {str(object_id(v)).lower() for v in others}
        return [e for e in chosen if e[0].name.lower() in ids]
    if low == "associatednetfirewallprofile":
        return [e for e in chosen if {"any", *names} & {p.lower() for p in as_list(e[0].props.get("Profile"))}]
    out = []
    for obj, store in chosen:
        if low.endswith("set"):
            refs = {str(obj.props.get(p) or "").lower() for p in _SET_PROPS}
            if refs & names:
                out.append((obj, store))
        else:
            refs = {str(o.cim_value(p, o.get(p)) or "").lower() for o in others for p in _SET_PROPS}
            if obj.name.lower() in refs:
                out.append((obj, store))
    return out


_SET_PROPS = ("QuickModeCryptoSet", "Phase1AuthSet", "Phase2AuthSet", "MainModeCryptoSet")
