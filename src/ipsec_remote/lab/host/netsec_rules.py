"""New/Get/Set/Remove/Enable/Disable-NetIPsecRule and -NetIPsecMainModeRule."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext
from ..values import CaseInsensitiveDict
from . import errors
from .config import HostAssumptions
from .model import MM_RULE, RULE, RULE_SET_REFS, Kind, PolicyObject, Store, as_list, flag_names
from .netsec_common import CONTROL, FILTER_PARAMS, netsec_command, render, select
from .reference import valid_security_pairs

if TYPE_CHECKING:
    from .state import LabHost

# Documented defaults of a new rule (reference `default`, PS-New-NetIPsecRule): Mode Transport,
# OutboundSecurity None, KeyModule Default, Profile Any, InterfaceType Any, Protocol Any.
# InboundSecurity and Enabled are undocumented: HostAssumptions.inbound_security_default /
# rule_enabled_default replace the values below.
RULE_DEFAULTS: dict[str, Any] = {
    "DisplayName": None, "Description": None, "Group": None, "Enabled": "True", "Profile": ["Any"],
    "Platform": [], "Mode": "Transport", "InboundSecurity": "None", "OutboundSecurity": "None",
    "QuickModeCryptoSet": None, "Phase1AuthSet": None, "Phase2AuthSet": None, "KeyModule": "Default",
    "AllowWatchKey": False, "AllowSetKey": False, "LocalTunnelEndpoint": [], "RemoteTunnelEndpoint": [],
    "RemoteTunnelHostname": None, "ForwardPathLifetime": 0, "EncryptedTunnelBypass": False,
    "RequireAuthorization": False, "User": None, "Machine": None,
}
MM_RULE_DEFAULTS: dict[str, Any] = {
    "DisplayName": None, "Description": None, "Group": None, "Enabled": "True", "Profile": ["Any"],
    "Platform": [], "MainModeCryptoSet": None, "Phase1AuthSet": None,
}
FILTER_DEFAULTS: dict[str, Any] = {
    "LocalAddress": ["Any"], "RemoteAddress": ["Any"], "Protocol": "Any", "LocalPort": ["Any"],
    "RemotePort": ["Any"], "InterfaceAlias": ["Any"], "InterfaceType": "Any",
}
MM_FILTER_KEYS = ("LocalAddress", "RemoteAddress")  # MM rules have address filters only (notes §8)


def _defaults(kind: Kind, assumptions: HostAssumptions) -> dict[str, Any]:
    out = dict(RULE_DEFAULTS if kind is RULE else MM_RULE_DEFAULTS)
    out["Enabled"] = assumptions.rule_enabled_default
    if kind is RULE:
        out["InboundSecurity"] = assumptions.inbound_security_default
    return out


# Address keywords (New-NetIPsecRule -RemoteAddress text); matched case-insensitively, read back canonical.
ADDRESS_KEYWORDS = {k.lower(): k for k in (
    "Any", "LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet",
    "IntranetRemoteAccess", "PlayToDevice")}


def windows_address(text: str) -> str:
    """An address filter entry as the store gives it back (HostAssumptions.address_display)."""
    if text.lower() in ADDRESS_KEYWORDS:
        return ADDRESS_KEYWORDS[text.lower()]
    if "/" not in text:
        return text
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text  # keywords, ranges and anything else stay as given
    address = text.split("/", 1)[0]
    if net.prefixlen == net.max_prefixlen:
        return address
    return f"{address}/{net.netmask}" if net.version == 4 else f"{address}/{net.prefixlen}"


def _normalise(key: str, value: Any) -> Any:
    if key == "Profile":
        names = flag_names(value)
        return names if names and names != ["Any"] else ["Any"]
    if key in {"LocalAddress", "RemoteAddress", "LocalPort", "RemotePort", "InterfaceAlias", "Platform",
               "LocalTunnelEndpoint", "RemoteTunnelEndpoint"}:
        return [str(v) for v in as_list(value)]
    if key == "Protocol":
        text = str(value)
        # Well-known protocol numbers read back by name. ASSUMPTION: the port-filter display of numbers
        # is not documented; the names are the -Protocol keywords of the cmdlet.
        known = {"tcp": "TCP", "udp": "UDP", "icmpv4": "ICMPv4", "icmpv6": "ICMPv6", "any": "Any",
                 "6": "TCP", "17": "UDP", "1": "ICMPv4", "58": "ICMPv6"}
        return known.get(text.lower(), text)
    return value


def _apply(obj: PolicyObject, args: CaseInsensitiveDict, address_display: str) -> None:
    filter_keys = FILTER_PARAMS if obj.kind is RULE else MM_FILTER_KEYS
    for key, value in args.items():
        low = key.lower()
        if low == "newdisplayname":
            obj.props["DisplayName"] = value
        elif low in CONTROL or low == obj.kind.name_param.lower():
            continue
        elif any(low == f.lower() for f in filter_keys):
            canonical = next(f for f in filter_keys if f.lower() == low)
            value = _normalise(canonical, value)
            if canonical in ("LocalAddress", "RemoteAddress") and address_display == "windows":
                value = [windows_address(v) for v in value]
            obj.filters[canonical] = value
        else:
            canonical = next((k for k in obj.props if k.lower() == low), key)
            obj.props[canonical] = _normalise(canonical, value)


def validate(cmdlet: str, obj: PolicyObject, store: Store) -> None:
    """Checks the provider makes when a rule is created or changed."""
    if obj.kind is RULE:
        pair = (str(obj.props["InboundSecurity"]), str(obj.props["OutboundSecurity"]))
        if pair not in valid_security_pairs():
            raise errors.invalid_security_pair(cmdlet, *pair)
        # "Port ranges are only allowed … when the rule type is Do Not Secure" (New-NetIPsecRule
        # -LocalPort/-RemotePort text; netsecurity-notes §8).
        ports = [*obj.filters.get("LocalPort", []), *obj.filters.get("RemotePort", [])]
        if pair != ("None", "None") and any("-" in str(p) for p in ports):
            raise errors.invalid_parameter(cmdlet, "Port ranges are only allowed when the rule type is Do Not Secure.")
    for prop, set_kind in RULE_SET_REFS[obj.kind.key]:
        ref = obj.props.get(prop)
        if ref and store.get(set_kind, str(ref)) is None:
            raise errors.missing_set(cmdlet, prop, str(ref))


def new_rule(kind: Kind, cmdlet: str) -> Any:
    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
        store = host.stores.writable(cmdlet, args)
        # -IPsecRuleName/-Name default: "a randomly assigned value" (reference) — a braced GUID.
        name = str(args.get(kind.name_param) or "{" + str(uuid.uuid4()) + "}")
        if store.get(kind, name) is not None:
            raise errors.already_exists(cmdlet, name)
        keys = FILTER_DEFAULTS if kind is RULE else {k: FILTER_DEFAULTS[k] for k in MM_FILTER_KEYS}
        filters = {k: list(v) if isinstance(v, list) else v for k, v in keys.items()}
        obj = PolicyObject(kind, name, _defaults(kind, host.config.assumptions), filters=filters)
        _apply(obj, args, host.config.assumptions.address_display)
        validate(cmdlet, obj, store)
        store.add(obj)
        return [render(host, obj, store, active=False, trace=False)]

    return handler


def get_rule(kind: Kind, cmdlet: str) -> Any:
    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
        entries = host.stores.entries(cmdlet, args, kind)
        active = host.stores.store_name(args).lower() == "activestore"
        trace = bool(args.get("TracePolicyStore"))
        chosen = select(host, ctx, cmdlet, kind, args, entries, pipe)
        return [render(host, o, s, active=active, trace=trace) for o, s in chosen]

    return handler


def change_rule(kind: Kind, cmdlet: str, verb: str) -> Any:
    """Set/Enable/Disable/Remove: select in one writable store, change in place."""

    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
        store = host.stores.writable(cmdlet, args)
        entries = [(o, store) for o in store.list(kind)]
        select_args = args if verb != "Set" else _selectors_only(kind, args)
        chosen = select(host, ctx, cmdlet, kind, select_args, entries, pipe)
        out = []
        for obj, _ in chosen:
            if verb == "Remove":
                store.remove(obj)
            elif verb in ("Enable", "Disable"):
                obj.props["Enabled"] = "True" if verb == "Enable" else "False"
            else:
                changed = PolicyObject(obj.kind, obj.name, dict(obj.props), dict(obj.filters))
                _apply(changed, _changes_only(kind, args), host.config.assumptions.address_display)
                validate(cmdlet, changed, store)
                obj.props, obj.filters = changed.props, changed.filters
            if args.get("PassThru"):
                out.append(render(host, obj, store, active=False, trace=False))
        return out

    return handler


def _selectors_only(kind: Kind, args: CaseInsensitiveDict) -> CaseInsensitiveDict:
    # Set-* selects only by its parameter-set selectors; every other parameter is a new value.
    keep = {kind.name_param.lower(), "displayname", "group", "displaygroup", "inputobject", "policystore",
            "gposession"}
    return CaseInsensitiveDict({k: v for k, v in args.items() if k.lower() in keep})


def _changes_only(kind: Kind, args: CaseInsensitiveDict) -> CaseInsensitiveDict:
    skip = {kind.name_param.lower(), "displayname", "group", "displaygroup"}
    return CaseInsensitiveDict({k: v for k, v in args.items() if k.lower() not in skip})


def register(host: LabHost, table: CommandTable) -> None:
    for kind in (RULE, MM_RULE):
        noun = kind.noun
        table.add(netsec_command(host, f"New-{noun}", new_rule(kind, f"New-{noun}")))
        table.add(netsec_command(host, f"Get-{noun}", get_rule(kind, f"Get-{noun}")))
        for verb in ("Set", "Remove", "Enable", "Disable"):
            name = f"{verb}-{noun}"
            table.add(netsec_command(host, name, change_rule(kind, name, verb)))
