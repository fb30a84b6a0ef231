"""promote: switch proven pairs to Require (or back to Request) in waves, each behind a dead-man's switch.

``--to require`` needs a successful ``doctor --drill`` on every host it touches (``--skip-drill`` overrides)
and, with server isolation, an ``observe`` newer than the playbook's limit; an isolation rule that would cut
off a clear-text peer of that observation is held back (ops/wouldbreak.py) unless ``--accept-breaking``.
Per wave (a confirmed commit, as Junos ``commit confirmed`` or ``netplan try``; ops/switch.py):

a. arm — on every host of the wave, the settings to restore go to a protected folder and a one-time SYSTEM
   task, inline and policy-proof, is registered at now + confirm-timeout; each host reports its deadline;
b. change — ``Set-NetIPsecRule -InboundSecurity Require -OutboundSecurity Request`` (or the playbook's);
c. prove — traffic and SAs on both ends for every pair of the wave, a KDC answering through the new policy
   (Kerberos), and a *fresh* WinRM session to every host (a new connection through the new policy, not the
   pool opened before the change). The SAs carrying traffic are not deleted: under Require that drops the
   pair's packets until IKE renegotiates (docs/traffic.md);
d. confirm — before the earliest host deadline, remove the tasks if all of (c) holds; a host whose task had
   already fired makes the wave reverted. Otherwise revert at once where the host answers and let the task
   revert where it does not: after its deadline, poll its last run and result (bounded), then stop further
   waves. Ctrl-C raises PromoteInterrupted with the reverts still armed and their deadlines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.deadman import latest_drills
from ..journal.observations import Observation, latest_observations
from ..journal.store import Journal
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, Kind, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.planner import Change
from ..remote.deadman import Deadline, revert_line
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostTarget, probe_fresh_session
from .apply import execute_changes, read_states
from .proof import check_dependencies, kdc_probes, prove_pairs
from .switch import Switch
from .verify import PairResult
from .wouldbreak import ISOLATION_RULE, Breaking, breaking, stale

Pair = tuple[str, str]
REQUEST_PAIR = ("Request", "Request")
CONFIRM_MARGIN_S = 2.0  # at least this long before the earliest deadline to send the confirm


class PromoteInterrupted(Exception):
    """Ctrl-C during a promotion: the reverts still armed, with their deadlines."""

    def __init__(self, armed: list[Deadline]) -> None:
        super().__init__("interrupted")
        self.armed = armed


@dataclass
class WaveReport:
    number: int
    name: str
    pairs: list[Pair]
    isolated: list[str] = field(default_factory=list)  # hosts whose server-isolation rule changes too
    status: str = "pending"  # confirmed | reverted | failed
    problems: list[str] = field(default_factory=list)
    proofs: list[PairResult] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)  # the reverts armed, as each host reported them
    would_break: list[Breaking] = field(default_factory=list)  # clear-text flows that held a rule back

    @property
    def hosts(self) -> list[str]:
        return sorted({h for p in self.pairs for h in p} | set(self.isolated))

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
    would_break: list[Breaking] = field(default_factory=list)  # rules held back: what they would cut off
    accepted_breaking: list[Breaking] = field(default_factory=list)  # cut off knowingly (--accept-breaking)

    @property
    def ok(self) -> bool:
        return (all(w.status == "confirmed" for w in self.waves) and not self.failed_hosts and not self.refused
                and not self.would_break)

    def to_json(self) -> dict[str, Any]:
        return {"target": {"inbound": self.target[0], "outbound": self.target[1]}, "skipped": self.skipped,
                "waves": [w.to_json() for w in self.waves], "failed_hosts": self.failed_hosts,
                "refused_hosts": self.refused, "would_break": [b.to_json() for b in self.would_break],
                "accepted_breaking": [b.to_json() for b in self.accepted_breaking], "ok": self.ok}


def plan_waves(pairs: list[Pair], playbook: Playbook) -> list[tuple[str, list[Pair]]]:
    """Split eligible pairs into the playbook's waves (the last wave takes whatever is left)."""
    waves: list[tuple[str, list[Pair]]] = []
    left = list(pairs)
    specs = playbook.promote.waves
    for i, spec in enumerate(specs):
        if not left:
            break
        size = spec.pairs if spec.pairs is not None else math.ceil(len(pairs) * (spec.percent or 100) / 100)
        if i == len(specs) - 1:
            size = len(left)
        take, left = left[:max(1, size)], left[max(1, size):]
        waves.append((spec.name, take))
    return waves


def refuse_undrilled(journal: Journal, pairs: list[Pair], report: PromoteReport) -> list[Pair]:
    """Pairs whose hosts all have a successful drill as their latest; the others are skipped and their hosts
    listed with the reason."""
    drills = latest_drills(journal)
    for host in sorted({h for p in pairs for h in p}):
        drill = drills.get(host)
        if drill is None:
            report.refused[host] = "no dead-man's switch drill yet: run 'ipsec-remote doctor --drill'"
        elif not drill.ok:
            report.refused[host] = (f"its last drill ({drill.at}) failed: {drill.detail.get('problem', '?')}; "
                                    "fix it and run 'ipsec-remote doctor --drill'")
    kept = []
    for a, b in pairs:
        bad = [h for h in (a, b) if h in report.refused]
        if bad:
            report.skipped[f"{a}:{b}"] = "no successful drill on " + ", ".join(bad)
        else:
            kept.append((a, b))
    return kept


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
            accept_breaking: list[str] | None = None) -> PromoteReport:
    say = say or (lambda _h, _m: None)
    target = (playbook.promote.inbound, playbook.promote.outbound) if to == "require" else ("Request", "Request")
    report = PromoteReport(target)
    observations = latest_observations(journal)
    if to == "require" and not skip_drill:
        known = _selected(inv, selected)
        if not refuse_undrilled(journal, known, report):
            return report  # nothing is contacted when no pair's hosts were drilled
        selected = [p for p in known if f"{p[0]}:{p[1]}" not in report.skipped]
    if to == "require" and inv.policy.server_isolation:
        known = _selected(inv, selected)
        if not refuse_unobserved(inv, playbook, observations, known, report):
            return report  # nothing is contacted when no pair's hosts were observed recently
        selected = [p for p in known if f"{p[0]}:{p[1]}" not in report.skipped]
    accepted = list(accept_breaking or [])
    run_id = journal.begin_run(f"promote --to {to}")
    fleet = open_fleet(targets, forks)
    switches: list[Switch] = []
    try:
        states = read_states(fleet, inv)
        current = journal.pair_security()
        if to == "require":
            candidates = _candidates(inv, journal, selected, report)
            # Pairs must still verify now, not only when the journal recorded it.
            proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                                 only={frozenset(p) for p in candidates})
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
        proven = {frozenset(p) for p in [*eligible, *done]}
        handled: set[str] = set()  # hosts whose isolation rule a wave took up (or held back)
        stopped = False
        waves = [(name, [p for p in pairs if current.get(p, REQUEST_PAIR) != target])
                 for name, pairs in plan_waves(eligible, playbook)]
        for name, pairs in [w for w in waves if w[1]]:
            wave = WaveReport(len(report.waves) + 1, name, pairs,
                              _isolation_hosts(inv, pairs, done, current, target, to))
            handled |= set(wave.isolated)
            _hold_breaking(inv, wave, observations, proven, accepted, target, report)
            report.waves.append(wave)
            _run_wave(inv, playbook, fleet, targets, journal, run_id, wave, target, confirm_timeout_s, states, say,
                      switches)
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
                report.waves.append(wave)
                _run_wave(inv, playbook, fleet, targets, journal, run_id, wave, target, confirm_timeout_s,
                          states, say, switches)
    except KeyboardInterrupt:
        armed = [d for s in switches for d in s.pending()]
        journal.finish_run(run_id, "interrupted", {"waves": len(report.waves), "armed": len(armed)})
        run_id = 0
        raise PromoteInterrupted(armed) from None
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        if run_id:
            journal.finish_run(run_id, "ok" if report.ok else "failed", {"waves": len(report.waves)})
    return report


def _selected(inv: Inventory, selected: list[Pair] | None) -> list[Pair]:
    known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
    return [known[frozenset(p)] for p in selected] if selected else list(known.values())


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
    for hosts, rule in targets:
        for host in hosts:
            calls.setdefault(host, []).append(CmdletCall("Set-NetIPsecRule", {
                "IPsecRuleName": rule, "InboundSecurity": security[0],
                "OutboundSecurity": security[1], "PolicyStore": inv.policy.store}))
    for host_calls in calls.values():
        validate_plan(host_calls)
    return calls




def _revert_lines(inv: Inventory, wave: WaveReport, previous: Mapping[Pair, tuple[str, str]]) -> dict[str, list[str]]:
    """What each host's revert restores: the security each rule had before this wave."""
    lines: dict[str, list[str]] = {}
    for a, b in wave.pairs:
        inbound, outbound = previous.get((a, b), REQUEST_PAIR)
        for host in (a, b):
            lines.setdefault(host, []).append(
                revert_line(pair_rule_name(inv.policy.group, a, b), inbound, outbound, inv.policy.store))
    for host in wave.isolated:
        inbound, outbound = previous.get((host, ISOLATION), REQUEST_PAIR)
        lines.setdefault(host, []).append(
            revert_line(isolation_rule_name(inv.policy.group), inbound, outbound, inv.policy.store))
    return lines


def _run_wave(inv: Inventory, playbook: Playbook, fleet: Fleet, targets: Mapping[str, HostTarget],
              journal: Journal, run_id: int, wave: WaveReport, target: tuple[str, str], timeout_s: int,
              states: Mapping[str, Any], say: Callable[[str, str], None], switches: list[Switch]) -> None:
    wave_id = journal.record_wave(run_id, wave.number, wave.pairs, "arming")
    hosts = wave.hosts
    lines = _revert_lines(inv, wave, journal.pair_security())
    change = _rule_calls(inv, wave.pairs, wave.isolated, target)

    # a. arm — each host reports its own deadline; the earliest one rules the wave.
    switch = Switch(fleet, targets, journal, run_id, wave_id, say=say)
    switches.append(switch)
    problems = switch.arm(lines, timeout_s)
    if problems:
        wave.status = "failed"
        wave.problems = [f"{h}: {p}" for h, p in sorted(problems.items())]
        for host, outcome in switch.disarm(list(switch.armed)).items():
            switch.record(host, "aborted" if outcome.ok else outcome.status)
        journal.update_wave(wave_id, "aborted")
        return
    earliest = switch.earliest() or time.monotonic()
    wave.deadlines = switch.pending()
    for deadline in wave.deadlines:
        say(deadline.host, f"wave {wave.number}: revert armed, {deadline.describe().split(': ', 1)[1]}")
    journal.update_wave(wave_id, "changing")

    # b. change
    def apply_change(host: str, session: Any) -> int:
        changes = [Change("update", Kind.RULE, str(c.params["IPsecRuleName"]), "promote", (c,))
                   for c in change[host]]
        return execute_changes(journal, run_id, host, session, f"promote-wave-{wave.number}", changes)

    fleet.each(apply_change, hosts)

    # c. prove — the SAs on both ends and traffic, a KDC through the new policy from every host (what the
    # next renegotiation needs), and a fresh management session to every host. The SAs that carry the
    # pair's traffic are kept: deleting them under Require would drop that traffic until IKE renegotiates
    # (negotiation discovery sends in clear meanwhile, and the peer's Require inbound discards it).
    deps = kdc_probes(inv, hosts)
    wave.proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                              only={frozenset(p) for p in wave.pairs}, dependencies=deps)
    unreached = check_dependencies(fleet, deps, [h for h in hosts if not any(h in p for p in wave.pairs)])
    fresh = {h: probe_fresh_session(targets[h]) for h in hosts}
    lowering = target == REQUEST_PAIR  # a demotion is kept even if a pair does not prove: it only loosens
    wave.problems = [] if lowering else [f"{p.a} <-> {p.b}: " + "; ".join(p.problems)
                                         for p in wave.proofs if not p.verified]
    wave.problems += [] if lowering else unreached
    wave.problems += [f"{h}: a new WinRM session through the new policy failed" for h, ok in fresh.items() if not ok]
    wave.problems += [f"{h}: {fleet.failed[h]}" for h in hosts if h in fleet.failed]

    # d. confirm before the earliest deadline, or revert
    margin = max(CONFIRM_MARGIN_S, 2 * switch.round_trip_s)
    if not wave.problems and time.monotonic() + margin >= earliest:
        wave.problems.append("the earliest revert deadline came before the wave could be confirmed")
    if not wave.problems:
        outcomes = switch.disarm(hosts)
        fired = {h: o for h, o in outcomes.items() if not o.ok}
        if not fired:
            for host in hosts:
                switch.record(host, "confirmed")
            for a, b in wave.pairs:
                journal.set_pair_security(a, b, *target)
            for host in wave.isolated:
                journal.set_pair_security(host, ISOLATION, *target)
            wave.status = "confirmed"
            journal.update_wave(wave_id, "confirmed")
            say("fleet", f"wave {wave.number}: confirmed")
            return
        wave.problems += [f"{h}: {o.detail}" for h, o in sorted(fired.items())]
    journal.update_wave(wave_id, "reverting")
    wave.status = "reverted"
    _revert(switch, hosts, fresh, wave, playbook.promote.revert_wait_s)
    journal.update_wave(wave_id, wave.status)


def _revert(switch: Switch, hosts: list[str], fresh: Mapping[str, bool], wave: WaveReport, wait_s: float) -> None:
    """Revert at once through a new session where the host answers; else wait for its own task."""
    waiting = []
    for host in hosts:
        outcome = switch.revert_now(host) if fresh.get(host) else None
        if outcome is None or not outcome.ok:
            if outcome is not None:
                wave.problems.append(f"{host}: {outcome.detail}")
            waiting.append(host)
        elif outcome.status == "reverted-before-confirm" and not any(p.startswith(f"{host}: the revert fired")
                                                                     for p in wave.problems):
            wave.problems.append(f"{host}: {outcome.detail}")
    lost = [h for h in waiting if h not in switch.armed]
    for host in lost:  # disarmed for a confirm that did not happen, and now out of reach
        waiting.remove(host)
        switch.record(host, "revert-failed")
        wave.problems.append(f"{host}: its revert task was already removed and the controller could not restore "
                             "its rules; run 'ipsec-remote rollback' or restore them by hand")
        wave.status = "failed"
    if not waiting:
        return
    switch.say("fleet", f"wave {wave.number}: waiting for the on-host revert of {', '.join(waiting)}")
    for host, outcome in switch.wait_for_tasks(waiting, wait_s).items():
        if not outcome.ok:
            wave.problems.append(f"{host}: {outcome.detail}")
            wave.status = "failed"
