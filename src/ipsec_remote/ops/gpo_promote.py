"""promote in GPO mode: waves of host pairs moved to Require (or back to Request) through the one GPO.

Each wave is a change behind the dead-man's switch (ops/confirmed.py), with the GPO as the thing changed:

a. arm — every wave host gets the usual one-time SYSTEM task, whose deadline action is a computer-policy
   refresh (``gpupdate /target:computer /force``, remote/deadman.py REFRESH_LINE) instead of rules to
   restore: SYSTEM has no rights on a GPO, so a host cannot undo a GPO edit itself;
b. change — the GPO's objects for the promoted pairs so far plus the wave's (gpo_desired.py: each pair its
   own rules, carved out of the Request rules) written on ``policy.gpo_writer`` in one GPO session and one
   Save-NetGPO (Open-NetGPO "caches the GPO so that modifications can be made locally", Save-NetGPO "loads
   and saves the entire GPO at once": learn.microsoft.com/powershell/module/netsecurity/open-netgpo and
   .../save-netgpo), then only the wave's hosts refresh (gpupdate /target:computer /force, as apply does)
   and their RSOP must carry the edit;
c. prove — the wave's pairs through the new policy and a fresh WinRM session to every wave host;
d. confirm, or revert: the controller writes the GPO back to the confirmed promotions (one session, one
   Save), then each wave host refreshes again (through a new session, or its task at the deadline) and its
   RSOP is checked; no later wave starts.

One Ctrl-C after (b) reverts the GPO edit before stopping (the tasks then refresh the hosts to it). What
the net does not cover: a controller that dies after (b) cannot revert the GPO. The hosts' tasks still
fire, but their refresh re-applies the GPO as it is — Require stays on the wave's pairs, at every refresh,
until the GPO is edited. The next run sees it: status reads the GPO's promotions against the journal's
confirmed ones and marks those pairs unconfirmed; ``promote`` takes them up again (proven, then confirmed
or reverted through the GPO) and ``rollback`` writes the GPO back to its snapshot. The DCs stay exempt
(the GPO's exemptions), so the refresh path to them survives any wave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import interrupt
from ..events import wave_event
from ..journal.store import Journal
from ..log import get_logger
from ..model.desired import Security
from ..model.gpo_desired import gpo_objects
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..plan.waves import plan_waves
from ..remote.deadman import REFRESH_LINE
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostTarget
from .batches import StepFailed
from .confirmed import Confirmed, SwitchedRun, behind_switch, prove_in_place
from .doctor import preflight
from .gpo_apply import _plan, _read_gpo, refresh_hosts, write_gpo
from .gpo_status import RSOP, gpo_pair_security, gpo_promotions, promotions, rsop_behind, with_store
from .hostview import read_fleet
from .promote import REQUEST_PAIR, PromoteReport, WaveReport, _selected, drilled_selection
from .proof import prove_pairs

Pair = tuple[str, str]
Say = Callable[[str, str], None]


@dataclass
class GpoEdit:
    """The writer, the hosts and the journal of one run: writes the GPO for a set of promotions."""

    inv: Inventory
    writer_fleet: Fleet
    fleet: Fleet
    journal: Journal
    run_id: int
    say: Say

    def write(self, promoted: Mapping[Pair, Security], phase: str, refresh: list[str] | None,
              cleanup: bool = False) -> list[str]:
        """The GPO's objects for ``promoted`` in one session and one Save (nothing if it holds them
        already); then ``refresh`` (hosts) run gpupdate and their RSOP must carry it. Problems, one line each.
        ``cleanup``: also after a Ctrl-C (the revert of an edit nobody will confirm)."""
        writer = self.inv.policy.gpo_writer or ""
        gpo = _read_gpo(self.inv, self.writer_fleet, cleanup)
        if gpo is None:
            return [self.writer_fleet.failed.get(writer) or f"{writer}: the GPO could not be read"]
        changes = list(_plan(self.inv, gpo_objects(self.inv, promoted), gpo).changes)
        try:
            if changes:
                write_gpo(self.inv, self.writer_fleet, self.journal, self.run_id, phase, changes, gpo, [])
                self.say(writer, f"GPO '{self.inv.policy.store}': {len(changes)} change(s) saved in one session")
        except StepFailed as exc:
            return [str(exc)]
        if refresh:
            refresh_hosts(self.inv, self.fleet, self.writer_fleet, self.say, refresh)
        return []

    def behind(self, hosts: list[str]) -> list[str]:
        """Hosts of ``hosts`` whose RSOP does not hold the GPO's current objects (one line each)."""
        gpo = _read_gpo(self.inv, self.writer_fleet)
        if gpo is None:
            return ["the GPO could not be read back on the writer"]
        rsop, _ = read_fleet(self.fleet, with_store(self.inv, RSOP), hosts=hosts)
        lines = [f"{h}: its RSOP still differs from the GPO: " + "; ".join(d)
                 for h, d in rsop_behind(self.inv, gpo, rsop).items() if d]
        return lines + [f"{h}: its RSOP could not be read" for h in hosts if h not in rsop]


def gpo_promote(inv: Inventory, playbook: Playbook, targets: Mapping[str, HostTarget], writer: HostTarget,
                journal: Journal, to: str, selected: list[Pair] | None, confirm_timeout_s: int, forks: int,
                say: Say | None = None, skip_drill: bool = False, checks: bool = True) -> PromoteReport:
    say = say or (lambda _h, _m: None)
    target = (playbook.promote.inbound, playbook.promote.outbound) if to == "require" else REQUEST_PAIR
    report = PromoteReport(target)
    if to == "require" and not skip_drill:
        drilled = drilled_selection(inv, journal, selected, report)
        if drilled is None:
            return report  # nothing is contacted when no pair's hosts were drilled
        selected = drilled
    run_id = report.run_id = journal.begin_run(f"promote --to {to}")
    log = get_logger(run_id=run_id, command=f"promote --to {to}")
    writer_fleet = open_fleet({writer.name: writer}, 1)
    fleet = open_fleet(targets, forks)
    edit = GpoEdit(inv, writer_fleet, fleet, journal, run_id, say)
    rsop_inv = with_store(inv, RSOP)  # what the hosts enforce from the GPO
    run: SwitchedRun | None = None
    try:
        if checks:
            report.preflight = preflight(rsop_inv, fleet)
        gpo = _read_gpo(inv, writer_fleet)
        if gpo is None:
            return report
        confirmed, rebuilt = gpo_promotions(inv, gpo, journal)  # a lost journal's: from the GPO's rules
        held = gpo_pair_security(inv, gpo)
        report.journal_notes = rebuilt + [
            f"{a}:{b}: the GPO holds {sec[0]}/{sec[1]}, which no run confirmed (a promote that stopped mid-wave); "
            "this run takes the pair up again"
            for (a, b), sec in sorted(held.items()) if sec != REQUEST_PAIR and (a, b) not in confirmed]
        # A wave writes the whole GPO for the inventory: other differences would reach hosts outside the wave
        # unproven (at the catch-up refresh), so they are apply's to repair first.
        drift = _plan(inv, gpo_objects(inv, promotions(held)), gpo).changes
        if drift:
            writer_fleet.fail(writer.name, f"{writer.name}: nothing changed: the GPO differs from the inventory ("
                              + "; ".join(f"{c.action} {c.kind.value} {c.name}" for c in drift[:5])
                              + (f"; {len(drift) - 5} more" if len(drift) > 5 else "")
                              + "): run 'ipsec-remote apply' first")
            return report
        states, _ = read_fleet(fleet, rsop_inv)
        if to == "require":
            candidates = []
            for a, b in _selected(inv, selected):
                record = journal.latest_verification(a, b)
                if (a, b) in confirmed and (confirmed[(a, b)].inbound, confirmed[(a, b)].outbound) == target:
                    continue
                if record is None or not record.verified:
                    report.skipped[f"{a}:{b}"] = "not verified by apply yet"
                else:
                    candidates.append((a, b))
            proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                                 only={frozenset(p) for p in candidates}) if candidates else []
            eligible = [(p.a, p.b) for p in proofs if p.verified]
            for proof in proofs:
                if not proof.verified:
                    report.skipped[f"{proof.a}:{proof.b}"] = "does not verify now: " + "; ".join(proof.problems)
        else:
            eligible = [p for p in _selected(inv, selected) if p in confirmed or held.get(p, REQUEST_PAIR) != target]
        if not eligible and report.skipped:
            report.nothing_eligible = (f"no pair is eligible for {target[0]}/{target[1]}: "
                                       + "; ".join(f"{p}: {why}" for p, why in sorted(report.skipped.items())))
        run = SwitchedRun(inv, playbook, fleet, targets, journal, run_id, states, say)
        waves = [w for w in plan_waves(eligible, playbook) if w[1]]
        settled = True  # the GPO holds only confirmed promotions
        for name, pairs in waves:
            number = len(report.waves) + 1
            interrupt.checkpoint(f"wave {number} ({name})")
            say("fleet", wave_event(number, len(waves), name, pairs))
            wave = WaveReport(number, name, pairs)
            report.waves.append(wave)
            after = dict(confirmed)
            for pair in pairs:
                if to == "require":
                    after[pair] = Security(*target)
                else:
                    after.pop(pair, None)
            _run_wave(run, edit, wave, confirmed, after, confirm_timeout_s, lowering=to != "require")
            if wave.status == "confirmed":
                confirmed = after
                for a, b in pairs:
                    journal.set_pair_security(a, b, *target)
                continue
            settled = wave.status in ("reverted", "aborted")
            failed_pairs = sum(1 for p in wave.proofs if not p.verified)
            if (playbook.failure.stop_on_failed_wave or failed_pairs > playbook.failure.max_failed_pairs_per_wave
                    or not settled):
                break
        if settled and waves:
            _catch_up(inv, edit, report)
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    except KeyboardInterrupt:
        report.interrupted = "stopped at once by Ctrl-C"
    finally:
        report.failed_hosts = {**fleet.failed, **writer_fleet.failed}
        for host, reason in report.failed_hosts.items():
            log.error("host failed", host=host, reason=reason)
        fleet.close()
        writer_fleet.close()
        stopped = report.interrupted is not None or interrupt.requested()
        if stopped:
            report.interrupted = report.interrupted or "stopped by Ctrl-C"
            report.armed_reverts = run.armed_now() if run is not None else []
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed",
                           {"waves": len(report.waves), "gpo": inv.policy.store})
    return report


def _run_wave(run: SwitchedRun, edit: GpoEdit, wave: WaveReport, before: Mapping[Pair, Security],
              after: Mapping[Pair, Security], timeout_s: int, lowering: bool) -> None:
    hosts = sorted({h for p in wave.pairs for h in p})
    lines = {h: [REFRESH_LINE] for h in hosts}
    outcome = Confirmed()
    try:
        behind_switch(run, outcome, wave.number, f"wave {wave.number}", wave.pairs, lines, timeout_s,
                      lambda wave_hosts: edit.write(after, f"promote-wave-{wave.number}", wave_hosts),
                      lowering=lowering, prove=prove_in_place,
                      # The hosts' own reverts (a new session, or the task) refresh policy: the GPO first.
                      undo=lambda: edit.write(before, f"promote-wave-{wave.number}-revert", None))
    except interrupt.Interrupted:
        if outcome.status.startswith("interrupted"):
            # One Ctrl-C after the GPO edit: no confirm will come, and the hosts' refresh undoes nothing
            # while the GPO holds the edit — so the controller reverts it before stopping; each wave host's
            # task then refreshes to it at its deadline.
            undone = edit.write(before, f"promote-wave-{wave.number}-revert", None, cleanup=True)
            outcome.problems += undone or ["stopped by Ctrl-C: the GPO edit was reverted; each wave host gets it "
                                           "back at its deadline's computer-policy refresh"]
        raise
    finally:
        wave.status, wave.problems, wave.proofs, wave.deadlines = (outcome.status, outcome.problems,
                                                                   outcome.proofs, outcome.deadlines)
    if wave.status == "reverted":
        stale = edit.behind(hosts)
        if stale:
            wave.problems += stale
            wave.status = "failed"


def _catch_up(inv: Inventory, edit: GpoEdit, report: PromoteReport) -> None:
    """Hosts whose RSOP is behind only by other waves' edits refresh too (their own pairs' rules did not
    change: each wave edits only its pairs' rules), so every host holds the GPO's current objects — what
    their background refresh would bring within 120 minutes anyway."""
    gpo = _read_gpo(inv, edit.writer_fleet)
    if gpo is None:
        return
    rsop, _ = read_fleet(edit.fleet, with_store(inv, RSOP))
    stale = sorted(h for h, lines in rsop_behind(inv, gpo, rsop).items() if lines)
    if stale:
        refresh_hosts(inv, edit.fleet, edit.writer_fleet, edit.say, stale)
        report.failed_hosts.update({h: edit.fleet.failed[h] for h in stale if h in edit.fleet.failed})
