"""``--limit HOST|GROUP[,…]``: the hosts a command may contact, and the pairs it must leave alone (pure).

A pair needs both of its ends: a pair with one end inside the limit and one outside is *skipped* — its rule
on the host inside is neither created, changed nor removed, it is not proven, not promoted, not rekeyed —
and listed as skipped, so the operator sees what the limit left out. Pairs with both ends outside are not
this run's business and are not listed. Everything else of a host inside the limit (exemptions, sets, its
main-mode rule, its isolation rule) is handled as usual: those belong to the host, not to a pair.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..model.desired import ISOLATION, Kind, pair_rule_name
from ..model.inventory import Inventory
from .planner import HostPlan, Plan

Pair = tuple[str, str]


@dataclass(frozen=True)
class SkippedPair:
    a: str
    b: str
    outside: tuple[str, ...]  # the end(s) outside the limit

    @property
    def reason(self) -> str:
        return f"{', '.join(self.outside)} outside --limit: the pair needs both ends"

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "outside": list(self.outside), "reason": self.reason}


@dataclass(frozen=True)
class Limit:
    hosts: frozenset[str]
    inside: tuple[Pair, ...]  # pairs with both ends in the limit, in inventory order
    skipped: tuple[SkippedPair, ...]

    def inside_keys(self) -> set[frozenset[str]]:
        return {frozenset(p) for p in self.inside}

    def skipped_rules(self, group: str) -> set[str]:
        return {pair_rule_name(group, s.a, s.b).lower() for s in self.skipped}

    def to_json(self, rollback: bool = False) -> dict[str, Any]:
        pairs = [s.to_json() for s in self.skipped]
        if rollback:  # rollback works by host: the end inside goes back with its host
            for s in pairs:
                s["reason"] = (f"{', '.join(s['outside'])} outside --limit: keeps its end (at Request, traffic "
                               "falls back to clear); the end inside is rolled back with its host")
        return {"hosts": sorted(self.hosts), "skipped_pairs": pairs}


def parse_limit(text: str, inv: Inventory) -> Limit:
    """``sql01,group:web`` or ``sql01,web`` (a group by its bare name when no host has that name)."""
    hosts = [h.name for h in inv.hosts]
    groups = sorted({g for h in inv.hosts for g in h.groups})
    chosen: set[str] = set()
    for i, raw in enumerate(text.split(",")):
        item = raw.strip()
        if not item:
            raise InputError("--limit", f"[{i}]", "is empty (HOST or GROUP, comma-separated)")
        group = item[len("group:"):] if item.startswith("group:") else None
        if group is None and item in hosts:
            chosen.add(item)
        elif (group or item) in groups:
            chosen |= set(inv.expand(f"group:{group or item}"))
        else:
            close = difflib.get_close_matches(group or item, hosts + groups, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError("--limit", f"[{i}]", f"'{item}' is neither a host nor a group of the inventory{hint}")
    return limit_to(inv, frozenset(chosen))


def limit_to(inv: Inventory, hosts: frozenset[str]) -> Limit:
    inside: list[Pair] = []
    skipped: list[SkippedPair] = []
    for a, b, _ in inv.expanded_pairs():
        ends = [h for h in (a, b) if h in hosts]
        if len(ends) == 2:
            inside.append((a, b))
        elif ends:
            skipped.append(SkippedPair(a, b, tuple(h for h in (a, b) if h not in hosts)))
    return Limit(hosts, tuple(inside), tuple(skipped))


def leave_skipped_alone(plan: Plan, limit: Limit, group: str) -> Plan:
    """The plan without the changes to the rules of skipped pairs (their rule stays as the host has it)."""
    rules = limit.skipped_rules(group)
    return Plan(tuple(HostPlan(h.host, h.address, tuple(c for c in h.changes
                                                        if not (c.kind is Kind.RULE and c.name.lower() in rules)))
                      for h in plan.hosts if h.host in limit.hosts))


def refuse_rollback_across(limit: Limit, security: Mapping[tuple[str, str], tuple[str, str]]) -> None:
    """Rolling back one end of a pair the other end still requires would cut the two apart (its Require
    drops their traffic): refused, before any host is contacted. At Request the other end falls back to clear."""
    for s in limit.skipped:
        keys = [((s.a, s.b), f"{s.a}:{s.b}")] + [((h, ISOLATION), f"{h}'s isolation rule") for h in s.outside]
        for key, label in keys:
            inbound, outbound = security.get(key, ("Request", "Request"))
            if "Require" in (inbound, outbound):
                raise InputError("--limit", ",".join(sorted(limit.hosts)),
                                 f"{label} is at {inbound}/{outbound} and {', '.join(s.outside)} is outside the "
                                 f"limit: rolling back one end would cut the pair; add "
                                 f"{', '.join(s.outside)} to --limit, or promote --to request first")
