"""Which connection security rule (and main-mode rule) applies to a flow on one host.

Precedence (windows-behaviour.md §1): authentication exemptions win "regardless of other connection
security rules" (WS2008 help cc811521, documented); otherwise the more specific rule wins ([community]
Win7 Resource Kit: "has more matching criteria"); equal specificity with different actions is
undocumented and decided by ``Assumptions.tie_break``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ipsec_remote.lab.ike.model import Assumptions, CsRule, Direction, Flow, HostPolicy, MmRule
from ipsec_remote.lab.ike.proposals import PROTOCOL_NUMBERS

_IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address
_SECURITY_RANK = {"None": 0, "Request": 1, "Require": 2}
_ADDRESS_SPACE = 2**128  # "Any": larger than any real range, so it always counts as least specific


class AmbiguousPrecedence(ValueError):
    """Raised when ``Assumptions.tie_break == "error"`` and equally specific rules disagree."""


@dataclass(frozen=True)
class Endpoints:
    """A flow seen from one host: local/remote swap with the direction (rules are written locally)."""

    local_address: str
    remote_address: str
    protocol: int | None  # None = no protocol number (never produced by a real flow)
    local_port: int
    remote_port: int


def endpoints(flow: Flow, direction: Direction) -> Endpoints:
    """Outbound = the host is the flow's source; inbound = the host is its destination."""
    proto = protocol_number(flow.protocol)
    if direction == "outbound":
        return Endpoints(flow.src_address, flow.dst_address, proto, flow.src_port, flow.dst_port)
    return Endpoints(flow.dst_address, flow.src_address, proto, flow.dst_port, flow.src_port)


def protocol_number(protocol: str) -> int | None:
    """IANA number for a -Protocol value; None for "Any"."""
    text = protocol.strip()
    if text.lower() == "any":
        return None
    if text.isdigit():
        return int(text)
    try:
        return PROTOCOL_NUMBERS[text.upper()]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}") from None


def policy_active(policy: HostPolicy, assumptions: Assumptions) -> bool:
    """Whether the host enforces connection security rules at all.

    Disabling Windows Firewall loses "the ability to use IPsec connection security rules" (admin guide,
    netsecurity.json services.MpsSvc).  MpsSvc/BFE stopped: ``Assumptions.*_down_means_no_policy``.
    """
    if not policy.firewall_enabled:
        return False
    if not policy.mpssvc_running and assumptions.mpssvc_down_means_no_policy:
        return False
    return policy.bfe_running or not assumptions.bfe_down_means_no_policy


def globally_exempt(policy: HostPolicy, flow: Flow) -> bool:
    """Traffic no IPsec rule applies to on this host.

    * IKE itself: BFE permits UDP 500 and 4500 (IPv4) / 500 (IPv6) (WFP "IKE/AuthIP Exemptions").
    * Set-NetFirewallSetting -Exemptions: "Icmp" exempts ICMP; "Dhcp" exempts DHCP (UDP 67/68, 546/547).
      NeighborDiscovery/RouterDiscovery need ICMP types, which a Flow does not carry.
    """
    proto = protocol_number(flow.protocol)
    ports = {flow.src_port, flow.dst_port}
    if proto == 17 and ports & {500, 4500}:
        return True
    if "Icmp" in policy.exemptions and proto in (1, 58):
        return True
    return "Dhcp" in policy.exemptions and proto == 17 and bool(ports & {67, 68, 546, 547})


def rule_matches(rule: CsRule, policy: HostPolicy, ep: Endpoints, assumptions: Assumptions) -> bool:
    """Address, protocol and port conditions of a CS rule (PS-New-NetIPsecRule parameters), in either
    orientation when ``Assumptions.cs_rule_endpoints`` is "mirrored"."""
    if not rule.enabled or (rule.mode == "Tunnel" and not assumptions.tunnel_rules_match):
        return False
    if _oriented_match(rule, policy, ep, assumptions):
        return True
    return assumptions.cs_rule_endpoints == "mirrored" and _oriented_match(rule, policy, _swapped(ep), assumptions)


def _swapped(ep: Endpoints) -> Endpoints:
    return Endpoints(ep.remote_address, ep.local_address, ep.protocol, ep.remote_port, ep.local_port)


def _oriented_match(rule: CsRule, policy: HostPolicy, ep: Endpoints, assumptions: Assumptions) -> bool:
    if not address_matches(rule.local_address, ep.local_address, policy, assumptions):
        return False
    if not address_matches(rule.remote_address, ep.remote_address, policy, assumptions):
        return False
    rule_proto = protocol_number(rule.protocol)
    if rule_proto is not None and rule_proto != ep.protocol:
        return False
    if rule_proto in (6, 17):  # ports only exist for TCP/UDP
        return port_matches(rule.local_port, ep.local_port, assumptions) and port_matches(
            rule.remote_port, ep.remote_port, assumptions
        )
    return True


def effective_rule(
    policy: HostPolicy, flow: Flow, direction: Direction, assumptions: Assumptions | None = None
) -> CsRule | None:
    """The CS rule that governs ``flow`` on ``policy``'s host in ``direction``, or None."""
    a = assumptions or Assumptions()
    if not policy_active(policy, a) or globally_exempt(policy, flow):
        return None
    ep = endpoints(flow, direction)
    matching = [r for r in policy.cs_rules if rule_matches(r, policy, ep, a)]
    if not matching:
        return None
    # Documented: exemptions apply "regardless of other connection security rules" (cc811521).
    exemptions = [r for r in matching if r.is_exemption]
    if exemptions:
        return exemptions[0]
    return _most_specific(matching, policy, direction, a)


def _most_specific(
    rules: Sequence[CsRule], policy: HostPolicy, direction: Direction, a: Assumptions
) -> CsRule:
    keyed = [(_specificity(r, policy, a), r) for r in rules]
    best_key = max(k for k, _ in keyed)
    best = [r for k, r in keyed if k == best_key]
    actions = {(r.inbound_security, r.outbound_security) for r in best}
    if len(actions) == 1 or a.tie_break == "first_listed":
        return best[0]
    if a.tie_break == "error":
        raise AmbiguousPrecedence(f"{policy.name}: equally specific rules {[r.name for r in best]} differ")

    def strength(rule: CsRule) -> tuple[int, int]:
        here, other = (
            (rule.outbound_security, rule.inbound_security)
            if direction == "outbound"
            else (rule.inbound_security, rule.outbound_security)
        )
        return _SECURITY_RANK[here], _SECURITY_RANK[other]

    pick = max if a.tie_break == "most_restrictive" else min
    return pick(best, key=strength)  # max/min keep the first on equal keys: listing order


def _specificity(rule: CsRule, policy: HostPolicy, a: Assumptions) -> tuple[int, int]:
    """(number of conditions set, -addresses covered) — more criteria first ([community] Win7 Resource
    Kit), then narrower address scope if ``address_size_breaks_ties`` (assumption)."""
    criteria = sum(
        1
        for present in (
            not _is_any(rule.local_address),
            not _is_any(rule.remote_address),
            rule.protocol.strip().lower() != "any",
            protocol_number(rule.protocol) in (6, 17) and not _is_any(rule.local_port),
            protocol_number(rule.protocol) in (6, 17) and not _is_any(rule.remote_port),
        )
        if present
    )
    if not a.address_size_breaks_ties:
        return criteria, 0
    size = _address_count(rule.local_address, policy) * _address_count(rule.remote_address, policy)
    return criteria, -size


def select_mm_rule(
    policy: HostPolicy, local_address: str, remote_address: str, assumptions: Assumptions
) -> MmRule | None:
    """The main-mode rule for an address pair (MM rules have address conditions only, §8).

    Precedence between overlapping MM rules is undocumented; the lab reuses the CS-rule specificity
    ordering (narrower address scope wins, then listing order) — same ``address_size_breaks_ties``.
    """
    if not policy_active(policy, assumptions):
        return None
    hits = [
        r
        for r in policy.mm_rules
        if r.enabled
        and (_mm_addresses(r, local_address, remote_address, policy, assumptions)
             or (assumptions.cs_rule_endpoints == "mirrored"
                 and _mm_addresses(r, remote_address, local_address, policy, assumptions)))
    ]
    if not hits:
        return None
    if not assumptions.address_size_breaks_ties:
        return hits[0]
    return min(
        hits,
        key=lambda r: _address_count(r.local_address, policy) * _address_count(r.remote_address, policy),
    )


def _mm_addresses(rule: MmRule, local: str, remote: str, policy: HostPolicy, a: Assumptions) -> bool:
    return address_matches(rule.local_address, local, policy, a) and address_matches(
        rule.remote_address, remote, policy, a)


# --- address and port primitives ---------------------------------------------------------------------


def address_matches(entries: Iterable[str], address: str, policy: HostPolicy, a: Assumptions) -> bool:
    ip = _ip(address)
    for entry in entries:
        for net in _networks(entry, policy):
            if net is None:
                return True  # "Any"
            if isinstance(net, tuple):
                lo, hi = net
                if lo.version == ip.version and lo <= ip <= hi:  # type: ignore[operator]
                    return True
            elif net.version == ip.version and ip in net:
                return True
        if _is_keyword(entry) and a.unknown_keyword_matches and entry.lower() not in ("any", "localsubnet"):
            return True
    return False


def port_matches(entries: Iterable[str], port: int, a: Assumptions) -> bool:
    for entry in entries:
        text = entry.strip()
        if text.lower() == "any":
            return True
        if "-" in text:
            lo, _, hi = text.partition("-")
            if lo.strip().isdigit() and hi.strip().isdigit():
                if int(lo) <= port <= int(hi):
                    return True
                continue
        if text.isdigit():
            if int(text) == port:
                return True
            continue
        if a.unknown_keyword_matches:  # RPC, RPCEPMap, IPHTTPS…: not modelled
            return True
    return False


def _is_any(entries: Sequence[str]) -> bool:
    return not entries or any(e.strip().lower() == "any" for e in entries)


def _is_keyword(entry: str) -> bool:
    return entry.strip()[:1].isalpha() and ":" not in entry


def _networks(entry: str, policy: HostPolicy) -> tuple[_IpNet | tuple[_Ip, _Ip] | None, ...]:
    """Parse one address entry; (None,) = Any, () = keyword the lab cannot resolve."""
    return _parsed_entry(entry, policy.local_subnets)


# Every probe matches every rule's addresses: parse each entry (and address) once per lab process.
@functools.lru_cache(maxsize=65536)
def _ip(address: str) -> _Ip:
    return ipaddress.ip_address(address)


@functools.lru_cache(maxsize=65536)
def _parsed_entry(entry: str, local_subnets: tuple[str, ...]) -> tuple[_IpNet | tuple[_Ip, _Ip] | None, ...]:
    return tuple(_parse_entry(entry, local_subnets))


def _parse_entry(entry: str, local_subnets: tuple[str, ...]) -> list[_IpNet | tuple[_Ip, _Ip] | None]:
    text = entry.strip()
    low = text.lower()
    if low == "any":
        return [None]
    if low == "localsubnet":
        return [ipaddress.ip_network(s, strict=False) for s in local_subnets]
    if _is_keyword(text):
        return []
    if "-" in text:
        lo, _, hi = text.partition("-")
        return [(ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip()))]
    return [ipaddress.ip_network(text, strict=False)]


def _address_count(entries: Sequence[str], policy: HostPolicy) -> int:
    total = 0
    for entry in entries:
        for net in _networks(entry, policy):
            if net is None:
                return _ADDRESS_SPACE
            if isinstance(net, tuple):
                total += int(net[1]) - int(net[0]) + 1
            else:
                total += net.num_addresses
    return total or _ADDRESS_SPACE
