"""The pure planner: diff(desired, observed) → ordered cmdlet calls per host.

Observed objects come from a host's read-state script, already parsed into the same vocabulary as the
desired ones (kind, name, New-* parameters). The planner only ever touches objects of the owner group —
observed objects are expected to be filtered to that group by the reader — and always selects by name
and policy store (``Remove-*`` without a selector would remove everything: Remove-NetIPsecRule doc
example 1).

Order (DESIGN §1.3): exemptions first; then removals of obsolete rules, main-mode rules and sets (rules
before the sets they reference); then sets, main-mode rules and rules in dependency order; obsolete
exemptions last, so nothing that might require authentication exists while an exemption is missing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..model.calls import CmdletCall, ParamValue, SecretRef
from ..model.desired import DesiredObject, Kind
from ..model.reference import load_reference

Action = Literal["create", "update", "replace", "destroy"]


@dataclass(frozen=True)
class ObservedObject:
    kind: Kind
    name: str
    params: Mapping[str, ParamValue]


@dataclass(frozen=True)
class KindCmdlets:
    noun: str
    name_param: str  # the selector parameter of Set-/Remove-
    settable: frozenset[str]  # New-* parameters that Set-* can change in place


_SET_RULE = frozenset({"DisplayName", "Mode", "InboundSecurity", "OutboundSecurity", "RemoteAddress",
                       "LocalAddress", "Protocol", "LocalPort", "RemotePort", "KeyModule", "QuickModeCryptoSet",
                       "Phase1AuthSet", "Phase2AuthSet", "Profile", "Enabled", "Description"})
# DisplayName changes go through -NewDisplayName on Set-*, so they are handled as a rename below.
CMDLETS: dict[Kind, KindCmdlets] = {
    Kind.EXEMPTION: KindCmdlets("NetIPsecRule", "IPsecRuleName", _SET_RULE),
    Kind.RULE: KindCmdlets("NetIPsecRule", "IPsecRuleName", _SET_RULE),
    Kind.MM_RULE: KindCmdlets("NetIPsecMainModeRule", "Name",
                              frozenset({"DisplayName", "RemoteAddress", "LocalAddress", "MainModeCryptoSet",
                                         "Phase1AuthSet", "Profile", "Enabled", "Description"})),
    Kind.MM_CRYPTO_SET: KindCmdlets("NetIPsecMainModeCryptoSet", "Name",
                                    frozenset({"DisplayName", "Proposal", "MaxMinutes", "MaxSessions",
                                               "ForceDiffieHellman", "Description"})),
    Kind.QM_CRYPTO_SET: KindCmdlets("NetIPsecQuickModeCryptoSet", "Name",
                                    frozenset({"DisplayName", "Proposal", "PerfectForwardSecrecyGroup",
                                               "Description"})),
    Kind.P1_AUTH_SET: KindCmdlets("NetIPsecPhase1AuthSet", "Name",
                                  frozenset({"DisplayName", "Proposal", "Description"})),
}
IDENTITY_PARAMS = frozenset({"Name", "IPsecRuleName", "Group"})

# What Windows reports for a parameter nobody set (reference defaults; "" = no set referenced), so an
# omitted parameter and its reported default compare equal, and drift back to a default is repairable.
WINDOWS_DEFAULTS: dict[str, ParamValue] = {
    "KeyModule": "Default", "Enabled": "True", "Profile": "Any", "Protocol": "Any", "Mode": "Transport",
    "LocalAddress": ["Any"], "RemoteAddress": ["Any"], "LocalPort": ["Any"], "RemotePort": ["Any"],
    "QuickModeCryptoSet": "", "Phase1AuthSet": "", "Phase2AuthSet": "", "MainModeCryptoSet": "",
    "Description": "",
}
# Default sets are named by these GUIDs (reference default_set_names); a rule using them uses no set of ours.
DEFAULT_SET_NAMES = frozenset(n.lower() for n in (
    "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE1}", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE2}",
    "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE3}", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE4}"))


def _effective(params: Mapping[str, ParamValue], name: str) -> ParamValue | None:
    value = params.get(name, WINDOWS_DEFAULTS.get(name))
    if isinstance(value, str) and value.lower() in DEFAULT_SET_NAMES:
        return ""
    return value


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    name: str
    summary: str
    calls: tuple[CmdletCall, ...]
    changed: tuple[str, ...] = ()  # parameter names that differ (update/replace)


@dataclass(frozen=True)
class HostPlan:
    host: str
    address: str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def calls(self) -> list[CmdletCall]:
        return [c for change in self.changes for c in change.calls]

    def count(self, *actions: Action) -> int:
        return sum(1 for c in self.changes if c.action in actions)


@dataclass(frozen=True)
class Plan:
    hosts: tuple[HostPlan, ...]

    @property
    def summary(self) -> dict[str, int]:
        # Terraform's vocabulary: a replace is one change, not an add plus a destroy.
        return {
            "add": sum(h.count("create") for h in self.hosts),
            "change": sum(h.count("update", "replace") for h in self.hosts),
            "destroy": sum(h.count("destroy") for h in self.hosts),
        }

    @property
    def empty(self) -> bool:
        return not any(h.changes for h in self.hosts)


def plan_host(
    host: str, address: str, desired: Iterable[DesiredObject], observed: Iterable[ObservedObject], store: str
) -> HostPlan:
    desired_by_key = {(CMDLETS[d.kind].noun, d.name.lower()): d for d in desired}
    observed_by_key = {(CMDLETS[o.kind].noun, o.name.lower()): o for o in observed}

    first: list[Change] = []  # exemptions to create or fix
    removals: list[Change] = []  # obsolete non-exemption objects
    builds: list[Change] = []  # sets, main-mode rules, rules
    last: list[Change] = []  # obsolete exemptions

    for key, want in desired_by_key.items():
        have = observed_by_key.get(key)
        change = _converge(want, have, store)
        if change is not None:
            (first if want.kind is Kind.EXEMPTION else builds).append(change)
    for key, have in observed_by_key.items():
        if key not in desired_by_key:
            change = Change("destroy", have.kind, have.name, f"remove obsolete {have.kind.value} {have.name}",
                            (_remove(have.kind, have.name, store),))
            (last if have.kind is Kind.EXEMPTION else removals).append(change)

    builds.sort(key=lambda c: c.kind.rank)
    removals.sort(key=lambda c: -c.kind.rank)
    return HostPlan(host, address, tuple(first + removals + builds + last))


def _converge(want: DesiredObject, have: ObservedObject | None, store: str) -> Change | None:
    spec = CMDLETS[want.kind]
    if have is None:
        return Change("create", want.kind, want.name, want.summary, (_new(want, store),))
    # Parameters we no longer set but the host has (e.g. ports removed from a pair) count too.
    names = list(want.params) + [p for p in have.params if p not in want.params]
    changed = [p for p in names if p not in IDENTITY_PARAMS
               and not same_value(_canonical(p, _effective(want.params, p)), _canonical(p, _effective(have.params, p)))]
    if have.kind is not want.kind:
        changed.append("kind")
    if not changed:
        return None
    repairable = all(p in spec.settable and (p in want.params or p in WINDOWS_DEFAULTS) for p in changed)
    if have.kind is want.kind and repairable:
        params: dict[str, ParamValue] = {spec.name_param: want.name}
        for p in changed:
            value = want.params.get(p, WINDOWS_DEFAULTS.get(p, ""))
            params["NewDisplayName" if p == "DisplayName" else p] = value
        params["PolicyStore"] = store
        call = CmdletCall(f"Set-{spec.noun}", params)
        return Change("update", want.kind, want.name, want.summary, (call,), tuple(changed))
    calls = (_remove(have.kind, have.name, store), _new(want, store))
    return Change("replace", want.kind, want.name, want.summary, calls, tuple(changed))


def _new(obj: DesiredObject, store: str) -> CmdletCall:
    params = dict(obj.params)
    params["PolicyStore"] = store
    return CmdletCall(f"New-{CMDLETS[obj.kind].noun}", params)


def _remove(kind: Kind, name: str, store: str) -> CmdletCall:
    spec = CMDLETS[kind]
    return CmdletCall(f"Remove-{spec.noun}", {spec.name_param: name, "PolicyStore": store})


def same_value(want: ParamValue | None, have: ParamValue | None) -> bool:
    """Equality as Windows means it: enum/string case-insensitive, address and port lists as sets."""
    if isinstance(want, CmdletCall) or isinstance(have, CmdletCall):
        return _call_key(want) == _call_key(have)
    if isinstance(want, list) or isinstance(have, list):
        w = want if isinstance(want, list) else ([] if want is None else [want])
        h = have if isinstance(have, list) else ([] if have is None else [have])
        if any(isinstance(x, CmdletCall) for x in [*w, *h]):
            return [_call_key(x) for x in w] == [_call_key(x) for x in h]  # proposal order matters
        return sorted(_norm(x) for x in w) == sorted(_norm(x) for x in h)
    return _norm(want) == _norm(have)


ADDRESS_PARAMS = frozenset({"LocalAddress", "RemoteAddress", "LocalTunnelEndpoint", "RemoteTunnelEndpoint"})
# -Protocol keywords and the numbers a port filter may report instead (IANA).
PROTOCOL_NAMES = {"6": "TCP", "17": "UDP", "1": "ICMPv4", "58": "ICMPv6"}
PROFILES = ("domain", "private", "public")


def _canonical(param: str, value: ParamValue | None) -> ParamValue | None:
    """A value as Windows means it, so forms Windows treats alike compare equal: addresses parsed (an IPv6
    address written differently, a /32 or a dotted mask), protocol numbers as names, every profile as Any."""
    if value is None:
        return None
    if param in ADDRESS_PARAMS:
        items = value if isinstance(value, list) else [value]
        return [canonical_address(str(v)) for v in items]
    if param == "Protocol":
        return PROTOCOL_NAMES.get(str(value).strip(), str(value))
    if param == "Profile" and isinstance(value, str):
        names = sorted({p.strip().lower() for p in value.split(",") if p.strip()})
        return "any" if not names or names == ["any"] or names == sorted(PROFILES) else ",".join(names)
    return value


def canonical_address(text: str) -> str:
    """``2001:DB8::0001`` → ``2001:db8::1``; ``10.0.0.5/32`` → ``10.0.0.5``; ``10.0.0.0/255.0.0.0`` →
    ``10.0.0.0/8``; ranges part by part; keywords (Any, LocalSubnet, …) case-insensitive."""
    text = text.strip()
    if "-" in text and not text.startswith("-"):
        return "-".join(canonical_address(part) for part in text.split("-", 1))
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return text.lower()
    if iface.network.prefixlen == iface.max_prefixlen:
        return iface.ip.compressed
    return f"{iface.ip.compressed}/{iface.network.prefixlen}"


def _norm(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretRef):
        return "<secret>"  # a key is compared by presence: the host's key is never read back
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _call_key(value: object) -> object:
    if isinstance(value, CmdletCall):
        params = {**_proposal_defaults(value.cmdlet), **{k.lower(): _norm(v) for k, v in value.params.items()}}
        return (value.cmdlet.lower(), tuple(sorted(params.items())))
    return _norm(value)


def _proposal_defaults(cmdlet: str) -> dict[str, str]:
    """The documented defaults of a proposal cmdlet's parameters (reference ``default``): a parameter left out
    is what Windows stores, e.g. -Signing RSA of a certificate proposal, so leaving it out converges."""
    info = load_reference().find_cmdlet(cmdlet) if cmdlet.endswith("Proposal") else None
    if info is None:
        return {}
    out: dict[str, str] = {}
    for p in info.parameters.values():
        if p.default is not None:
            number = re.match(r"^\d+", str(p.default))  # "60 (minutes)"
            out[p.name.lower()] = _norm(number.group(0) if number else p.default)
    return out


def plan_fleet(entries: Iterable[tuple[str, str, Iterable[DesiredObject], Iterable[ObservedObject]]],
               store: str) -> Plan:
    return Plan(tuple(plan_host(host, address, desired, observed, store)
                      for host, address, desired, observed in entries))

