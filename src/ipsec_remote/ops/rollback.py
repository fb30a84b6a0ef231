"""rollback: every host back to its state before the first apply.

First, on every host, each rule of ours at Require goes back to Request (with the leftover dead-man's switch
and the audit policy, in the same round trip) — and only once every host has done so are objects removed: a
host whose rule is gone sends its peer clear text, which a peer still at Require inbound discards
(PS-Set-NetIPsecRule -InboundSecurity), while a peer at Request accepts it (windows-behaviour.md §3). Then
owned objects are removed in reverse dependency order — rules, main-mode rules, sets, and the exemptions
last, so nothing can require authentication while a domain controller loses its exemption. Each host is
then read again: it must hold none of our objects and a fresh session must reach it. A host that is down is
reported and rolled back by the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.store import Journal
from ..model.calls import CmdletCall
from ..model.desired import Kind
from ..model.inventory import Inventory
from ..model.reference import validate_plan
from ..plan.planner import plan_host, same_value
from ..remote.hoststate import HostState
from ..remote.sessions import batch_data, open_fleet
from ..remote.transport import HostSession, HostTarget, probe_fresh_session
from . import audit
from .apply import Guard, execute_changes, read_states


@dataclass
class RollbackReport:
    removed: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, list[str]] = field(default_factory=dict)
    failed_hosts: dict[str, str] = field(default_factory=dict)
    unreachable_after: list[str] = field(default_factory=list)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)  # per host: restored IPsec audit policy

    @property
    def ok(self) -> bool:
        return (not self.failed_hosts and not any(self.remaining.values()) and not self.unreachable_after
                and not any("problem" in a for a in self.audit.values()))

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed, "remaining": self.remaining, "failed_hosts": self.failed_hosts,
                "unreachable_after": self.unreachable_after, "audit": self.audit, "ok": self.ok}


def rollback(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, forks: int) -> RollbackReport:
    run_id = journal.begin_run("rollback")
    report = RollbackReport()
    fleet = open_fleet(targets, forks)
    try:
        states = read_states(fleet, inv)

        def lower(host: str, session: HostSession) -> None:
            # A revert task left by an interrupted promote; the audit policy apply changed and the demotions ride
            # along.
            calls = demotions(inv, states[host])
            steps: list[tuple[str, dict[str, Any]]] = [("disarm_revert", {})]
            if calls:
                guard = Guard(inv.policy.group, inv.policy.store, sorted(o.name for o in states[host].observed))
                steps.append(("invoke_batch", {"Calls": [batch_data(c) for c in calls], **guard.params()}))
            out = audit.restore_with(journal, host, session, steps, report.audit)
            if calls:
                results = [o for o in out.objects if isinstance(o, dict) and "ok" in o and "index" in o]
                for call, result in zip(calls, results, strict=False):
                    journal.record_step(run_id, host, "rollback-demote", call, bool(result.get("ok")),
                                        result.get("error"))

        def undo(host: str, session: HostSession) -> int:
            plan = plan_host(host, inv.host(host).address, [], states[host].observed, inv.policy.store)
            validate_plan(plan.calls)
            if not plan.changes:
                return 0
            guard = Guard(inv.policy.group, inv.policy.store, sorted(o.name for o in states[host].observed))
            return execute_changes(journal, run_id, host, session, "rollback", list(plan.changes), guard)

        fleet.each(lower, list(states))  # every host, before any host removes a rule (the barrier is the join)
        report.removed = fleet.each(undo, [h for h in states if h in fleet.sessions])
        after: dict[str, HostState] = read_states(fleet, inv)
        report.remaining = {h: [o.name for o in s.observed] for h, s in after.items()}
        report.unreachable_after = [h for h in after if not probe_fresh_session(targets[h])]
        if not fleet.failed:
            journal.clear_pair_security()
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed", report.to_json())
    return report


def demotions(inv: Inventory, state: HostState) -> list[CmdletCall]:
    """``Set-NetIPsecRule … Request/Request`` for each rule of ours that requires IPsec in either direction."""
    calls = [CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": o.name, "InboundSecurity": "Request",
                                             "OutboundSecurity": "Request", "PolicyStore": inv.policy.store})
             for o in state.observed if o.kind is Kind.RULE
             and (same_value(o.params.get("InboundSecurity"), "Require")
                  or same_value(o.params.get("OutboundSecurity"), "Require"))]
    validate_plan(calls)
    return calls
