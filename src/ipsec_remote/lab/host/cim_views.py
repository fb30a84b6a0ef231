"""Filters, firewall settings and profiles, and security associations as CIM instances (the rest of what the
NetSecurity cmdlets return; rules, sets and proposals are in ``cim``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..values import PSObject
from .cim import CIPHER, DH, EXEMPTION_BITS, GPO_BOOLEAN, HASH, PROFILE_BITS, instance
from .model import PolicyObject, flag_names

if TYPE_CHECKING:
    from .config import HostAssumptions


# --- filters, settings, profiles ----------------------------------------------------------------------------

def address_filter(assumptions: HostAssumptions, obj: PolicyObject) -> PSObject:
    local = list(obj.filters.get("LocalAddress", ["Any"]))
    remote = list(obj.filters.get("RemoteAddress", ["Any"]))
    layer = {"LocalIP": local, "RemoteIP": remote}
    return instance("MSFT_NetAddressFilter", {"InstanceID": obj.name, "LocalAddress": local, "RemoteAddress": remote},
                    layer if assumptions.type_layer else None)


def port_filter(assumptions: HostAssumptions, obj: PolicyObject) -> PSObject:
    values = {"InstanceID": obj.name, "Protocol": obj.filters.get("Protocol", "Any"),
              "LocalPort": list(obj.filters.get("LocalPort", ["Any"])),
              "RemotePort": list(obj.filters.get("RemotePort", ["Any"])), "IcmpType": ["Any"], "DynamicTransport": 0}
    return instance("MSFT_NetProtocolPortFilter", values, {"DynamicTarget": "Any"} if assumptions.type_layer else None)


def _gpo_bool(value: Any) -> int:
    return GPO_BOOLEAN.get(str(value), GPO_BOOLEAN["NotConfigured"])


SETTING_CODES: dict[str, dict[str, int]] = {
    "AllowIPsecThroughNAT": {"None": 0, "Server": 1, "Both": 2, "NotConfigured": 65535},
    "CertValidationLevel": {"None": 0, "AttemptCrlCheck": 1, "RequireCrlCheck": 2, "NotConfigured": 65535},
    "KeyEncoding": {"UTF16": 0, "UTF8": 1, "NotConfigured": 65535},
    # The page's list (0 NotConfigured, 1 Receive, 2 Forward) does not line up with the cmdlet enum (None,
    # Inbound, Forward, NotConfigured); UNVERIFIED: None and NotConfigured both read as 0.
    "EnablePacketQueuing": {"None": 0, "NotConfigured": 0, "Inbound": 1, "Forward": 2},
}


def setting(assumptions: HostAssumptions, values: Mapping[str, Any], store_name: str,
            active_profile: str | None) -> PSObject:
    exemptions = flag_names(values.get("Exemptions"))
    mask = 4294967295 if exemptions == ["NotConfigured"] else sum(EXEMPTION_BITS.get(e, 0) for e in exemptions)
    cim: dict[str, Any] = {
        "InstanceID": store_name, "Exemptions": mask, "MaxSAIdleTimeSeconds": values.get("MaxSAIdleTimeSeconds"),
        "EnableStatefulFtp": _gpo_bool(values.get("EnableStatefulFtp")),
        "EnableStatefulPptp": _gpo_bool(values.get("EnableStatefulPptp")),
        "RequireFullAuthSupport": _gpo_bool(values.get("RequireFullAuthSupport")),
        "Profile": PROFILE_BITS[active_profile] if active_profile else 0xFFFF,  # only valid in ActiveStore
    }
    for key, table in SETTING_CODES.items():
        cim[key] = table.get(str(values.get(key)), 65535)
    for key in ("RemoteMachineTransportAuthorizationList", "RemoteMachineTunnelAuthorizationList",
                "RemoteUserTransportAuthorizationList", "RemoteUserTunnelAuthorizationList"):
        cim[key] = values.get(key)
    layer = {"Name": store_name, **{k: v for k, v in values.items() if k != "Exemptions"},
             "Exemptions": ", ".join(exemptions)}
    if active_profile:
        layer["ActiveProfile"] = active_profile
    return instance("MSFT_NetSecuritySettingData", cim, layer if assumptions.type_layer else None)


def firewall_profile(assumptions: HostAssumptions, name: str, values: Mapping[str, Any]) -> PSObject:
    gpo_fields = ("Enabled", "AllowInboundRules", "AllowLocalFirewallRules", "AllowLocalIPsecRules")
    # DefaultInbound/OutboundAction: no list on the page. UNVERIFIED: NotConfigured 0, Allow 2, Block 4
    # (NET_FW_ACTION-style numbers the cmdlet enum Action is ordered after are not documented either).
    actions = {"NotConfigured": 0, "Allow": 2, "Block": 4}
    cim: dict[str, Any] = {"Name": name, "InstanceID": name, **{k: _gpo_bool(values.get(k)) for k in gpo_fields},
                           "DefaultInboundAction": actions.get(str(values.get("DefaultInboundAction")), 0),
                           "DefaultOutboundAction": actions.get(str(values.get("DefaultOutboundAction")), 0)}
    layer = {"Profile": name, **values}
    return instance("MSFT_NetFirewallProfile", cim, layer if assumptions.type_layer else None)


# --- security associations ----------------------------------------------------------------------------------

def _identity(text: Any) -> PSObject | None:
    # Live schema: embedded MSFT_NetIPsecIdentity (scripts read .Identity; wfascim-classes.md evidence 6).
    if text in (None, ""):
        return None
    return instance("MSFT_NetIPsecIdentity", {"Identity": str(text)})


def main_mode_sa(assumptions: HostAssumptions, record: Mapping[str, Any], key_module_codes: Mapping[str, int]
                 ) -> PSObject:
    values = {k: v for k, v in record.items() if not k.endswith(("FirstId", "SecondId"))}
    for key in ("LocalFirstId", "RemoteFirstId", "LocalSecondId", "RemoteSecondId"):
        values[key] = _identity(record.get(key))
    values["InstanceID"] = record.get("Name")
    _endpoints(assumptions, values)
    layer: dict[str, Any] = {}
    if assumptions.type_layer:
        names = {c: n for n, c in key_module_codes.items()}
        layer = {"CipherAlgorithm": _name(CIPHER, record.get("CipherAlgorithm")),
                 "HashAlgorithm": _name(HASH, record.get("HashAlgorithm")),
                 "GroupId": _name(DH, record.get("GroupId")),
                 "KeyModule": names.get(int(record.get("KeyModule") or 0), str(record.get("KeyModule")))}
    return instance("MSFT_NetMainModeSA", values, layer or None)


def quick_mode_sa(assumptions: HostAssumptions, record: Mapping[str, Any]) -> PSObject:
    values = dict(record)
    values["InstanceID"] = record.get("Name")
    _endpoints(assumptions, values)
    layer: dict[str, Any] = {}
    if assumptions.type_layer:
        for prefix in ("First", "Second"):
            layer[f"{prefix}CipherAlgorithm"] = _name(CIPHER, record.get(f"{prefix}CipherAlgorithm"))
            layer[f"{prefix}IntegrityAlgorithm"] = _name(HASH, record.get(f"{prefix}IntegrityAlgorithm"))
        layer["PfsGroupId"] = _name(DH, record.get("PfsGroupId"))
    return instance("MSFT_NetQuickModeSA", values, layer or None)


def _endpoints(assumptions: HostAssumptions, values: dict[str, Any]) -> None:
    """An SA's endpoints as the host writes them (HostAssumptions.sa_endpoint_text)."""
    if assumptions.sa_endpoint_text == "full":
        for key in ("LocalEndpoint", "RemoteEndpoint"):
            values[key] = _full_ipv6(values.get(key))


def _full_ipv6(text: Any) -> Any:
    try:
        address = ipaddress.ip_address(str(text))
    except ValueError:
        return text
    if address.version != 6:
        return text
    return ":".join(f"{int(group, 16):x}" for group in address.exploded.split(":"))


def _name(table: Mapping[str, int], code: Any) -> str:
    return next((n for n, c in table.items() if str(c) == str(code)), str(code))

