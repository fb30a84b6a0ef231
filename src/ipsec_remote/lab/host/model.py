"""NetSecurity objects as one lab host stores them, and the policy stores that hold them.

An object keeps its CIM-visible properties (``props``, by cmdlet property name), and — for rules — the
address/port/protocol filters *beside* the rule: on Windows they are separate filter instances reached
with ``Get-NetFirewallAddressFilter -AssociatedNetIPsecRule`` (netsecurity-notes §8), never rule
properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..values import PSObject


@dataclass(frozen=True)
class Kind:
    """One family of NetSecurity objects."""

    key: str  # collection name in snapshots (DESIGN §5)
    noun: str  # cmdlet noun
    cim_class: str
    name_param: str  # the selector/ID parameter of New/Get/Set/Remove
    default_key: str | None = None  # key in the reference's default_set_names
    proposal_cim: str | None = None  # class of the proposals a set holds


RULE = Kind("rules", "NetIPsecRule", "MSFT_NetConSecRule", "IPsecRuleName")
MM_RULE = Kind("main_mode_rules", "NetIPsecMainModeRule", "MSFT_NetMainModeRule", "Name")
MM_CRYPTO = Kind(
    "main_mode_crypto_sets", "NetIPsecMainModeCryptoSet", "MSFT_NetIKEMMCryptoSet", "Name",
    "MainModeCryptoSet", "MSFT_NetIKEMMCryptoProposal",
)
QM_CRYPTO = Kind(
    "quick_mode_crypto_sets", "NetIPsecQuickModeCryptoSet", "MSFT_NetIKEQMCryptoSet", "Name",
    "QuickModeCryptoSet", "MSFT_NetIKEQMCryptoProposal",
)
P1_AUTH = Kind(
    "phase1_auth_sets", "NetIPsecPhase1AuthSet", "MSFT_NetIKEP1AuthSet", "Name",
    "Phase1AuthSet", "MSFT_NetIKEBasicAuthProposal",
)
P2_AUTH = Kind(
    "phase2_auth_sets", "NetIPsecPhase2AuthSet", "MSFT_NetIKEP2AuthSet", "Name",
    "Phase2AuthSet", "MSFT_NetIKEBasicAuthProposal",
)
KINDS: tuple[Kind, ...] = (RULE, MM_RULE, MM_CRYPTO, QM_CRYPTO, P1_AUTH, P2_AUTH)
SET_KINDS: tuple[Kind, ...] = (MM_CRYPTO, QM_CRYPTO, P1_AUTH, P2_AUTH)
KIND_BY_KEY = {k.key: k for k in KINDS}

# Which rule property references which set kind (the same store must hold the set: New-NetIPsecRule /
# New-NetIPsecMainModeRule descriptions, netsecurity-notes §2).
RULE_SET_REFS: dict[str, tuple[tuple[str, Kind], ...]] = {
    RULE.key: (("QuickModeCryptoSet", QM_CRYPTO), ("Phase1AuthSet", P1_AUTH), ("Phase2AuthSet", P2_AUTH)),
    MM_RULE.key: (("MainModeCryptoSet", MM_CRYPTO), ("Phase1AuthSet", P1_AUTH)),
}

CIM_NAMESPACE = "root/StandardCimv2"


@dataclass
class Proposal:
    """One crypto/auth proposal: every parameter value (given or documented default) by parameter name."""

    cmdlet: str  # New-NetIPsec…Proposal that built it
    values: dict[str, Any]
    given: dict[str, Any] = field(default_factory=dict)  # as the script passed them (call log)

    def to_json(self) -> dict[str, Any]:
        return {"cmdlet": self.cmdlet, "params": dict(self.given)}


@dataclass
class PolicyObject:
    kind: Kind
    name: str
    props: dict[str, Any]
    filters: dict[str, Any] = field(default_factory=dict)
    proposals: list[Proposal] = field(default_factory=list)

    def prop(self, name: str, default: Any = None) -> Any:
        return self.props.get(name, default)


@dataclass
class Store:
    """One policy store: PersistentStore (Local) or a GPO (GroupPolicy)."""

    name: str
    source_type: str  # PolicyStoreSourceType: Local | GroupPolicy
    settings: dict[str, Any]
    profiles: dict[str, dict[str, Any]]
    objects: dict[str, dict[str, PolicyObject]] = field(default_factory=lambda: {k.key: {} for k in KINDS})

    def list(self, kind: Kind) -> list[PolicyObject]:
        return list(self.objects[kind.key].values())

    def get(self, kind: Kind, name: str) -> PolicyObject | None:
        return self.objects[kind.key].get(name.lower())

    def add(self, obj: PolicyObject) -> None:
        self.objects[obj.kind.key][obj.name.lower()] = obj

    def remove(self, obj: PolicyObject) -> None:
        self.objects[obj.kind.key].pop(obj.name.lower(), None)


def proposal_object(proposal: Proposal, cim_class: str) -> PSObject:
    return PSObject.cim(f"{CIM_NAMESPACE}/{cim_class}", dict(proposal.values))


def as_list(value: Any) -> list[Any]:
    """A parameter value as a list (PowerShell unrolls scalars into one-element arrays)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def flag_names(value: Any) -> list[str]:
    """A flags-enum value (``Domain,Private``, ``'Domain, Private'`` or a list) as its member names."""
    out: list[str] = []
    for item in as_list(value):
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out
