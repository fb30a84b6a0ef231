"""rollback: every host back to its state before the first apply.

First, on every host, each rule of ours at Require goes back to Request (with the leftover dead-man's switch
and the settings to restore, in the same round trip) — and only once every host has done so are objects
changed or removed: a host whose rule is gone sends its peer clear text, which a peer still at Require
inbound discards (PS-Set-NetIPsecRule -InboundSecurity), while a peer at Request accepts it
(windows-behaviour.md §3). Then objects of our group that existed before the first apply (the snapshot
recorded them) come back with their original parameters; everything else we own is removed — rules,
main-mode rules, sets, and the exemptions last, so nothing can require authentication while a domain
controller loses its exemption. Settings the product changed are restored by the hooks in
``SETTINGS_RESTORERS``. Each host is then read again: it must hold exactly its snapshot and a fresh
session must reach it. A host that is down is reported and rolled back by the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..journal.store import Journal
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, DesiredObject, Kind
from ..model.inventory import Inventory
from ..model.reference import validate_plan
from ..plan.limit import Limit
from ..plan.planner import HostPlan, Plan, plan_host, same_value
from ..remote.hoststate import HostState
from ..remote.sessions import batch_data, open_fleet, probe_fresh_sessions
from ..remote.transport import HostSession, HostTarget
from . import audit
from .apply import read_states
from .batches import Guard, execute_changes
from .hostview import without_marks

Step = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class SettingsRestorer:
    """Puts back host settings a feature changed, from the snapshot's ``settings``. ``steps`` ride in rollback's
    first round trip to each host (with the removal of a leftover switch), so restoring costs no round trip;
    ``settle`` reads that pipeline's output, forgets in the journal what is back, and returns the host's entry
    for the report (None: nothing of this feature was recorded). An entry with a "problem" fails the rollback."""

    key: str  # the report's key (JSON) for this feature's per-host entries
    steps: Callable[[Mapping[str, Any]], list[Step]]
    settle: Callable[[Journal, str, Mapping[str, Any], list[Any]], dict[str, Any] | None]


# Features that change host settings register theirs here (one mechanism for every setting).
SETTINGS_RESTORERS: list[SettingsRestorer] = [
    SettingsRestorer("audit", audit.restore_steps, audit.settle_restore),
]


@dataclass
class RollbackReport:
    run_id: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # objects removed per host
    restored: dict[str, int] = field(default_factory=dict)  # objects brought back per host (settings: below)
    calls: dict[str, int] = field(default_factory=dict)  # calls sent per host
    remaining: dict[str, list[str]] = field(default_factory=dict)  # what still differs from the snapshot
    failed_hosts: dict[str, str] = field(default_factory=dict)
    unreachable_after: list[str] = field(default_factory=list)
    settings: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # restorer key -> host -> entry
    interrupted: str | None = None
    armed_reverts: list[dict[str, Any]] = field(default_factory=list)  # rollback arms none: always empty
    journal_notes: list[str] = field(default_factory=list)  # what a lost journal leaves unknown (GPO mode)

    @property
    def audit(self) -> dict[str, dict[str, Any]]:
        """Per host: the IPsec audit policy restored (or why not)."""
        return self.settings.get("audit", {})

    @property
    def ok(self) -> bool:
        return (not self.failed_hosts and not any(self.remaining.values()) and not self.unreachable_after
                and not self.interrupted
                and not any("problem" in e for entries in self.settings.values() for e in entries.values()))

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "removed": self.removed, "restored": self.restored, "calls": self.calls,
                "summary": {"destroy": sum(self.removed.values()), "restore": sum(self.restored.values())},
                "remaining": self.remaining, "failed_hosts": self.failed_hosts,
                "unreachable_after": self.unreachable_after,
                **{r.key: self.settings.get(r.key, {}) for r in SETTINGS_RESTORERS},
                "interrupted": self.interrupted is not None, "armed_reverts": self.armed_reverts,
                "journal_notes": self.journal_notes, "ok": self.ok}


def snapshot_desired(journal: Journal, host: str) -> tuple[list[DesiredObject], Mapping[str, Any]]:
    """The host's objects of our group before the first apply, as objects to converge to."""
    found = journal.snapshot(host)
    if found is None:
        return [], {}
    owned, settings = found
    objects = [DesiredObject(Kind(o["kind"]), str(o["name"]),
                             dict(CmdletCall.from_json({"cmdlet": "snapshot", "params": o["params"]}).params),
                             f"restore {o['kind']} {o['name']} as it was before the first apply")
               for o in owned]
    return objects, settings


def _restore_plan(inv: Inventory, host: str, state: HostState, objects: list[DesiredObject]) -> HostPlan:
    state = without_marks(state)
    plan = plan_host(host, inv.host(host).address, objects, state.observed, inv.policy.store)
    sets = {Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET}
    validate_plan(plan.calls, existing_sets={inv.policy.store: {o.name for o in state.observed if o.kind in sets}})
    return plan


def rollback_plan(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, forks: int
                  ) -> tuple[Plan, dict[str, str]]:
    """What rollback would remove and restore on each host now (read-only), and the hosts not reachable."""
    fleet = open_fleet(targets, forks)
    try:
        states = read_states(fleet, inv)
        plans = tuple(_restore_plan(inv, host, state, snapshot_desired(journal, host)[0])
                      for host, state in states.items())
        return Plan(plans), dict(fleet.failed)
    finally:
        fleet.close()


def rollback(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, forks: int,
             limit: Limit | None = None) -> RollbackReport:
    """Every host of ``targets`` back to its snapshot. With ``limit`` (cli checked that no pair crossing it is
    above Request), only the promotions of its hosts are forgotten in the journal."""
    run_id = journal.begin_run("rollback")
    report = RollbackReport(run_id)
    fleet = open_fleet(targets, forks)
    try:
        states = read_states(fleet, inv)
        interrupt.checkpoint("the rollback")

        lock = threading.Lock()

        def lower(host: str, session: HostSession) -> None:
            # A revert task left by an interrupted promote is removed first; the settings to restore and the
            # demotions ride in the same pipeline.
            _, settings = snapshot_desired(journal, host)
            riders = [(r, r.steps(settings)) for r in SETTINGS_RESTORERS]
            calls = demotions(inv, states[host])
            steps: list[Step] = [("disarm_revert", {})]
            if calls:
                guard = Guard(inv.policy.group, inv.policy.store, sorted(o.name for o in states[host].observed))
                steps.append(("invoke_batch", {"Calls": [batch_data(c) for c in calls], **guard.params()}))
            out = session.run_statements([*steps, *(step for _, more in riders for step in more)], retry=False)
            for restorer, more in riders:
                entry = restorer.settle(journal, host, settings, out.objects) if more else None
                if entry is not None:
                    with lock:
                        report.settings.setdefault(restorer.key, {})[host] = entry
            if calls:
                results = [o for o in out.objects if isinstance(o, dict) and "ok" in o and "index" in o]
                for call, result in zip(calls, results, strict=False):
                    journal.record_step(run_id, host, "rollback-demote", call, bool(result.get("ok")),
                                        result.get("error"))

        def undo(host: str, session: HostSession) -> int:
            objects, _ = snapshot_desired(journal, host)
            plan = _restore_plan(inv, host, states[host], objects)
            done: list[str] = []
            sent = 0
            try:
                if plan.changes:
                    owned = tuple(sorted(o.name for o in states[host].observed))
                    guard = Guard(inv.policy.group, inv.policy.store, owned)
                    sent = execute_changes(journal, run_id, host, session, "rollback", list(plan.changes), guard,
                                           done)
            finally:
                report.removed[host] = done.count("destroy")
                report.restored[host] = len(done) - done.count("destroy")
                report.calls[host] = sent
            return sent

        fleet.each(lower, list(states))  # every host, before any host removes a rule (the barrier is the join)
        interrupt.checkpoint("the rollback (every rule of ours is back at Request)")
        fleet.each(undo, [h for h in states if h in fleet.sessions])
        interrupt.checkpoint("checking the hosts after the rollback")
        after: dict[str, HostState] = read_states(fleet, inv)
        for host, state in after.items():
            left = _restore_plan(inv, host, state, snapshot_desired(journal, host)[0]).changes
            report.remaining[host] = [f"{c.kind.value} {c.name}" + (f" ({', '.join(c.changed)})" if c.changed else "")
                                      for c in left]
        fresh = probe_fresh_sessions(targets, list(after), fleet.forks)
        report.unreachable_after = [h for h in after if not fresh[h]]
        if not fleet.failed:
            if limit is None:
                journal.clear_pair_security()
            else:
                for key in journal.pair_security():
                    if key[0] in limit.hosts and (key[1] in limit.hosts or key[1] == ISOLATION):
                        journal.drop_pair_security(*key)
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        stopped = report.interrupted is not None or interrupt.requested()
        if stopped:
            report.interrupted = report.interrupted or "stopped by Ctrl-C"
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed", report.to_json())
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
