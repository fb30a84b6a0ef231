"""Orchestration of plan and apply over a fleet (verification lives in ``proof.py``).

apply, per DESIGN §1: read every host (the doctor's preflight riding along) → plan (pure) → validate → every
host's exemptions → (barrier) → sets, main-mode rules, rules in Request/Request, obsolete objects → prove each
pair. A host failure never stops the other hosts; it is reported with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interrupt
from ..events import Event
from ..journal.store import Journal
from ..log import get_logger
from ..model.desired import REQUEST, Kind, desired_objects
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.limit import Limit, leave_skipped_alone
from ..plan.planner import Change, Plan, plan_host
from ..remote.hoststate import HostState
from ..remote.names import HostNames
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostSession, HostTarget
from . import audit
from .batches import Guard, Ride, creates, execute_changes
from .confirmed import SwitchedRun, armed_json
from .doctor import Finding
from .firstread import read_and_exempt_fresh
from .hostview import (
    kept_security,
    name_clashes,
    read_fleet,
    snapshot_objects,
    sync_journal,
    without_marks,
)
from .proof import FirstRound, first_probes, prove_pairs
from .rekey import rekey_pairs
from .switch import Switch
from .verify import PairResult

Progress = Callable[[str, str], None]  # (host or "fleet", message)

PHASE_KINDS = {
    "sets": {Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET},
    "main_mode_rules": {Kind.MM_RULE},
    "rules": {Kind.RULE},
}


def offline_plan(inv: Inventory) -> Plan:
    """The plan for hosts that have none of our objects yet (observed = empty), validated."""
    desired = desired_objects(inv)
    plan = Plan(tuple(plan_host(name, hd.host.address, hd.objects, [], inv.policy.store)
                      for name, hd in desired.items()))
    for host in plan.hosts:
        validate_plan(host.calls)
    return plan


def read_states(fleet: Fleet, inv: Inventory) -> dict[str, HostState]:
    return read_fleet(fleet, inv)[0]


def live_plan(inv: Inventory, states: Mapping[str, HostState], journal: Journal,
              names: Mapping[str, HostNames] | None = None) -> Plan:
    desired = desired_objects(inv, kept_security(inv, states, journal, names))
    hosts = []
    for name, hd in desired.items():
        if name in states:
            state = without_marks(states[name])
            plan = plan_host(name, hd.host.address, hd.objects, state.observed, inv.policy.store)
            validate_plan(plan.calls, existing_sets=_existing_sets(state, inv.policy.store))
            hosts.append(plan)
    return Plan(tuple(hosts))


def remote_plan(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal,
                forks: int, limit: Limit | None = None) -> tuple[Plan, dict[str, str]]:
    """The plan against what each host reports now (read-only), and the hosts that cannot be planned:
    not reachable, or holding one of our names outside our group (a name clash)."""
    fleet = open_fleet(targets, forks)
    try:
        states, names = read_fleet(fleet, inv)
        failed = dict(fleet.failed)
        failed.update(name_clashes(inv, names))
        states = {h: s for h, s in states.items() if h not in failed}
        plan = live_plan(inv, states, journal, names)
        return (plan if limit is None else leave_skipped_alone(plan, limit, inv.policy.group)), failed
    finally:
        fleet.close()


def _existing_sets(state: HostState, store: str) -> dict[str, set[str]]:
    kinds = {Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET}
    return {store: {o.name for o in state.observed if o.kind in kinds}}


@dataclass
class ApplyReport:
    run_id: int
    plan: Plan
    sent: dict[str, int] = field(default_factory=dict)  # changing calls sent per host
    done: dict[str, list[str]] = field(default_factory=dict)  # actions of the changes each host completed
    security: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # per pair, after apply
    fresh_exemptions: dict[str, int] = field(default_factory=dict)  # created with the read, before ``plan``
    failed_hosts: dict[str, str] = field(default_factory=dict)
    pairs: list[PairResult] = field(default_factory=list)
    rekeyed: list[str] = field(default_factory=list)  # "a:b" whose stale SAs were dropped and proven again
    journal_notes: list[str] = field(default_factory=list)
    interrupted: str | None = None
    armed_reverts: list[dict[str, Any]] = field(default_factory=list)  # after a Ctrl-C: what is still armed
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)  # per host: IPsec audit policy, see audit.py
    preflight: list[Finding] | None = None  # the doctor's findings before anything changed (None: skipped)

    @property
    def summary(self) -> dict[str, int]:
        """What this apply did: the changes that completed on their host (fresh exemptions included)."""
        actions = [a for done in self.done.values() for a in done]
        return {"add": actions.count("create"), "change": actions.count("update") + actions.count("replace"),
                "destroy": actions.count("destroy")}

    @property
    def planned(self) -> dict[str, int]:
        s = dict(self.plan.summary)
        s["add"] += sum(self.fresh_exemptions.values())
        return s

    def not_done(self) -> dict[str, int]:
        """Planned changes per host that did not complete (the host failed, or the run was stopped)."""
        out = {}
        for h in self.plan.hosts:
            left = len(h.changes) + self.fresh_exemptions.get(h.host, 0) - len(self.done.get(h.host, []))
            if left > 0:
                out[h.host] = left
        return out


    @property
    def ok(self) -> bool:
        return not self.failed_hosts and not self.interrupted and all(p.verified for p in self.pairs)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "summary": self.summary,
            "planned": self.planned,
            "hosts": {h.host: {"address": h.address, "changes": len(h.changes), "sent": self.sent.get(h.host, 0),
                               "done": len(self.done.get(h.host, [])), "failed": self.failed_hosts.get(h.host)}
                      for h in self.plan.hosts},
            "failed_hosts": self.failed_hosts,
            "pairs": [p.to_json(self.security.get((p.a, p.b), ("?", "?"))) for p in self.pairs],
            "rekeyed": self.rekeyed,
            "journal_notes": self.journal_notes,
            "interrupted": self.interrupted is not None,
            "not_done": self.not_done(),
            "armed_reverts": self.armed_reverts,
            "audit": self.audit,
            "preflight": None if self.preflight is None else [f.to_json() for f in self.preflight],
            "ok": self.ok,
        }


def apply(inv: Inventory, inventory: Path, playbook: Playbook, targets: Mapping[str, HostTarget],
          journal: Journal, forks: int, progress: Progress | None = None, limit: Limit | None = None,
          checks: bool = True) -> ApplyReport:
    """``targets`` are the hosts contacted; with ``limit`` (their names), pairs with one end outside it are
    left alone: their rules are not planned and they are not proven. ``checks``: the doctor's preflight
    first, on the same sessions; a host with an error is failed with it and not changed."""
    run_id = journal.begin_run("apply")
    log = get_logger(run_id=run_id, command="apply")

    def say(host: str, message: str) -> None:  # the caller logs and shows it (cli: --log-file, progress)
        if progress is not None:
            progress(host, message)

    fleet = Fleet(forks=forks)  # each host's session opens in the worker that reads it (Fleet.open_each)
    report = ApplyReport(run_id, Plan(()))
    switches: list[Switch] = []  # armed by the rekey of stale pairs at Require, if any
    try:
        say("fleet", Event(f"connecting to {len(targets)} host(s)", "hosts", total=len(targets)))
        if checks:  # the doctor's checks ride in the read (below); a host with an error is failed there
            say("fleet", Event(f"preflight: the doctor's checks on {len(targets)} host(s)", "phase",
                               name="preflight", hosts=len(targets)))
        say("fleet", Event(f"reading {len(targets)} host(s)", "phase", name="read", hosts=len(targets)))
        found: dict[str, HostState] = {}  # as read, before the fresh hosts' exemptions
        states, names, audits = read_and_exempt_fresh(inv, fleet, targets, journal, run_id, report, found,
                                                        checks)
        say("fleet", Event(f"read {len(found)} of {len(targets)} hosts", "hosts", total=len(targets)))
        _say_failed(say, fleet, set())
        if report.preflight is not None:
            say("fleet", f"preflight: {sum(f.severity == 'error' for f in report.preflight)} error(s), "
                         f"{sum(f.severity == 'warning' for f in report.preflight)} warning(s)")
        for host, count in report.fresh_exemptions.items():
            say(host, f"exemptions: {count} call(s) applied (fresh host)")
        report.journal_notes = sync_journal(inv, found, names, journal)  # printed by the CLI
        for host, reason in name_clashes(inv, names).items():
            fleet.fail(host, reason)
            states.pop(host, None)
        # Failure auditing: each host's setting is journaled before anything changes it (not on a host
        # refused for a name clash: nothing is sent there).
        audit_todo = audit.plan_enable({h: a for h, a in audits.items() if h in states},
                                       {h: snapshot_objects(s, inv.policy.group) for h, s in found.items()},
                                       journal, run_id, report.audit) if inv.policy.enable_ipsec_audit else {}
        report.plan = live_plan(inv, states, journal)
        if limit is not None:
            report.plan = leave_skipped_alone(report.plan, limit, inv.policy.group)
        kept = kept_security(inv, states, journal)
        report.security = {(a, b): (kept.get((a, b), REQUEST).inbound, kept.get((a, b), REQUEST).outbound)
                           for a, b, _ in inv.expanded_pairs()}
        plans = {h.host: h for h in report.plan.hosts}
        first = {h: [c for c in p.changes if c.kind is Kind.EXEMPTION and c.action != "destroy"]
                 for h, p in plans.items()}
        wanted = set().union(*(PHASE_KINDS[p] for p in playbook.rollout.phases if p in PHASE_KINDS))
        rest = {h: [c for c in p.changes if c not in first[h] and (c.kind in wanted or c.action == "destroy")]
                for h, p in plans.items()}
        owned = {h: {o.name for o in s.observed} for h, s in states.items()}

        def run_phase(phase: str, changes: Mapping[str, list[Change]],
                      probes: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, dict[str, Any]]:
            """The phase's batches; with ``probes``, each host's first proof round as soon as it and every
            peer it probes hold their rules (Fleet.each_then): the round's reports."""
            def work(host: str, session: HostSession) -> int:
                todo = changes.get(host) or []
                if not todo:
                    return 0
                journal.snapshot_once(run_id, host, snapshot_objects(states[host], inv.policy.group), {})
                guard = Guard(inv.policy.group, inv.policy.store, tuple(sorted(owned[host])), creates(todo))
                # Failure auditing (journaled before any change) rides on this host's first batch.
                plan = audit_todo.pop(host, None)
                ride = Ride(*audit.enable_step(plan), audit.is_audit_output) if plan else None
                try:
                    count = execute_changes(journal, run_id, host, session, phase, todo, guard,
                                            report.done.setdefault(host, []), ride)
                finally:
                    if ride is not None:
                        audit.record_enabled(report.audit, host, ride.params, ride.output)
                owned[host] |= {c.name for c in todo if c.action in ("create", "replace")}
                owned[host] -= {c.name for c in todo if c.action == "destroy"}
                return count

            hosts = [h for h in changes if changes[h] and h in fleet.sessions]
            say("fleet", Event(f"{phase}: {len(hosts)} host(s) to change", "phase", name=phase, hosts=len(hosts)))
            failed = set(fleet.failed)
            reports: dict[str, dict[str, Any]] = {}
            if probes is None:
                counts = fleet.each(work, hosts)
            else:
                counts, reports = fleet.each_then(work, hosts, FirstRound(inv, fleet, probes, only).round_on,
                                                  {h: peers.get(h, []) for h in probes})
            for host, count in counts.items():
                report.sent[host] = report.sent.get(host, 0) + count
                say(host, Event(f"{phase}: {count} call(s) applied", "host_done", phase=phase))
            _say_failed(say, fleet, failed)
            return reports

        # Exemptions on every host before any host gets a set or a rule (the barrier is the join).
        interrupt.checkpoint("the exemptions")
        run_phase("exemptions", first)
        interrupt.checkpoint("the sets and rules")
        # Failure auditing for hosts with no batch to ride on, before any host's proof: failed negotiations
        # must leave events for the diagnosis.
        rides = {h for h in rest if rest[h] and h in fleet.sessions}
        audit.enable_alone(fleet, {h: audit_todo.pop(h) for h in list(audit_todo) if h not in rides},
                           report.audit)
        verify = "verify" in playbook.rollout.phases
        only = (limit.inside_keys() if limit is not None
                else {frozenset((a, b)) for a, b, _ in inv.expanded_pairs()})
        # A pair's proof needs both its ends' rules, not the whole fleet's: each host's first round starts
        # once it and the peers it probes are through the rules phase.
        probes = first_probes(inv, fleet, playbook.verify, only) if verify else None
        peers: dict[str, list[str]] = {}
        for a, b, _ in inv.expanded_pairs():
            if frozenset((a, b)) in only:
                peers.setdefault(a, []).append(b)
                peers.setdefault(b, []).append(a)
        first_round = run_phase("rules", rest, probes)
        if verify:
            interrupt.checkpoint("the verification")
            report.pairs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say, only=only,
                                       first_round=first_round)
            interrupt.checkpoint("the end of the verification")
            _rekey_stale(inv, playbook, fleet, targets, journal, run_id, states, report, say, switches)
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, wherever it was
        report.interrupted = "stopped at once by Ctrl-C"
    finally:
        report.failed_hosts = dict(fleet.failed)
        for host, reason in report.failed_hosts.items():
            log.error("host failed", host=host, reason=reason)
        fleet.close()
        stopped = report.interrupted is not None or interrupt.requested()
        if stopped:
            report.interrupted = report.interrupted or "stopped by Ctrl-C"
            report.armed_reverts = armed_json(switches)
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed", report.summary)
    return report


def _say_failed(say: Progress, fleet: Fleet, before: set[str]) -> None:
    for host, reason in fleet.failed.items():
        if host not in before:
            say(host, Event(f"failed: {reason.removeprefix(f'{host}: ')}", "host_failed"))


def _rekey_stale(inv: Inventory, playbook: Playbook, fleet: Fleet, targets: Mapping[str, HostTarget],
                 journal: Journal, run_id: int, states: Mapping[str, HostState], report: ApplyReport,
                 say: Progress, switches: list[Switch]) -> None:
    """Pairs whose SAs still use proposals the inventory no longer has: drop them and prove again (at
    Require behind the dead-man's switch, on drilled hosts only — see ops/rekey.py)."""
    stale = [(p.a, p.b) for p in report.pairs if p.stale]
    if not stale:
        return
    interrupt.checkpoint("rekeying the pairs whose SAs use old proposals")
    say("fleet", f"{len(stale)} pair(s) negotiated with proposals the inventory no longer has: rekeying")
    run = SwitchedRun(inv, playbook, fleet, targets, journal, run_id, states, say, switches)
    outcome = rekey_pairs(run, stale)
    again = {(p.a, p.b): p for p in outcome.pairs}
    report.pairs = [again.get((p.a, p.b), p) for p in report.pairs]
    # Why a stale pair was not rekeyed (a host without a drill, a switch that could not be armed) goes to the
    # pair it names, or else to every stale pair left unproven.
    left = [p for p in report.pairs if (p.a, p.b) in stale and (p.a, p.b) not in again]
    for problem in outcome.problems:
        named = [p for p in report.pairs if problem.startswith(f"{p.a}:{p.b} ")]
        for p in named or left:
            if problem not in p.problems:
                p.problems.append(problem)
    report.rekeyed = [f"{a}:{b}" for a, b in stale if (a, b) in again and again[(a, b)].verified]
    for key in outcome.reverted:
        report.security[key] = ("Request", "Request")
