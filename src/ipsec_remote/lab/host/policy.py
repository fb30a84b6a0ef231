"""A read-only, plain-data view of what one host enforces (its ActiveStore), for the network/IKE model.

Everything here is resolved: rules carry their filters, and each set reference is replaced by the set
itself with its proposals as dicts of the proposal cmdlet's parameter values (enum names as the cmdlets
take them, e.g. ``{"Encryption": "AES256", "Hash": "SHA256", "KeyExchange": "DH19"}``). A set of ``None``
means "not referenced" — the rule uses the default set in effect, and a default of ``None`` means
Windows' built-in values (rules not referencing a set use the defaults: PS-New-NetIPsecRule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import MM_CRYPTO, MM_RULE, P1_AUTH, P2_AUTH, QM_CRYPTO, RULE, Kind, PolicyObject, Store, flag_names
from .reference import default_set_names

if TYPE_CHECKING:
    from .state import LabHost


@dataclass(frozen=True)
class SetView:
    """A crypto or auth set. ``kind``: main_mode_crypto_sets | quick_mode_crypto_sets | phase1_auth_sets |
    phase2_auth_sets. ``options``: MaxMinutes/MaxSessions/ForceDiffieHellman (MM) or
    PerfectForwardSecrecyGroup (QM)."""

    kind: str
    name: str
    display_name: str | None
    store: str
    proposals: tuple[dict[str, Any], ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CsRuleView:
    """An enabled connection security rule that applies to the current profile.

    Address entries as given to the cmdlet ("Any", IP, CIDR, range, keyword); ports "Any"/number/range;
    ``protocol`` "Any", "TCP", "UDP", "ICMPv4", "ICMPv6" or a number.
    """

    name: str
    display_name: str | None
    group: str | None
    store: str
    mode: str
    inbound_security: str
    outbound_security: str
    key_module: str
    local_address: tuple[str, ...]
    remote_address: tuple[str, ...]
    protocol: str
    local_port: tuple[str, ...]
    remote_port: tuple[str, ...]
    qm_crypto_set: SetView | None
    phase1_auth_set: SetView | None
    phase2_auth_set: SetView | None
    profiles: tuple[str, ...] = ("Any",)


@dataclass(frozen=True)
class MmRuleView:
    """An enabled main-mode rule (address scope only, netsecurity-notes §2/§8)."""

    name: str
    display_name: str | None
    store: str
    local_address: tuple[str, ...]
    remote_address: tuple[str, ...]
    mm_crypto_set: SetView | None
    phase1_auth_set: SetView | None
    profiles: tuple[str, ...] = ("Any",)


@dataclass(frozen=True)
class ServiceState:
    name: str
    start_type: str  # Automatic | Manual | Disabled
    status: str  # Running | Stopped

    @property
    def running(self) -> bool:
        return self.status == "Running"


@dataclass(frozen=True)
class HostPolicyView:
    """Everything about one host's enforced IPsec policy and its environment."""

    host: str
    addresses: tuple[str, ...]
    os_version: str
    domain_joined: bool
    domain: str | None
    machine_cert_ca: str | None
    clock_skew_s: float
    current_profile: str
    firewall_enabled: bool  # effective Enabled of the current profile
    local_merge: bool  # effective AllowLocalIPsecRules
    cs_rules: tuple[CsRuleView, ...]
    mm_rules: tuple[MmRuleView, ...]
    default_mm_crypto: SetView | None
    default_qm_crypto: SetView | None
    default_phase1_auth: SetView | None
    default_phase2_auth: SetView | None
    exemptions: frozenset[str]  # Set-NetFirewallSetting -Exemptions flag names in effect
    max_sa_idle_time_s: int
    settings: dict[str, Any]  # every effective Get-NetFirewallSetting value
    services: dict[str, ServiceState]  # by service name (IKEEXT, BFE, MpsSvc, PolicyAgent, WinRM)


def set_view(obj: PolicyObject, store: Store) -> SetView:
    options = {k: v for k, v in obj.props.items() if k not in ("DisplayName", "Description", "Group")}
    return SetView(obj.kind.key, obj.name, obj.props.get("DisplayName"), store.name,
                   tuple(dict(p.values) for p in obj.proposals), options)


def _ref(store: Store, kind: Kind, name: Any) -> SetView | None:
    if not name:
        return None
    found = store.get(kind, str(name))
    return set_view(found, store) if found is not None else None


def _applies(obj: PolicyObject, profile: str) -> bool:
    profiles = flag_names(obj.props.get("Profile")) or ["Any"]
    return obj.props.get("Enabled") == "True" and ("Any" in profiles or profile in profiles)


def build_policy(host: LabHost) -> HostPolicyView:
    stores = host.stores
    profile = stores.current_profile
    cs_rules = []
    for obj, store in stores.active_entries(RULE):
        if not _applies(obj, profile):
            continue
        f = obj.filters
        cs_rules.append(CsRuleView(
            name=obj.name, display_name=obj.props.get("DisplayName"), group=obj.props.get("Group"),
            store=store.name, mode=str(obj.props["Mode"]), inbound_security=str(obj.props["InboundSecurity"]),
            outbound_security=str(obj.props["OutboundSecurity"]), key_module=str(obj.props["KeyModule"]),
            local_address=tuple(f["LocalAddress"]), remote_address=tuple(f["RemoteAddress"]),
            protocol=str(f["Protocol"]), local_port=tuple(f["LocalPort"]), remote_port=tuple(f["RemotePort"]),
            qm_crypto_set=_ref(store, QM_CRYPTO, obj.props.get("QuickModeCryptoSet")),
            phase1_auth_set=_ref(store, P1_AUTH, obj.props.get("Phase1AuthSet")),
            phase2_auth_set=_ref(store, P2_AUTH, obj.props.get("Phase2AuthSet")),
            profiles=tuple(flag_names(obj.props.get("Profile")) or ["Any"]),
        ))
    mm_rules = []
    for obj, store in stores.active_entries(MM_RULE):
        if not _applies(obj, profile):
            continue
        mm_rules.append(MmRuleView(
            name=obj.name, display_name=obj.props.get("DisplayName"), store=store.name,
            local_address=tuple(obj.filters["LocalAddress"]), remote_address=tuple(obj.filters["RemoteAddress"]),
            mm_crypto_set=_ref(store, MM_CRYPTO, obj.props.get("MainModeCryptoSet")),
            phase1_auth_set=_ref(store, P1_AUTH, obj.props.get("Phase1AuthSet")),
            profiles=tuple(flag_names(obj.props.get("Profile")) or ["Any"]),
        ))
    defaults = default_set_names()

    def default(kind: Kind) -> SetView | None:
        found = stores.default_set(kind, defaults[str(kind.default_key)])
        return set_view(*found) if found else None

    settings = stores.effective_settings()
    prof = stores.effective_profile(profile)
    cfg = host.config
    return HostPolicyView(
        host=host.name, addresses=(cfg.address, *cfg.extra_addresses), os_version=cfg.os_version,
        domain_joined=cfg.domain_joined, domain=cfg.domain if cfg.domain_joined else None,
        machine_cert_ca=cfg.machine_cert_ca, clock_skew_s=cfg.clock_skew_s, current_profile=profile,
        firewall_enabled=prof["Enabled"] == "True", local_merge=stores.merge_allowed(),
        cs_rules=tuple(cs_rules), mm_rules=tuple(mm_rules),
        default_mm_crypto=default(MM_CRYPTO), default_qm_crypto=default(QM_CRYPTO),
        default_phase1_auth=default(P1_AUTH), default_phase2_auth=default(P2_AUTH),
        exemptions=frozenset(n for n in flag_names(settings["Exemptions"]) if n != "None"),
        max_sa_idle_time_s=int(settings["MaxSAIdleTimeSeconds"]), settings=settings,
        services={s.name: ServiceState(s.name, s.start_type, s.status) for s in host.services.values()},
    )
