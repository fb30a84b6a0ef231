"""status (the verification matrix and drift) and doctor (the read-only preflight). Neither changes a host.

status never deletes an SA: under Require, a deleted SA drops the pair's packets until IKE renegotiates
(negotiation discovery sends in clear meanwhile and the peer's Require inbound discards it; docs/traffic.md),
so a status run would itself cut traffic. It proves with the SAs the pairs have instead: traffic through
each pair, then each end's main- and quick-mode SAs read and judged against the inventory's proposals
(stale algorithms fail the pair), both ends' objects held to the inventory and the journal's security, and —
with Kerberos — every host's KDC reached through the policy in force, which the next renegotiation needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.deadman import latest_promotion_reverts
from ..journal.observations import Observation, latest_observations
from ..journal.store import Journal
from ..model.desired import Kind, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Verify
from ..plan.limit import Limit, leave_skipped_alone
from ..plan.planner import Change, same_value
from ..remote.hoststate import HostState
from ..remote.sessions import open_fleet
from ..remote.transport import HostTarget
from .apply import live_plan
from .armed import ArmedRevert, read_armed
from .hostview import name_clashes, read_fleet, sync_journal
from .proof import kdc_probes, prove_pairs
from .verify import PairResult

REQUEST_PAIR = ("Request", "Request")


@dataclass
class StatusReport:
    pairs: list[PairResult] = field(default_factory=list)
    security: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    reachable: dict[str, bool] = field(default_factory=dict)
    drift: dict[str, list[str]] = field(default_factory=dict)
    unreachable_reason: dict[str, str] = field(default_factory=dict)
    isolation: dict[str, tuple[str, str]] = field(default_factory=dict)  # host -> its isolation rule's In/Out
    journal_notes: list[str] = field(default_factory=list)
    armed_reverts: list[ArmedRevert] = field(default_factory=list)  # read from the hosts
    reverts: list[dict[str, Any]] = field(default_factory=list)  # the latest promotion's reverts (journal)
    observations: dict[str, Observation] = field(default_factory=dict)  # each host's latest observe (journal)

    @property
    def ok(self) -> bool:
        """Every host reachable and as the inventory wants, every pair proven (exit 0); else exit 1."""
        return (all(self.reachable.values()) and not any(self.drift.values())
                and all(p.verified for p in self.pairs))

    def to_json(self) -> dict[str, Any]:
        pairs = [p.to_json(self.security.get((p.a, p.b), ("unknown", "unknown"))) for p in self.pairs]
        hosts = {h: {"reachable": ok, "drift": self.drift.get(h, []), "drift_known": ok,
                     **({"error": self.unreachable_reason[h]} if h in self.unreachable_reason else {}),
                     **({"isolation": "/".join(self.isolation[h])} if h in self.isolation else {}),
                     **_observed(self.observations.get(h))}
                 for h, ok in self.reachable.items()}
        return {"pairs": pairs, "hosts": hosts, "failed_hosts": dict(self.unreachable_reason),
                "journal_notes": self.journal_notes, "ok": self.ok,
                "armed_reverts": [a.to_json() for a in self.armed_reverts], "reverts": self.reverts}


def _observed(obs: Observation | None) -> dict[str, Any]:
    """A host's clear-text peers from its latest observation (none observed yet: no keys)."""
    if obs is None:
        return {}
    return {"clear_text_peers": [f.to_json() for f in obs.flows], "observed_at": obs.finished_at}


def status(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, verify: Verify,
           forks: int, limit: Limit | None = None) -> StatusReport:
    """The truth about each pair now: both hosts carry what the inventory wants, at the security the
    journal recorded, and traffic runs over SAs that use the inventory's proposals — the SAs in place, never
    deleted (module doc): SAs outlive rules and proposal changes, so they are judged, not trusted. With
    ``limit``, only its hosts are read and only the pairs inside it are proven."""
    fleet = open_fleet(targets, forks)
    report = StatusReport()
    only = None if limit is None else limit.inside_keys()
    try:
        states, names = read_fleet(fleet, inv)
        if journal.created:
            report.journal_notes = sync_journal(inv, states, names, journal)
        clashes = name_clashes(inv, names)
        plan = live_plan(inv, states, journal, names)
        if limit is not None:  # a skipped pair's rule is not this run's business (as for apply --limit)
            plan = leave_skipped_alone(plan, limit, inv.policy.group)
        changes = {h.host: list(h.changes) for h in plan.hosts}
        for host, found in changes.items():
            report.drift[host] = [_drift_line(c) for c in found] + ([clashes[host]] if host in clashes else [])
        report.security = _rule_security(inv, states)
        name = isolation_rule_name(inv.policy.group).lower()
        for host, state in states.items():
            rule = next((o for o in state.observed if o.name.lower() == name), None)
            if rule is not None:
                report.isolation[host] = (str(rule.params.get("InboundSecurity")),
                                          str(rule.params.get("OutboundSecurity")))
        report.pairs = prove_pairs(inv, fleet, verify, states, None, None, only=only,
                                   dependencies=kdc_probes(inv, sorted(fleet.sessions)))
        expected = journal.pair_security()
        for pair in report.pairs:
            hold_to_inventory(inv, pair, states, changes, expected)
        report.armed_reverts = read_armed(fleet)
        report.reverts = latest_promotion_reverts(journal)
        report.observations = latest_observations(journal)
    finally:
        report.reachable = {h.name: h.name in fleet.sessions for h in inv.hosts
                            if limit is None or h.name in limit.hosts}
        report.unreachable_reason = dict(fleet.failed)
        fleet.close()
    return report


def _drift_line(c: Change) -> str:
    return f"{c.kind.value} {c.name}: " + ("missing" if c.action == "create" else
                                           "not ours to keep" if c.action == "destroy" else
                                           "changed " + ", ".join(c.changed))


def hold_to_inventory(inv: Inventory, pair: PairResult, states: Mapping[str, HostState],
                       changes: Mapping[str, list[Change]], expected: Mapping[tuple[str, str], tuple[str, str]]
                       ) -> None:
    """SAs alone prove little: the pair is verified only if both hosts hold the pair's objects as the
    inventory wants them, at the security the journal says."""
    rule = pair_rule_name(inv.policy.group, pair.a, pair.b)
    want = expected.get((pair.a, pair.b), REQUEST_PAIR)
    extra: list[str] = []
    for host in (pair.a, pair.b):
        if host not in states:
            continue
        found = next((o for o in states[host].observed if o.name.lower() == rule.lower()), None)
        if found is None:
            extra.append(f"{host}: rule {rule} is missing")
        else:
            have = (str(found.params.get("InboundSecurity")), str(found.params.get("OutboundSecurity")))
            if not (same_value(have[0], want[0]) and same_value(have[1], want[1])):
                extra.append(f"{host}: rule {rule} is {have[0]}/{have[1]}, the journal says {want[0]}/{want[1]}")
        needed = [c.name for c in changes.get(host, []) if c.kind is not Kind.EXEMPTION
                  and c.kind is not Kind.RULE and c.action != "destroy"]
        if needed:
            extra.append(f"{host}: {len(needed)} object(s) the pair needs are missing or changed "
                         f"({', '.join(needed)}; see drift)")
    if extra:
        pair.problems = extra + pair.problems
        pair.verified = False


def _rule_security(inv: Inventory, states: Mapping[str, HostState]) -> dict[tuple[str, str], tuple[str, str]]:
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for a, b, _ in inv.expanded_pairs():
        name = f"{inv.policy.group}-pair-{a}-{b}".lower()
        for host in (b, a):  # b serves the pair: its inbound setting is what promotion changes
            rule = next((o for o in states[host].observed if o.name.lower() == name), None) if host in states \
                else None
            if rule is not None:
                out[(a, b)] = (str(rule.params.get("InboundSecurity")), str(rule.params.get("OutboundSecurity")))
                break
    return out
