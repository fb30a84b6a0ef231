"""Inventory → the objects of the inventory's GPO (pure). What goes into a GPO cannot depend on the host
that applies it: every linked host applies the same objects.

* exemptions and the crypto/auth sets are already host-independent (desired.py);
* one main-mode rule between every paired address (an MM rule alone starts no negotiation: it only picks
  main-mode crypto and auth for address pairs some connection security rule covers);
* per ``[[pairs]]`` entry, two transport rules written in endpoints: ``-ab`` with side a's addresses as
  -LocalAddress and side b's as -RemoteAddress (b serves the ports: -RemotePort), and ``-ba`` the other
  way round (-LocalPort). Whether Windows matches a host found in -RemoteAddress with the roles swapped is
  not stated (the WFAS help says a rule applies "between any computer in Endpoint 1 and any computer in
  Endpoint 2"; the lab's ``cs_rule_endpoints`` switch): with both orientations written, each host of a
  and of b gets its side's rule either way, and the mirrored reading of one is the other.

A host pair covered twice, a side shared by both ends, server isolation, or the controller on a managed
host would make a host get more (or other) than the inventory asks; they are refused by ``gpo_problem``.

Promotion (ops/gpo_promote.py) gives each promoted host pair its own two rules (``-gpromo-A-B-ab``/``-ba``,
the pair's two addresses as endpoints, the entry's protocol and ports) and carves those pairs out of the
entry's Request rules, so no two of our rules ever match the same traffic. Which of two overlapping
connection security rules Windows applies is not documented: "more specific wins" is a [community] reading
(Win7 Resource Kit, windows-behaviour.md §1), whether fewer addresses count as more specific and what an
equal tie does are not stated (the lab's ``address_size_breaks_ties`` and ``tie_break`` switches). With
disjoint rules the answer never matters.
"""

from __future__ import annotations

from collections.abc import Mapping

from .calls import ParamValue
from .desired import DesiredObject, Kind, Security, _addr_key, _exemptions, _rule_params, _sets
from .inventory import Inventory, Pair

REQUEST = Security()


def side_name(ref: str) -> str:
    """A pair end as it appears in an object name (host and group names are [A-Za-z0-9_.-])."""
    return f"g.{ref[len('group:'):]}" if ref.startswith("group:") else ref


def gpo_rule_names(group: str, pair: Pair) -> tuple[str, str]:
    base = f"{group}-gpair-{side_name(pair.a)}-{side_name(pair.b)}"
    return f"{base}-ab", f"{base}-ba"


def row_rule_names(group: str, pair: Pair, host: str) -> tuple[str, str]:
    """An entry's Request rules for one host of side a whose other pairs were promoted."""
    base = f"{group}-gpair-{side_name(pair.a)}-{side_name(pair.b)}-row.{host}"
    return f"{base}-ab", f"{base}-ba"


def promoted_rule_names(group: str, a: str, b: str) -> tuple[str, str]:
    """A promoted host pair's own rules (a on side a of its entry)."""
    return f"{group}-gpromo-{a}-{b}-ab", f"{group}-gpromo-{a}-{b}-ba"


Promoted = Mapping[tuple[str, str], Security]


def gpo_problem(inv: Inventory) -> tuple[str, str] | None:
    """(key path, problem) when the inventory cannot be expressed as one host-independent GPO."""
    if inv.policy.server_isolation:
        return "policy.server_isolation", "server isolation is not supported with a GPO store"
    if any(h.address == inv.controller.address for h in inv.hosts):
        return "controller.address", "the controller on a managed host is not supported with a GPO store"
    covered: dict[frozenset[str], int] = {}
    for i, pair in enumerate(inv.pairs):
        a, b = set(inv.expand(pair.a)), set(inv.expand(pair.b))
        if a & b:
            return f"pairs[{i}]", (f"{', '.join(sorted(a & b))} is on both ends of the pair (with a GPO "
                                   "store the two ends must not share a host)")
        for x in a:
            for y in b:
                first = covered.setdefault(frozenset((x, y)), i)
                if first != i:
                    return f"pairs[{i}]", f"{x} <-> {y} is already covered by pairs[{first}]"
    return None


def _promoted(promoted: Promoted, a: str, b: str) -> Security | None:
    sec = promoted.get((a, b)) or promoted.get((b, a))
    return None if sec is None or sec == REQUEST else sec


def gpo_objects(inv: Inventory, promoted: Promoted | None = None) -> list[DesiredObject]:
    """The GPO's objects in creation order. ``promoted``: host pairs (a, b) at a security other than
    Request/Request (either orientation)."""
    promoted = promoted or {}
    group = inv.policy.group
    objects = _exemptions(inv)
    if not inv.pairs:
        return objects
    objects += _sets(inv)
    paired = sorted({inv.host(n).address for p in inv.pairs for ref in (p.a, p.b) for n in inv.expand(ref)},
                    key=_addr_key)
    mm: dict[str, ParamValue] = {
        "Name": f"{group}-mm-pairs", "DisplayName": f"{group}: main mode between paired hosts", "Group": group,
        "Enabled": "True", "LocalAddress": paired, "RemoteAddress": paired, "MainModeCryptoSet": f"{group}-mm",
        "Phase1AuthSet": f"{group}-p1", "Profile": inv.policy.profile}
    objects.append(DesiredObject(Kind.MM_RULE, f"{group}-mm-pairs", mm,
                                 f"main mode rule between {', '.join(paired)}"))
    for pair in inv.pairs:
        side_a, side_b = inv.expand(pair.a), inv.expand(pair.b)
        if not side_a or not side_b:
            continue
        promoted_here = [(a, b, sec) for a in side_a for b in side_b
                         if (sec := _promoted(promoted, a, b)) is not None]
        rows = {a for a, _, _ in promoted_here}
        whole = [a for a in side_a if a not in rows]
        if whole:  # the entry's Request rules, for the hosts of side a with no promoted pair
            objects += _pair_rules(inv, pair, gpo_rule_names(group, pair), whole, side_b, REQUEST)
        for a in [a for a in side_a if a in rows]:
            rest = [b for b in side_b if _promoted(promoted, a, b) is None]
            if rest:
                objects += _pair_rules(inv, pair, row_rule_names(group, pair, a), [a], rest, REQUEST)
        for a, b, sec in promoted_here:
            objects += _pair_rules(inv, pair, promoted_rule_names(group, a, b), [a], [b], sec)
    return objects


def _pair_rules(inv: Inventory, pair: Pair, names: tuple[str, str], hosts_a: list[str], hosts_b: list[str],
                sec: Security) -> list[DesiredObject]:
    """The two transport rules of ``hosts_a`` x ``hosts_b`` of one entry, one per orientation."""
    a = sorted((inv.host(n).address for n in hosts_a), key=_addr_key)
    b = sorted((inv.host(n).address for n in hosts_b), key=_addr_key)
    out = []
    for name, local, remote, port_key in zip(names, (a, b), (b, a), ("RemotePort", "LocalPort"), strict=True):
        params = _rule_params(inv, name, f"{pair.a} <-> {pair.b}")
        params.update({"Mode": "Transport", "InboundSecurity": sec.inbound, "OutboundSecurity": sec.outbound,
                       "LocalAddress": local, "RemoteAddress": remote})
        ports_text = "all traffic"
        if pair.protocol != "Any":
            params["Protocol"] = pair.protocol
            ports_text = pair.protocol
            if pair.ports:
                params[port_key] = [str(p) for p in pair.ports]
                ports_text += f" port {','.join(str(p) for p in pair.ports)} on {pair.b}"
        params.update({"KeyModule": inv.policy.key_module, "QuickModeCryptoSet": f"{inv.policy.group}-qm",
                       "Phase1AuthSet": f"{inv.policy.group}-p1", "Profile": inv.policy.profile})
        out.append(DesiredObject(Kind.RULE, name, params,
                                 f"transport {sec.inbound}/{sec.outbound} {', '.join(local)} -> "
                                 f"{', '.join(remote)}, {ports_text}"))
    return out
