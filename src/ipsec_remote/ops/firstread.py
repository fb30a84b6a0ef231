"""apply's first read: every host opened and read in one pipeline, with the doctor's preflight and, on a
host with none of our objects, its exemptions riding along (ops/apply.py runs it first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..journal.store import Journal
from ..model.desired import Kind, desired_objects
from ..model.inventory import Inventory
from ..model.reference import validate_plan
from ..plan.planner import ObservedObject, plan_host
from ..remote.hoststate import HostState
from ..remote.names import HostNames, absent_keys
from ..remote.sessions import Fleet, batch_data
from ..remote.transport import HostSession, HostTarget
from . import audit
from .batches import Guard, completed, record_results
from .doctor import HostRead, fail_blocked, findings_of, gate_params, preflight_steps, split_preflight
from .hostview import read_steps, snapshot_objects, split_read

if TYPE_CHECKING:
    from .apply import ApplyReport


def read_and_exempt_fresh(inv: Inventory, fleet: Fleet, targets: Mapping[str, HostTarget], journal: Journal,
                           run_id: int, report: ApplyReport, found: dict[str, HostState], checks: bool = False
                           ) -> tuple[dict[str, HostState], dict[str, HostNames], dict[str, audit.AuditState]]:
    """Open and read every host of ``targets`` into ``fleet``; in the same round trip, a host with none of
    our objects gets its exemptions.

    The exemptions of a fresh host are known before reading it (planned against an empty state), so they
    ride as the last statement of the read pipeline, guarded by "no owned objects, and none of the names
    this host needs taken outside our group": on a host that has some, or a name clash, nothing runs and
    the normal plan (or the clash report) takes over. Saves a round trip per host on a first rollout.
    With ``policy.enable_ipsec_audit``, the host's IPsec audit policy is read in the same pipeline.

    ``checks``: the doctor's preflight reads ride in the same pipeline (``report.preflight`` gets the
    findings, a host with an error is failed and left out of what this returns). A fresh host's exemptions
    cannot wait for that verdict, so their batch also carries the doctor's on-host gate (doctor.gate_params):
    where an error could hold, nothing runs, and the host is failed by the findings (or, if they pass it
    after all, gets its exemptions in the normal phase).
    """
    desired = desired_objects(inv)
    names: dict[str, HostNames] = {}
    audits: dict[str, audit.AuditState] = {}
    reads: dict[str, HostRead] = {}

    def read(host: str, session: HostSession) -> HostState:
        exemptions = [o for o in desired[host].objects if o.kind is Kind.EXEMPTION]
        fresh = plan_host(host, inv.host(host).address, exemptions, [], inv.policy.store)
        validate_plan(fresh.calls)
        steps = preflight_steps(inv) if checks else read_steps(inv)
        if inv.policy.enable_ipsec_audit and not checks:  # the preflight reads a superset of it
            steps.append(audit.read_step(audit.MANAGED))
        if fresh.calls:
            guard = Guard(inv.policy.group, inv.policy.store, (), tuple(absent_keys(desired[host].objects)),
                          gate_params() if checks else None)
            steps.append(("invoke_batch", {"Calls": [batch_data(c) for c in fresh.calls], **guard.params()}))
        out = session.run_statements(steps)
        if checks:
            reads[host] = taken = split_preflight(host, out.objects, inv)
            state, names[host], audit_state = taken.state, taken.names, _managed(taken.audit)
            results = [r for r in taken.rest if isinstance(r, dict)]
        else:
            objects, audit_state = audit.split_output(out.objects)
            state, names[host], results = split_read(host, objects, inv)
        if audit_state is not None and inv.policy.enable_ipsec_audit:
            audits[host] = audit_state
        found[host] = state
        if not results or results[0].get("error_id") in ("StateMoved", "NameClash", "Preflight"):
            return state  # not fresh (planned normally below), a clash (reported below), or the gate refused
        journal.snapshot_once(run_id, host, snapshot_objects(state, inv.policy.group), {})
        report.sent[host] = len(fresh.calls)
        done = report.done.setdefault(host, [])
        try:
            record_results(journal, run_id, host, "exemptions", fresh.calls, results, out.errors)
        finally:
            done += completed(list(fresh.changes), results)
            report.fresh_exemptions[host] = len(fresh.changes)
        # Every call succeeded: the host now holds exactly the planned exemptions.
        return HostState([ObservedObject(o.kind, o.name, dict(o.params)) for o in exemptions], state.facts)

    states = fleet.open_each(targets, read)
    if checks:
        report.preflight = findings_of(inv, reads, [h for h in fleet.sessions if h in reads])
        # Had the gate let through a host the findings block (it is stricter, so only if the pipeline took
        # longer than doctor.GATE_MARGIN_S), its line says what was changed.
        applied = {h: len(report.done.get(h, [])) for h in report.fresh_exemptions}
        fail_blocked(fleet, report.preflight, {h: f"its {n} exemption(s) were applied before the verdict (the "
                                               "on-host preflight gate let them through)"
                                               for h, n in applied.items() if n})
        for host in [h for h in states if h not in fleet.sessions]:
            del states[host]
            found.pop(host, None)
            audits.pop(host, None)
    return states, {h: names[h] for h in states}, audits


def _managed(state: audit.AuditState | None) -> audit.AuditState | None:
    """The preflight's audit read narrowed to what apply manages (what it reads without the preflight)."""
    if state is None:
        return None
    keys = {s.key for s in audit.MANAGED}
    return audit.AuditState({k: v for k, v in state.settings.items() if k in keys},
                            {k: v for k, v in state.raw.items() if k in keys}, state.error)
