"""apply and rollback in GPO mode: one writer, one GPO session, one Save; then every linked host refreshes
computer policy and its RSOP must hold the GPO's current objects before anything is proven.

* The GPO is read and written on ``policy.gpo_writer`` (a domain controller: no second hop). The objects
  of our group in the GPO are journaled (under ``gpo:<store>``) before the first edit; rollback converges
  the GPO back to that snapshot.
* The edits run as one guarded batch in a GPO session (invoke_batch.ps1 -GpoSession): the GPO must still
  hold exactly the objects the plan was made from, and Save-NetGPO runs only if every call succeeded, so a
  failure (no edit rights, a refused call) leaves the GPO as it was.
* Each host then runs ``gpupdate /target:computer /force``; a host whose RSOP still differs from the GPO is
  reported as failed (its pairs are not proven).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.store import Journal
from ..log import get_logger
from ..model.desired import DesiredObject, Kind
from ..model.gpo import gpo_writer_address
from ..model.gpo_desired import gpo_objects
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.gpo_plan import GpoPlan
from ..plan.planner import Change, HostPlan, Plan, plan_host
from ..remote.hoststate import HostState
from ..remote.sessions import Fleet, batch_data, open_fleet
from ..remote.transport import HostTarget
from .apply import ApplyReport
from .batches import Guard, StepFailed, completed, creates, record_results
from .gpo_status import RSOP, gpo_promotions, rsop_behind, with_store
from .hostview import made_by_us, read_fleet, snapshot_objects
from .proof import prove_pairs
from .rollback import RollbackReport, snapshot_desired

Say = Callable[[str, str], None]
SETS = {Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET}


def gpo_key(inv: Inventory) -> str:
    """The journal's name for the GPO (its snapshot and steps), apart from any host's."""
    return f"gpo:{inv.policy.store}"


def _read_gpo(inv: Inventory, writer_fleet: Fleet, cleanup: bool = False) -> HostState | None:
    states, _ = read_fleet(writer_fleet, inv, cleanup=cleanup)
    return states.get(inv.policy.gpo_writer or "")


def _plan(inv: Inventory, objects: Any, gpo: HostState) -> HostPlan:
    writes = plan_host(inv.policy.gpo_writer or "", gpo_writer_address(inv), objects, gpo.observed,
                       inv.policy.store)
    validate_plan(writes.calls, existing_sets={inv.policy.store: {o.name for o in gpo.observed if o.kind in SETS}})
    return writes


def write_gpo(inv: Inventory, writer_fleet: Fleet, journal: Journal, run_id: int, phase: str,
              changes: list[Change], gpo: HostState, done: list[str]) -> int:
    """The changes in one GPO session and one Save-NetGPO, guarded by what the plan was read from."""
    writer = inv.policy.gpo_writer or ""
    session = writer_fleet.sessions[writer]
    calls = [call for change in changes for call in change.calls]
    guard = Guard(inv.policy.group, inv.policy.store, tuple(sorted(o.name for o in gpo.observed)), creates(changes))
    out = session.run("invoke_batch", {"Calls": [batch_data(c) for c in calls], **guard.params(), "GpoSession": True},
                      retry=False)
    results = [r for r in out.objects if isinstance(r, dict)]
    if results and results[0].get("error_id") == "GpoOpen":
        raise StepFailed(f"{writer}: nothing changed: cannot open GPO '{inv.policy.store}': {results[0].get('error')}")
    steps = [r for r in results if r.get("cmdlet") != "Save-NetGPO"]
    record_results(journal, run_id, gpo_key(inv), phase, calls, steps, out.errors)  # raises on a failed call
    saved = next((r for r in results if r.get("cmdlet") == "Save-NetGPO"), None)
    if saved is None or not saved.get("ok"):
        raise StepFailed(f"{writer}: nothing changed: Save-NetGPO failed: "
                         f"{saved.get('error') if saved else 'no result'}")
    done += completed(changes, steps)
    return len(calls)


def refresh_hosts(inv: Inventory, fleet: Fleet, writer_fleet: Fleet, say: Say,
                  hosts: list[str] | None = None) -> dict[str, HostState]:
    """gpupdate on every live host (or those of ``hosts``), then each RSOP against the GPO's current
    objects; hosts still behind are failed. Returns the RSOP states of the hosts that hold the GPO."""
    def refresh(host: str, session: Any) -> bool:
        out = session.run("gpo_refresh", {}, retry=False)
        first = out.objects[0] if out.objects else {}
        if not isinstance(first, dict) or not first.get("Refreshed"):
            raise StepFailed(f"{host}: gpupdate /target:computer /force failed: "
                             f"{first.get('Output') if isinstance(first, dict) else out.errors}")
        return True

    for host in fleet.each(refresh, hosts):
        say(host, "computer policy refreshed")
    gpo = _read_gpo(inv, writer_fleet)
    rsop, _ = read_fleet(fleet, with_store(inv, RSOP), hosts=hosts)
    if gpo is None:
        for host in list(rsop):
            fleet.fail(host, f"{host}: the GPO could not be read back on {inv.policy.gpo_writer}")
        return {}
    for host, lines in rsop_behind(inv, gpo, rsop).items():
        if lines:
            fleet.fail(host, f"{host}: after gpupdate its RSOP does not hold the GPO's current objects: "
                             + "; ".join(lines))
            rsop.pop(host, None)
    return rsop


def gpo_live_plan(inv: Inventory, writer: HostTarget, journal: Journal | None = None) -> GpoPlan:
    """``plan`` in GPO mode: the GPO as the writer reads it now, diffed against the inventory (at the
    security the journal's promotions confirmed)."""
    writer_fleet = open_fleet({writer.name: writer}, 1)
    try:
        gpo = _read_gpo(inv, writer_fleet)
        if gpo is None:
            raise IpsecRemoteError(writer_fleet.failed.get(writer.name) or f"{writer.name}: the GPO could not be read")
        promoted = gpo_promotions(inv, gpo, journal)[0] if journal is not None else {}
        refresh = tuple((h.name, h.address) for h in inv.hosts)
        return GpoPlan(inv.policy.store, _plan(inv, gpo_objects(inv, promoted), gpo), refresh)
    finally:
        writer_fleet.close()


def gpo_rollback_plan(inv: Inventory, writer: HostTarget, journal: Journal) -> tuple[GpoPlan, list[str]]:
    """``rollback``'s preview in GPO mode: the GPO as the writer reads it now, diffed against its snapshot
    (and the note of what a lost snapshot leaves unknown)."""
    writer_fleet = open_fleet({writer.name: writer}, 1)
    try:
        gpo = _read_gpo(inv, writer_fleet)
        if gpo is None:
            raise IpsecRemoteError(writer_fleet.failed.get(writer.name) or f"{writer.name}: the GPO could not be read")
        objects, notes = rollback_objects(inv, journal, gpo)
        return GpoPlan(inv.policy.store, _plan(inv, objects, gpo), tuple((h.name, h.address) for h in inv.hosts)), notes
    finally:
        writer_fleet.close()


def rollback_objects(inv: Inventory, journal: Journal, gpo: HostState) -> tuple[list[DesiredObject], list[str]]:
    """What rollback converges the GPO to: its snapshot from before the first apply. Without one (a lost
    journal), the objects of our group this tool did not name stay as they are (nothing shows whether they
    predate us) and the ones it named go; one note says so and what cannot be restored."""
    if journal.snapshot(gpo_key(inv)) is not None or not gpo.observed:
        return snapshot_desired(journal, gpo_key(inv))[0], []
    kept = [o for o in gpo.observed if not made_by_us(o, inv.policy.group)]
    group, store = inv.policy.group, inv.policy.store
    note = (f"journal {journal.path} holds no snapshot of the GPO from before the first apply (lost journal): "
            f"rollback removes the {len(gpo.observed) - len(kept)} object(s) this tool named in '{store}'"
            + (f" and leaves the {len(kept)} other object(s) of group '{group}' as they are" if kept else "")
            + f"; what group '{group}' held in the GPO before the first apply cannot be restored")
    return [DesiredObject(o.kind, o.name, dict(o.params), "left as it is (not named by this tool)")
            for o in kept], [note]


def gpo_apply(inv: Inventory, playbook: Playbook, targets: Mapping[str, HostTarget], writer: HostTarget,
              journal: Journal, forks: int, say: Say) -> ApplyReport:
    run_id = journal.begin_run("apply")
    log = get_logger(run_id=run_id, command="apply")
    report = ApplyReport(run_id, Plan(()))
    writer_fleet = open_fleet({writer.name: writer}, 1)
    fleet = open_fleet(targets, forks)
    try:
        gpo = _read_gpo(inv, writer_fleet)
        if gpo is not None:
            # Promotions the journal confirmed stay (apply never demotes; promote --to request does); a lost
            # journal's are rebuilt from the GPO's promoted rules first.
            promoted, report.journal_notes = gpo_promotions(inv, gpo, journal)
            report.plan = Plan((_plan(inv, gpo_objects(inv, promoted), gpo),))
            changes = list(report.plan.hosts[0].changes)
            if changes:
                # The GPO's objects of our group before the first edit: what rollback returns to.
                journal.snapshot_once(run_id, gpo_key(inv), snapshot_objects(gpo, inv.policy.group), {})
                done = report.done.setdefault(writer.name, [])
                report.sent[writer.name] = write_gpo(inv, writer_fleet, journal, run_id, "gpo", changes, gpo, done)
                say(writer.name, f"GPO '{inv.policy.store}': {len(changes)} change(s) saved in one session")
            rsop = refresh_hosts(inv, fleet, writer_fleet, say)
            confirmed = journal.pair_security()
            report.security = {(a, b): confirmed.get((a, b), ("Request", "Request"))
                               for a, b, _ in inv.expanded_pairs()}
            if "verify" in playbook.rollout.phases:
                report.pairs = prove_pairs(inv, fleet, playbook.verify, rsop, journal, run_id, say)
    except StepFailed as exc:
        writer_fleet.fail(writer.name, str(exc))
    finally:
        report.failed_hosts = {**fleet.failed, **writer_fleet.failed}
        for host, reason in report.failed_hosts.items():
            log.error("host failed", host=host, reason=reason)
        fleet.close()
        writer_fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed", report.summary)
    return report


def gpo_rollback(inv: Inventory, targets: Mapping[str, HostTarget], writer: HostTarget, journal: Journal,
                 forks: int) -> RollbackReport:
    run_id = journal.begin_run("rollback")
    report = RollbackReport(run_id)
    writer_fleet = open_fleet({writer.name: writer}, 1)
    fleet = open_fleet(targets, forks)
    try:
        gpo = _read_gpo(inv, writer_fleet)
        if gpo is not None:
            objects, report.journal_notes = rollback_objects(inv, journal, gpo)
            changes = list(_plan(inv, objects, gpo).changes)
            done: list[str] = []
            try:
                if changes:
                    report.calls[writer.name] = write_gpo(inv, writer_fleet, journal, run_id, "rollback", changes,
                                                          gpo, done)
            finally:
                report.removed[writer.name] = done.count("destroy")
                report.restored[writer.name] = len(done) - done.count("destroy")
            refresh_hosts(inv, fleet, writer_fleet, lambda _h, _m: None)
            after = _read_gpo(inv, writer_fleet)
            if after is not None:
                left = _plan(inv, objects, after).changes
                report.remaining[writer.name] = [f"GPO: {c.kind.value} {c.name}" for c in left]
            if not fleet.failed and not writer_fleet.failed:
                journal.clear_pair_security()
    except StepFailed as exc:
        writer_fleet.fail(writer.name, str(exc))
    finally:
        report.failed_hosts = {**fleet.failed, **writer_fleet.failed}
        fleet.close()
        writer_fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed", report.to_json())
    return report
