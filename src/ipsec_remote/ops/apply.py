"""Orchestration of plan and apply over a fleet (verification lives in ``proof.py``).

apply, per DESIGN §1: read every host → plan (pure) → validate → every host's exemptions → (barrier) →
sets, main-mode rules, rules in Request/Request, obsolete objects → prove each pair. A host failure never
stops the other hosts; it is reported with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.store import Journal
from ..log import get_logger
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, REQUEST, Kind, Security, desired_objects, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.planner import Change, ObservedObject, Plan, plan_host, same_value
from ..remote.hoststate import HostState, parse_state
from ..remote.sessions import Fleet, batch_data, open_fleet
from ..remote.transport import HostSession, HostTarget
from . import audit
from .proof import prove_pairs
from .verify import PairResult

Progress = Callable[[str, str], None]  # (host or "fleet", message)

PHASE_KINDS = {
    "sets": {Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET},
    "main_mode_rules": {Kind.MM_RULE},
    "rules": {Kind.RULE},
}


class StepFailed(IpsecRemoteError):
    """A cmdlet of a batch failed on the host; the batch stopped there."""


def offline_plan(inv: Inventory) -> Plan:
    """The plan for hosts that have none of our objects yet (observed = empty), validated."""
    desired = desired_objects(inv)
    plan = Plan(tuple(plan_host(name, hd.host.address, hd.objects, [], inv.policy.store)
                      for name, hd in desired.items()))
    for host in plan.hosts:
        validate_plan(host.calls)
    return plan


def read_states(fleet: Fleet, inv: Inventory) -> dict[str, HostState]:
    params = {"Group": inv.policy.group, "PolicyStore": inv.policy.store}

    def read(host: str, session: HostSession) -> HostState:
        out = session.run("read_state", params)
        if not out.objects or not isinstance(out.objects[0], dict):
            raise StepFailed(f"{host}: read_state returned no state")
        return parse_state(out.objects[0], inv.policy.group, inv.auth.psk_env)

    return fleet.each(read)


def kept_security(inv: Inventory, states: Mapping[str, HostState], journal: Journal
                  ) -> dict[tuple[str, str], Security]:
    """Promotions to keep: those the journal recorded and every host concerned still carries.

    apply never raises a rule's security on its own — only promote does, behind its dead-man's switch.
    A pair (or isolation rule) missing or changed on a host converges back to Request/Request.
    """
    kept: dict[tuple[str, str], Security] = {}
    for (a, b), (inbound, outbound) in journal.pair_security().items():
        hosts: tuple[str, ...] = (a,) if b == ISOLATION else (a, b)
        name = isolation_rule_name(inv.policy.group) if b == ISOLATION else pair_rule_name(inv.policy.group, a, b)
        carried = 0
        for host in hosts:
            rule = next((o for o in states[host].observed if o.name.lower() == name.lower()), None) \
                if host in states else None
            if rule is not None and same_value(rule.params.get("InboundSecurity"), inbound) \
                    and same_value(rule.params.get("OutboundSecurity"), outbound):
                carried += 1
        if carried == len(hosts):
            kept[(a, b)] = Security(inbound, outbound)
    return kept


def live_plan(inv: Inventory, states: Mapping[str, HostState], journal: Journal) -> Plan:
    desired = desired_objects(inv, kept_security(inv, states, journal))
    hosts = []
    for name, hd in desired.items():
        if name in states:
            plan = plan_host(name, hd.host.address, hd.objects, states[name].observed, inv.policy.store)
            validate_plan(plan.calls, existing_sets=_existing_sets(states[name], inv.policy.store))
            hosts.append(plan)
    return Plan(tuple(hosts))


def remote_plan(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal,
                forks: int) -> tuple[Plan, dict[str, str]]:
    """The plan against what each host reports now (read-only), and the hosts that could not be read."""
    fleet = open_fleet(targets, forks)
    try:
        states = read_states(fleet, inv)
        return live_plan(inv, states, journal), dict(fleet.failed)
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
    security: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # per pair, after apply
    fresh_exemptions: dict[str, int] = field(default_factory=dict)  # created with the read, before ``plan``

    @property
    def summary(self) -> dict[str, int]:
        """What this apply changed: the plan, plus the exemptions fresh hosts got with the read."""
        s = dict(self.plan.summary)
        s["add"] += sum(self.fresh_exemptions.values())
        return s
    failed_hosts: dict[str, str] = field(default_factory=dict)
    pairs: list[PairResult] = field(default_factory=list)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)  # per host: IPsec audit policy, see audit.py

    @property
    def ok(self) -> bool:
        return not self.failed_hosts and all(p.verified for p in self.pairs)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "summary": self.summary,
            "hosts": {h.host: {"address": h.address, "changes": len(h.changes), "sent": self.sent.get(h.host, 0),
                               "failed": self.failed_hosts.get(h.host)} for h in self.plan.hosts},
            "failed_hosts": self.failed_hosts,
            "pairs": [{"a": p.a, "b": p.b, "verified": p.verified, "problems": p.problems,
                       "inbound_security": self.security.get((p.a, p.b), ("?", "?"))[0],
                       "outbound_security": self.security.get((p.a, p.b), ("?", "?"))[1],
                       "sa": p.sa_summary()} for p in self.pairs],
            "audit": self.audit,
            "ok": self.ok,
        }


def apply(inv: Inventory, inventory: Path, playbook: Playbook, targets: Mapping[str, HostTarget],
          journal: Journal, forks: int, progress: Progress | None = None) -> ApplyReport:
    run_id = journal.begin_run("apply")
    log = get_logger(run_id=run_id, command="apply")

    def say(host: str, message: str) -> None:
        log.info(message, host=host)
        if progress is not None:
            progress(host, message)

    fleet = open_fleet(targets, forks)
    report = ApplyReport(run_id, Plan(()))
    try:
        say("fleet", f"connected to {len(fleet.sessions)} of {len(targets)} hosts")
        states, done, audits = _read_and_exempt_fresh(inv, fleet, journal, run_id)
        report.fresh_exemptions = done
        audit_todo = audit.plan_enable(audits, {h: _owned_json(s) for h, s in states.items()}, journal, run_id,
                                       report.audit) if inv.policy.enable_ipsec_audit else {}
        for host, count in done.items():
            report.sent[host] = count
            say(host, f"exemptions: {count} call(s) applied (fresh host)")
        report.plan = live_plan(inv, states, journal)
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

        def run_phase(phase: str, changes: Mapping[str, list[Change]]) -> None:
            def work(host: str, session: HostSession) -> int:
                todo = changes.get(host) or []
                if not todo:
                    return 0
                journal.snapshot_once(run_id, host, _owned_json(states[host]), {})
                # Failure auditing (journaled before any change) rides on this host's first batch.
                plan = audit_todo.pop(host, None)
                ride = Ride(*audit.enable_step(plan), audit.is_audit_output) if plan else None
                try:
                    count = execute_changes(journal, run_id, host, session, phase, todo,
                                            Guard(inv.policy.group, inv.policy.store, sorted(owned[host])), ride)
                finally:
                    if ride is not None:
                        audit.record_enabled(report.audit, host, ride.params, ride.output)
                owned[host] |= {c.name for c in todo if c.action in ("create", "replace")}
                return count

            hosts = [h for h in changes if changes[h]]
            for host, count in fleet.each(work, hosts).items():
                report.sent[host] = report.sent.get(host, 0) + count
                say(host, f"{phase}: {count} call(s) applied")

        # Exemptions on every host before any host gets a set or a rule (the barrier is the join).
        run_phase("exemptions", first)
        run_phase("rules", rest)
        audit.enable_alone(fleet, audit_todo, report.audit)  # hosts that had no batch to ride on
        if "verify" in playbook.rollout.phases:
            report.pairs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say)
    finally:
        report.failed_hosts = dict(fleet.failed)
        for host, reason in report.failed_hosts.items():
            log.error("host failed", host=host, reason=reason)
        fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed", report.summary)
    return report


@dataclass(frozen=True)
class Guard:
    """The batch runs only if the host's owned objects are exactly ``expect`` (what the plan was made from)."""

    group: str
    store: str
    expect: list[str]

    def params(self) -> dict[str, Any]:
        return {"Guard": True, "Group": self.group, "PolicyStore": self.store, "ExpectOwned": self.expect}


def _read_and_exempt_fresh(inv: Inventory, fleet: Fleet, journal: Journal, run_id: int
                           ) -> tuple[dict[str, HostState], dict[str, int], dict[str, audit.AuditState]]:
    """Read every host; in the same round trip, a host with none of our objects gets its exemptions.

    The exemptions of a fresh host are known before reading it (planned against an empty state), so they
    ride as a second statement of the read pipeline, guarded by "no owned objects": on a host that has
    some, nothing runs and the normal plan takes over. Saves a round trip per host on a first rollout.
    With ``policy.enable_ipsec_audit``, the host's IPsec audit policy is read in the same pipeline.
    """
    desired = desired_objects(inv)
    read_params = {"Group": inv.policy.group, "PolicyStore": inv.policy.store}
    done: dict[str, int] = {}
    audits: dict[str, audit.AuditState] = {}

    def read(host: str, session: HostSession) -> HostState:
        exemptions = [o for o in desired[host].objects if o.kind is Kind.EXEMPTION]
        fresh = plan_host(host, inv.host(host).address, exemptions, [], inv.policy.store)
        validate_plan(fresh.calls)
        steps: list[tuple[str, dict[str, Any]]] = [("read_state", read_params)]
        if inv.policy.enable_ipsec_audit:
            steps.append(audit.read_step(audit.MANAGED))
        if fresh.calls:
            steps.append(("invoke_batch", {"Calls": [batch_data(c) for c in fresh.calls],
                                           **Guard(inv.policy.group, inv.policy.store, []).params()}))
        out = session.run_statements(steps)
        objects, audit_state = audit.split_output(out.objects)
        if audit_state is not None:
            audits[host] = audit_state
        if not objects or not isinstance(objects[0], dict) or "Rules" not in objects[0]:
            raise StepFailed(f"{host}: read_state returned no state")
        state = parse_state(objects[0], inv.policy.group, inv.auth.psk_env)
        results = [r for r in objects[1:] if isinstance(r, dict)]
        if not results or results[0].get("error_id") == "StateMoved":
            return state  # not fresh: planned normally below
        journal.snapshot_once(run_id, host, _owned_json(state), {})
        _record_results(journal, run_id, host, "exemptions", fresh.calls, results, out.errors)
        done[host] = len(fresh.calls)
        # Every call succeeded: the host now holds exactly the planned exemptions.
        return HostState([ObservedObject(o.kind, o.name, dict(o.params)) for o in exemptions], state.facts)

    return fleet.each(read), done, audits


@dataclass
class Ride:
    """A script sent as a second statement of a batch's pipeline (no round trip of its own); ``output``
    receives the objects ``mine`` recognises as its own."""

    script: str
    params: dict[str, Any]
    mine: Callable[[Any], bool]
    output: list[Any] = field(default_factory=list)


def execute_changes(journal: Journal, run_id: int, host: str, session: HostSession, phase: str,
                    changes: list[Change], guard: Guard | None = None, ride: Ride | None = None) -> int:
    calls = [call for change in changes for call in change.calls]
    params: dict[str, Any] = {"Calls": [batch_data(c) for c in calls]}
    if guard is not None:
        params.update(guard.params())
    if ride is None:
        out = session.run("invoke_batch", params, retry=False)
        objects = out.objects
    else:
        out = session.run_statements([("invoke_batch", params), (ride.script, ride.params)])
        ride.output = [o for o in out.objects if ride.mine(o)]
        objects = [o for o in out.objects if not ride.mine(o)]
    _record_results(journal, run_id, host, phase, calls, [r for r in objects if isinstance(r, dict)],
                    out.errors)
    return len(calls)


def _record_results(journal: Journal, run_id: int, host: str, phase: str, calls: list[CmdletCall],
                    results: list[dict[str, Any]], errors: list[str]) -> None:
    if results and results[0].get("error_id") == "StateMoved":
        raise StepFailed(f"{host}: nothing applied: {results[0].get('error')} (run apply again to re-plan)")
    for call, result in zip(calls, results, strict=False):  # fewer results: the batch stopped
        journal.record_step(run_id, host, phase, call, bool(result.get("ok")), result.get("error"))
        if not result.get("ok"):
            raise StepFailed(f"{host}: {call.cmdlet} {_target(call)} failed: {result.get('error')}")
    if len(results) < len(calls):
        raise StepFailed(f"{host}: the batch stopped after {len(results)} of {len(calls)} calls"
                         + (f" ({errors[-1]})" if errors else ""))


def _target(call: Any) -> str:
    name = call.params.get("IPsecRuleName") or call.params.get("Name") or ""
    return f"'{name}'" if name else ""


def _owned_json(state: HostState) -> list[dict[str, Any]]:
    return [{"kind": o.kind.value, "name": o.name,
             "params": CmdletCall("observed", dict(o.params)).to_json()["params"]} for o in state.observed]
