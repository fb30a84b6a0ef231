"""promote: switch proven pairs to Require (or back to Request) in waves, each behind a dead-man's switch.

``--to require`` needs a successful ``doctor --drill`` on every host it touches (``--skip-drill`` overrides)
and, with server isolation, an ``observe`` newer than the playbook's limit; an isolation rule that would cut
off a clear-text peer of that observation is held back (ops/wouldbreak.py) unless ``--accept-breaking``.
Each wave is a change behind the switch (ops/confirmed.py: arm → change → prove → confirm or revert); its
change is ``Set-NetIPsecRule -InboundSecurity Require -OutboundSecurity Request`` (or the playbook's), with the
promotion marked in each rule's Description so a lost journal is rebuilt from the hosts (ops/hostview.py).
The proof keeps the SAs that carry the pairs' traffic (no SA reset after the mode change: under Require that
drops the pair's packets until IKE renegotiates, docs/traffic.md) and proves instead that what the next
renegotiation needs answers through the new policy (a KDC with Kerberos).
A wave that is not confirmed stops further waves (per the playbook's failure settings).

Ctrl-C stops at the next step boundary (interrupt.py); a second one stops at once. Either way the run is
marked interrupted in the journal and the report lists the reverts still armed, with the deadlines the hosts
reported (host time and UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..events import wave_event
from ..journal.observations import Observation, latest_observations
from ..journal.store import Journal, now_iso
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, Kind, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.planner import Change
from ..plan.waves import host_local_order, plan_waves
from ..remote.deadman import Deadline, revert_line
from ..remote.names import promotion_mark
from ..remote.sessions import open_fleet
from ..remote.transport import HostSession, HostTarget
from .apply import live_plan
from .batches import execute_changes
from .confirmed import Confirmed, SwitchedRun, behind_switch, prove_in_place, undrilled
from .doctor import Finding, preflight_read
from .hostview import read_fleet_with, sync_journal
from .proof import first_probes, prove_pairs
from .status import hold_to_inventory
from .verify import PairResult
from .wouldbreak import ISOLATION_RULE, Breaking, breaking, stale

Pair = tuple[str, str]
REQUEST_PAIR = ("Request", "Request")


@dataclass
class WaveReport:
    number: int
    name: str
    pairs: list[Pair]
    isolated: list[str] = field(default_factory=list)  # hosts whose server-isolation rule changes too
    status: str = "pending"  # confirmed | reverted | failed | aborted | interrupted (changed, not confirmed)
    problems: list[str] = field(default_factory=list)
    proofs: list[PairResult] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)  # the reverts armed, as each host reported them
    would_break: list[Breaking] = field(default_factory=list)  # clear-text flows that held a rule back

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "pairs": [f"{a}:{b}" for a, b in self.pairs],
                "isolation_hosts": self.isolated, "status": self.status, "problems": self.problems,
                "would_break": [b.to_json() for b in self.would_break],
                "deadlines": [d.to_json() for d in self.deadlines],
                "proofs": [{"a": p.a, "b": p.b, "verified": p.verified, "problems": p.problems}
                           for p in self.proofs]}


@dataclass
class PromoteReport:
    target: tuple[str, str]
    skipped: dict[str, str] = field(default_factory=dict)  # "a:b" -> why not eligible
    waves: list[WaveReport] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # host -> why it is not promoted (no drill)
    run_id: int = 0
    nothing_eligible: str | None = None  # why no pair could be promoted (exit 1)
    journal_notes: list[str] = field(default_factory=list)
    interrupted: str | None = None
    armed_reverts: list[dict[str, Any]] = field(default_factory=list)  # after a Ctrl-C: what is still armed
    would_break: list[Breaking] = field(default_factory=list)  # rules held back: what they would cut off
    accepted_breaking: list[Breaking] = field(default_factory=list)  # cut off knowingly (--accept-breaking)
    preflight: list[Finding] | None = None  # the doctor's findings before any wave (None: skipped)

    @property
    def ok(self) -> bool:
        return (all(w.status == "confirmed" for w in self.waves) and not self.failed_hosts and not self.refused
                and self.nothing_eligible is None and self.interrupted is None and not self.would_break)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "target": {"inbound": self.target[0], "outbound": self.target[1]},
                "skipped": self.skipped, "nothing_eligible": self.nothing_eligible,
                "waves": [w.to_json() for w in self.waves], "failed_hosts": self.failed_hosts,
                "refused_hosts": self.refused, "would_break": [b.to_json() for b in self.would_break],
                "accepted_breaking": [b.to_json() for b in self.accepted_breaking],
                "journal_notes": self.journal_notes,
                "interrupted": self.interrupted is not None, "armed_reverts": self.armed_reverts, "ok": self.ok,
                "preflight": None if self.preflight is None else [f.to_json() for f in self.preflight]}


def refuse_undrilled(journal: Journal, pairs: list[Pair], report: PromoteReport) -> list[Pair]:
    """Pairs whose hosts all have a successful drill as their latest; the others are skipped and their hosts
    listed with the reason."""
    report.refused.update(undrilled(journal, [h for p in pairs for h in p]))
    kept = []
    for a, b in pairs:
        bad = [h for h in (a, b) if h in report.refused]
        if bad:
            report.skipped[f"{a}:{b}"] = "no successful drill on " + ", ".join(bad)
        else:
            kept.append((a, b))
    return kept


def drilled_selection(inv: Inventory, journal: Journal, selected: list[Pair] | None,
                      report: PromoteReport) -> list[Pair] | None:
    """The selected pairs (all the inventory's without a selection) whose hosts all have a successful drill
    as their latest; the others are skipped in ``report``. None: no pair is left."""
    known = _selected(inv, selected)
    if not refuse_undrilled(journal, known, report):
        return None
    return [p for p in known if f"{p[0]}:{p[1]}" not in report.skipped]


def refuse_unobserved(inv: Inventory, playbook: Playbook, observations: Mapping[str, Observation],
                      pairs: list[Pair], report: PromoteReport) -> list[Pair]:
    """With server isolation, pairs whose hosts all have a recent enough observation; the others are skipped
    and their hosts listed with the reason."""
    hosts = sorted({h for p in pairs for h in p})
    for host, why in stale(observations, hosts, playbook.promote.observation_max_age_s).items():
        report.refused[host] = why
    kept = []
    for a, b in pairs:
        bad = [h for h in (a, b) if h in report.refused]
        if bad:
            report.skipped.setdefault(f"{a}:{b}", "no recent observation on " + ", ".join(bad))
        else:
            kept.append((a, b))
    return kept


def promote(inv: Inventory, playbook: Playbook, targets: Mapping[str, HostTarget], journal: Journal,
            to: str, selected: list[Pair] | None, confirm_timeout_s: int, forks: int,
            say: Callable[[str, str], None] | None = None, skip_drill: bool = False,
            accept_breaking: list[str] | None = None, checks: bool = True) -> PromoteReport:
    say = say or (lambda _h, _m: None)
    target = (playbook.promote.inbound, playbook.promote.outbound) if to == "require" else REQUEST_PAIR
    report = PromoteReport(target)
    observations = latest_observations(journal)
    if to == "require" and not skip_drill:
        drilled = drilled_selection(inv, journal, selected, report)
        if drilled is None:
            return report  # nothing is contacted when no pair's hosts were drilled
        selected = drilled
    if to == "require" and inv.policy.server_isolation:
        known = _selected(inv, selected)
        if not refuse_unobserved(inv, playbook, observations, known, report):
            return report  # nothing is contacted when no pair's hosts were observed recently
        selected = [p for p in known if f"{p[0]}:{p[1]}" not in report.skipped]
    accepted = list(accept_breaking or [])
    run_id = report.run_id = journal.begin_run(f"promote --to {to}")
    fleet = open_fleet(targets, forks)
    run: SwitchedRun | None = None
    try:
        # Pairs must still verify now, not only when the journal recorded it: the proof's first round rides
        # along the read (one pipeline per host); later rounds, if any, poll as usual.
        candidates = _candidates(inv, journal, selected, report) if to == "require" else []
        only = {frozenset(p) for p in candidates}
        probes = first_probes(inv, fleet, playbook.verify, only)

        def ride(host: str) -> list[tuple[str, dict[str, Any]]]:
            return [("verify", {"Probes": probes[host]})] if host in probes else []

        if checks:  # the doctor's preflight in the same read: a host with an error is failed, not promoted
            report.preflight, states, names, rides = preflight_read(inv, fleet, ride)
        else:
            states, names, rides = read_fleet_with(fleet, inv, ride)
        run = SwitchedRun(inv, playbook, fleet, targets, journal, run_id, states, say)
        report.journal_notes = sync_journal(inv, states, names, journal)
        current = journal.pair_security()
        if to == "require":
            first = {h: (r[0] if r else {}) for h, r in rides.items() if h in probes}
            proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say, only=only,
                                 first_round=first)
            # SAs outlive a deleted or changed rule (nothing here resets them, to drop nothing), so the
            # proof is held to the objects the hosts carry, as status does.
            changes = {h.host: list(h.changes) for h in live_plan(inv, states, journal, names).hosts}
            for proof in proofs:
                hold_to_inventory(inv, proof, states, changes, current)
            eligible = []
            for proof in proofs:
                if proof.verified:
                    eligible.append((proof.a, proof.b))
                else:
                    report.skipped[f"{proof.a}:{proof.b}"] = "does not verify now: " + "; ".join(proof.problems)
        else:
            # Demotion lowers the requirement: no proof is needed first, only the management path after.
            eligible = [p for p in _selected(inv, selected) if current.get(p, REQUEST_PAIR) != target]
        done = {p for p, sec in current.items() if sec == target and p[1] != ISOLATION}
        if not [p for p in eligible if current.get(p, REQUEST_PAIR) != target] and report.skipped:
            report.nothing_eligible = (f"no pair is eligible for {target[0]}/{target[1]}: "
                                       + "; ".join(f"{p}: {why}" for p, why in sorted(report.skipped.items())))
        proven = {frozenset(p) for p in [*eligible, *done]}
        handled: set[str] = set()  # hosts whose isolation rule a wave took up (or held back)
        stopped = False
        waves = [(name, [p for p in pairs if current.get(p, REQUEST_PAIR) != target])
                 for name, pairs in plan_waves(host_local_order(eligible), playbook)]
        waves = [w for w in waves if w[1]]
        for name, pairs in waves:
            number = len(report.waves) + 1
            interrupt.checkpoint(f"wave {number} ({name})")
            say("fleet", wave_event(number, len(waves), name, pairs))
            wave = WaveReport(number, name, pairs, _isolation_hosts(inv, pairs, done, current, target, to))
            handled |= set(wave.isolated)
            _hold_breaking(inv, wave, observations, proven, accepted, target, report)
            report.waves.append(wave)
            _run_wave(run, wave, target, confirm_timeout_s)
            if wave.status == "confirmed":
                done |= set(pairs)
            failed_pairs = sum(1 for p in wave.proofs if not p.verified)
            if wave.status != "confirmed" and (playbook.failure.stop_on_failed_wave
                                               or failed_pairs > playbook.failure.max_failed_pairs_per_wave):
                stopped = True
                break
        # Isolation rules left behind: every pair of the host is promoted, the rule is not (a rule a clear-text
        # peer held back before, now exempted, made a member or accepted).
        left = [] if stopped else _isolation_left(inv, _selected(inv, selected), done, current, target, to,
                                                  handled | set(fleet.failed))
        if left:
            wave = WaveReport(len(report.waves) + 1, "isolation", [], left)
            _hold_breaking(inv, wave, observations, proven, accepted, target, report)
            if wave.isolated:
                interrupt.checkpoint(f"wave {wave.number} (isolation)")
                report.waves.append(wave)
                _run_wave(run, wave, target, confirm_timeout_s)
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, wherever it was
        report.interrupted = "stopped at once by Ctrl-C"
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        stopped = report.interrupted is not None or interrupt.requested()
        if stopped:
            report.interrupted = report.interrupted or "stopped by Ctrl-C"
            report.armed_reverts = run.armed_now() if run is not None else []
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed",
                           {"waves": len(report.waves), **({"armed": len(report.armed_reverts)} if stopped else {})})
    return report


def _selected(inv: Inventory, selected: list[Pair] | None) -> list[Pair]:
    known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
    return [known[frozenset(p)] for p in selected] if selected is not None else list(known.values())


def _candidates(inv: Inventory, journal: Journal, selected: list[Pair] | None, report: PromoteReport) -> list[Pair]:
    out: list[Pair] = []
    for a, b in _selected(inv, selected):
        record = journal.latest_verification(a, b)
        if record is None or not record.verified:
            report.skipped[f"{a}:{b}"] = "not verified by apply yet"
        else:
            out.append((a, b))
    return out


def _isolation_hosts(inv: Inventory, pairs: list[Pair], done: set[Pair],
                     current: Mapping[Pair, tuple[str, str]], target: tuple[str, str], to: str) -> list[str]:
    """Hosts whose isolation rule moves in this wave: toward Require only once every pair of the host is
    promoted (Microsoft: never require until every pair is proven); back to Request with the host's pairs."""
    if not inv.policy.server_isolation:
        return []
    after = done | set(pairs)
    out = []
    for host in sorted({h for p in pairs for h in p}):
        if current.get((host, ISOLATION), REQUEST_PAIR) == target:
            continue
        mine = [(a, b) for a, b, _ in inv.expanded_pairs() if host in (a, b)]
        if to == "request" or all(p in after for p in mine):
            out.append(host)
    return out


def _isolation_left(inv: Inventory, selected: list[Pair], done: set[Pair], current: Mapping[Pair, tuple[str, str]],
                    target: tuple[str, str], to: str, skip: set[str]) -> list[str]:
    """Hosts of the selected pairs whose isolation rule is not at ``target`` although every pair of the host is
    (toward Require) — or whatever its pairs (back to Request)."""
    if not inv.policy.server_isolation:
        return []
    out = []
    for host in sorted({h for p in selected for h in p} - skip):
        if current.get((host, ISOLATION), REQUEST_PAIR) == target:
            continue
        mine = [(a, b) for a, b, _ in inv.expanded_pairs() if host in (a, b)]
        if to == "request" or all(p in done for p in mine):
            out.append(host)
    return out


def _hold_breaking(inv: Inventory, wave: WaveReport, observations: Mapping[str, Observation],
                   proven: set[frozenset[str]], accepted: list[str], target: tuple[str, str],
                   report: PromoteReport) -> None:
    """Take out of the wave every isolation rule that would cut off a clear-text peer of the last observation
    (listing the flows); flows the operator accepted (--accept-breaking) do not hold a rule back."""
    if target == REQUEST_PAIR:
        return  # lowering a rule cuts nobody off
    for host in list(wave.isolated):
        held, taken = breaking(inv, host, ISOLATION_RULE, target, observations.get(host), proven, accepted)
        report.accepted_breaking += taken
        if held:
            wave.isolated.remove(host)
            wave.would_break += held
            report.would_break += held


def _rule_calls(inv: Inventory, pairs: list[Pair], isolated: list[str],
                security: tuple[str, str]) -> dict[str, list[CmdletCall]]:
    calls: dict[str, list[CmdletCall]] = {}
    targets: list[tuple[tuple[str, ...], str]] = [((a, b), pair_rule_name(inv.policy.group, a, b))
                                                  for a, b in pairs]
    targets += [((h,), isolation_rule_name(inv.policy.group)) for h in isolated]
    # The promotion is recorded on the hosts too (-Description, a String of Set-NetIPsecRule per the
    # reference), so a lost journal is rebuilt from them (ops/hostview.py).
    mark = promotion_mark(security[0], security[1], now_iso())
    for hosts, rule in targets:
        for host in hosts:
            calls.setdefault(host, []).append(CmdletCall("Set-NetIPsecRule", {
                "IPsecRuleName": rule, "InboundSecurity": security[0],
                "OutboundSecurity": security[1], "Description": mark, "PolicyStore": inv.policy.store}))
    for host_calls in calls.values():
        validate_plan(host_calls)
    return calls


def revert_lines(inv: Inventory, pairs: list[Pair], isolated: list[str],
                 previous: Mapping[Pair, tuple[str, str]]) -> dict[str, list[str]]:
    """What each host's revert restores: the security each rule had before (Request/Request if unrecorded)."""
    lines: dict[str, list[str]] = {}
    for a, b in pairs:
        inbound, outbound = previous.get((a, b), REQUEST_PAIR)
        for host in (a, b):
            lines.setdefault(host, []).append(
                revert_line(pair_rule_name(inv.policy.group, a, b), inbound, outbound, inv.policy.store))
    for host in isolated:
        inbound, outbound = previous.get((host, ISOLATION), REQUEST_PAIR)
        lines.setdefault(host, []).append(
            revert_line(isolation_rule_name(inv.policy.group), inbound, outbound, inv.policy.store))
    return lines


def _run_wave(run: SwitchedRun, wave: WaveReport, target: tuple[str, str], timeout_s: int) -> None:
    change = _rule_calls(run.inv, wave.pairs, wave.isolated, target)

    def apply_change(hosts: list[str]) -> None:
        def one(host: str, session: HostSession) -> int:
            changes = [Change("update", Kind.RULE, str(c.params["IPsecRuleName"]), "promote", (c,))
                       for c in change[host]]
            return execute_changes(run.journal, run.run_id, host, session, f"promote-wave-{wave.number}", changes)

        run.fleet.each(one, hosts)

    lines = revert_lines(run.inv, wave.pairs, wave.isolated, run.journal.pair_security())
    outcome = Confirmed()
    try:
        behind_switch(run, outcome, wave.number, f"wave {wave.number}", wave.pairs, lines, timeout_s, apply_change,
                      lowering=target == REQUEST_PAIR, prove=prove_in_place)
    finally:  # also when a Ctrl-C stopped the wave: the report shows how far it got
        wave.status, wave.problems, wave.proofs, wave.deadlines = (outcome.status, outcome.problems,
                                                                   outcome.proofs, outcome.deadlines)
    if wave.status == "confirmed":
        for a, b in wave.pairs:
            run.journal.set_pair_security(a, b, *target)
        for host in wave.isolated:
            run.journal.set_pair_security(host, ISOLATION, *target)
