"""Policy stores of one host and the ActiveStore merge.

* ``PersistentStore`` is the local store (the default ``-PolicyStore`` of every cmdlet, reference
  ``default: PersistentStore``); GPO stores are named ``domain\\GPO`` (netsecurity-notes §3).
* ``ActiveStore`` is computed, never stored: every GPO object, plus the local objects only when the
  effective ``AllowLocalIPsecRules`` of the current profile is true. That is the Get/Set-NetFirewallProfile
  property ``AllowLocalIPsecRules`` (GpoBoolean True/False/NotConfigured; the project reference does not
  cover the profile cmdlets — name checked against Set-NetFirewallProfile usage and MS-GPFAS, whose GP
  registry value is ``AllowLocalIPsecPolicyMerge``). A GPO's configured value wins over the local one; when
  nobody configures it local rules are applied (the MMC "Apply local connection security rules: Yes
  (default)"). Settings merge the same way: GPO configured > local configured > built-in default.
* ``RSOP`` is the GPO-only merge; ``SystemDefaults``/``StaticServiceStore``/``ConfigurableServiceStore``
  exist on Windows but hold no IPsec objects here. All of these views are read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..values import CaseInsensitiveDict
from . import errors
from .model import Kind, PolicyObject, Store

if TYPE_CHECKING:
    from .gpo_domain import DomainLink

PROFILES = ("Domain", "Private", "Public")
NOT_CONFIGURED = "NotConfigured"
READ_ONLY_VIEWS = ("ActiveStore", "RSOP", "SystemDefaults", "StaticServiceStore", "ConfigurableServiceStore")

# Built-in values a fresh Server 2022 applies when no store configures a setting (what
# Get-NetFirewallSetting -PolicyStore ActiveStore shows). Sources: PS-Set-NetFirewallSetting defaults
# (KeyEncoding UTF8, MaxSAIdleTimeSeconds 300, CertValidationLevel None, AllowIPsecThroughNAT None,
# EnableStatefulFtp/Pptp False per the reference). Exemptions: HostAssumptions.builtin_exemptions
# (documented for Win7/2008 R2 only). RequireFullAuthSupport False and EnablePacketQueuing None:
# ASSUMPTION (no documented default).
BUILTIN_SETTINGS: dict[str, Any] = {
    "Exemptions": ["NeighborDiscovery", "Dhcp"],
    "EnableStatefulFtp": "False",
    "EnableStatefulPptp": "False",
    "RemoteMachineTransportAuthorizationList": None,
    "RemoteMachineTunnelAuthorizationList": None,
    "RemoteUserTransportAuthorizationList": None,
    "RemoteUserTunnelAuthorizationList": None,
    "RequireFullAuthSupport": "False",
    "CertValidationLevel": "None",
    "AllowIPsecThroughNAT": "None",
    "MaxSAIdleTimeSeconds": 300,
    "KeyEncoding": "UTF8",
    "EnablePacketQueuing": "None",
}
BUILTIN_PROFILE: dict[str, Any] = {
    "Enabled": "True",
    "DefaultInboundAction": "Block",
    "DefaultOutboundAction": "Allow",
    "AllowInboundRules": "True",
    "AllowLocalFirewallRules": "True",
    "AllowLocalIPsecRules": "True",
}


def _unset(key: str) -> Any:
    """The stored "not configured" value of a setting (MaxSAIdleTimeSeconds: 0 = Not Configured, CIM doc)."""
    if key == "MaxSAIdleTimeSeconds":
        return 0
    if key == "Exemptions":
        return [NOT_CONFIGURED]
    if key.endswith("AuthorizationList"):
        return None
    return NOT_CONFIGURED


def is_configured(key: str, value: Any) -> bool:
    return bool(value != _unset(key))


def new_store(name: str, source_type: str) -> Store:
    settings = {k: _unset(k) for k in BUILTIN_SETTINGS}
    profiles = {p: {k: NOT_CONFIGURED for k in BUILTIN_PROFILE} for p in PROFILES}
    if source_type == "Local":
        for p in PROFILES:  # a local store shows the profiles enabled (Get-NetFirewallProfile on a fresh box)
            profiles[p]["Enabled"] = "True"
    return Store(name=name, source_type=source_type, settings=settings, profiles=profiles)


class PolicyStores:
    def __init__(self, gpo_names: tuple[str, ...], current_profile: str,
                 builtin_exemptions: tuple[str, ...] = ("NeighborDiscovery", "Dhcp"),
                 gpo_default_set_wins: bool = True) -> None:
        self.builtin = {**BUILTIN_SETTINGS, "Exemptions": list(builtin_exemptions)}
        self.gpo_default_set_wins = gpo_default_set_wins
        self.persistent = new_store("PersistentStore", "Local")
        self.gpos: CaseInsensitiveDict = CaseInsensitiveDict()
        self.current_profile = current_profile
        # In a fleet, the domain: 'domain\GPO' names the one shared GPO (gpo_domain.py) and ``gpos`` are
        # this host's applied copies (RSOP). Without it (a lone host) ``gpos`` are edited in place.
        self.domain: DomainLink | None = None
        for name in gpo_names:
            self.add_gpo(name)

    def add_gpo(self, name: str) -> Store:
        existing = self.gpos.get(name)
        if isinstance(existing, Store):
            return existing
        store = new_store(name, "GroupPolicy")
        self.gpos[name] = store
        return store

    def gpo_list(self) -> list[Store]:
        """GPO stores in precedence order (ASSUMPTION: first listed = highest precedence)."""
        return [s for s in self.gpos.values() if isinstance(s, Store)]

    # --- store resolution ---------------------------------------------------------------------------

    def store_name(self, args: CaseInsensitiveDict) -> str:
        # -GPOSession is "used in the same way as the PolicyStore parameter" (Show-NetIPsecRule text); the
        # lab's Open-NetGPO hands out the GPO name itself as the session string.
        return str(args.get("GPOSession") or args.get("PolicyStore") or "PersistentStore")

    def writable(self, cmdlet: str, args: CaseInsensitiveDict, write: bool = True) -> Store:
        name = self.store_name(args)
        if name.lower() == "persistentstore":
            return self.persistent
        if any(name.lower() == v.lower() for v in READ_ONLY_VIEWS):
            raise errors.read_only_store(cmdlet, name)
        if self.domain is not None and self.domain.holds(name):
            return self.domain.reach(cmdlet, name, write)
        store = self.gpos.get(name)
        if not isinstance(store, Store):
            raise errors.unknown_store(cmdlet, name)
        return store

    def entries(self, cmdlet: str, args: CaseInsensitiveDict, kind: Kind) -> list[tuple[PolicyObject, Store]]:
        """The objects of ``kind`` a Get-style call sees, each with the store it lives in."""
        name = self.store_name(args).lower()
        if name == "activestore":
            return self.active_entries(kind)
        if name == "rsop":
            return [(o, s) for s in self.gpo_list() for o in s.list(kind)]
        if any(name == v.lower() for v in READ_ONLY_VIEWS):
            return []
        store = self.writable(cmdlet, args, write=False)
        return [(o, store) for o in store.list(kind)]

    # --- merge ----------------------------------------------------------------------------------------

    def merge_allowed(self) -> bool:
        """Effective AllowLocalIPsecRules of the current profile (GPO configured value wins)."""
        return bool(self.effective_profile(self.current_profile)["AllowLocalIPsecRules"] == "True")

    def active_entries(self, kind: Kind) -> list[tuple[PolicyObject, Store]]:
        out = [(o, s) for s in self.gpo_list() for o in s.list(kind)]
        if self.merge_allowed():
            out += [(o, self.persistent) for o in self.persistent.list(kind)]
        return out

    def effective_settings(self, gpo_only: bool = False) -> dict[str, Any]:
        """ActiveStore values (GPO > local > built-in); ``gpo_only``: the RSOP view (GPOs, else not set)."""
        out: dict[str, Any] = {}
        for key, builtin in self.builtin.items():
            out[key] = _unset(key) if gpo_only else builtin
            layers = reversed(self.gpo_list()) if gpo_only else [self.persistent, *reversed(self.gpo_list())]
            for store in layers:
                if is_configured(key, store.settings[key]):
                    out[key] = store.settings[key]
        return out

    def effective_profile(self, profile: str) -> dict[str, Any]:
        out = dict(BUILTIN_PROFILE)
        for key in BUILTIN_PROFILE:
            for store in [self.persistent, *reversed(self.gpo_list())]:
                value = store.profiles[profile][key]
                if value != NOT_CONFIGURED:
                    out[key] = value
        return out

    def default_set(self, kind: Kind, set_name: str) -> tuple[PolicyObject, Store] | None:
        """The ``-Default`` (GUID-named) set in effect (HostAssumptions.gpo_default_set_wins)."""
        order = [*self.gpo_list(), self.persistent]
        if not self.gpo_default_set_wins:
            order.reverse()
        for store in order:
            found = store.get(kind, set_name)
            if found is not None:
                return found, store
        return None
