"""promote: switch proven pairs to Require (or back to Request) in waves, each behind a dead-man's switch.

Per wave (a confirmed commit, as Junos ``commit confirmed`` or ``netplan try``):

a. arm — on every host of the wave, write the revert script and the settings to restore, and register a
   one-time SYSTEM task at now + confirm-timeout that restores them;
b. change — ``Set-NetIPsecRule -InboundSecurity Require -OutboundSecurity Request`` (or the playbook's);
c. prove — traffic and SAs on both ends for every pair of the wave, and a *fresh* WinRM session to
   every host (a new connection through the new policy, not the pool opened before the change);
d. confirm — remove the task only if all of (c) holds; otherwise revert at once where the host answers,
   let the task revert where it does not, wait past the deadline, check the revert ran and the host is
   reachable again, and stop further waves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..errors import IpsecRemoteError
from ..journal.store import Journal, now_iso
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, Kind, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..model.reference import validate_plan
from ..plan.planner import Change
from ..remote.names import promotion_mark
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostSession, HostTarget, RetryPolicy, probe_fresh_session, script_text
from .apply import StepFailed, execute_changes
from .hostview import read_fleet, sync_journal
from .proof import prove_pairs
from .verify import PairResult

Pair = tuple[str, str]
REQUEST_PAIR = ("Request", "Request")


@dataclass
class WaveReport:
    number: int
    name: str
    pairs: list[Pair]
    isolated: list[str] = field(default_factory=list)  # hosts whose server-isolation rule changes too
    status: str = "pending"  # confirmed | reverted | failed
    problems: list[str] = field(default_factory=list)
    proofs: list[PairResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "pairs": [f"{a}:{b}" for a, b in self.pairs],
                "isolation_hosts": self.isolated, "status": self.status, "problems": self.problems,
                "proofs": [{"a": p.a, "b": p.b, "verified": p.verified, "problems": p.problems}
                           for p in self.proofs]}


@dataclass
class PromoteReport:
    target: tuple[str, str]
    skipped: dict[str, str] = field(default_factory=dict)  # "a:b" -> why not eligible
    waves: list[WaveReport] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)
    run_id: int = 0
    nothing_eligible: str | None = None  # why no pair could be promoted (exit 1)
    journal_notes: list[str] = field(default_factory=list)
    interrupted: str | None = None
    armed_reverts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (all(w.status == "confirmed" for w in self.waves) and not self.failed_hosts
                and self.nothing_eligible is None and self.interrupted is None)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "target": {"inbound": self.target[0], "outbound": self.target[1]},
                "skipped": self.skipped, "nothing_eligible": self.nothing_eligible,
                "waves": [w.to_json() for w in self.waves], "failed_hosts": self.failed_hosts,
                "journal_notes": self.journal_notes, "interrupted": self.interrupted is not None,
                "armed_reverts": self.armed_reverts, "ok": self.ok}


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


def promote(inv: Inventory, playbook: Playbook, targets: Mapping[str, HostTarget], journal: Journal,
            to: str, selected: list[Pair] | None, confirm_timeout_s: int, forks: int,
            say: Callable[[str, str], None] | None = None) -> PromoteReport:
    say = say or (lambda _h, _m: None)
    target = (playbook.promote.inbound, playbook.promote.outbound) if to == "require" else ("Request", "Request")
    run_id = journal.begin_run(f"promote --to {to}")
    report = PromoteReport(target, run_id=run_id)
    fleet = open_fleet(targets, forks)
    try:
        states, names = read_fleet(fleet, inv)
        report.journal_notes = sync_journal(inv, states, names, journal)
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
        if not [p for p in eligible if current.get(p, REQUEST_PAIR) != target] and report.skipped:
            report.nothing_eligible = (f"no pair is eligible for {target[0]}/{target[1]}: "
                                       + "; ".join(f"{p}: {why}" for p, why in sorted(report.skipped.items())))
        for number, (name, pairs) in enumerate(plan_waves(eligible, playbook), start=1):
            pairs = [p for p in pairs if current.get(p, REQUEST_PAIR) != target]
            if not pairs:
                continue
            interrupt.checkpoint(f"wave {number} ({name})")
            wave = WaveReport(number, name, pairs, _isolation_hosts(inv, pairs, done, current, target, to))
            report.waves.append(wave)
            _run_wave(inv, playbook, fleet, targets, journal, run_id, wave, target, confirm_timeout_s, states, say)
            if wave.status == "confirmed":
                done |= set(pairs)
            failed_pairs = sum(1 for p in wave.proofs if not p.verified)
            if wave.status != "confirmed" and (playbook.failure.stop_on_failed_wave
                                               or failed_pairs > playbook.failure.max_failed_pairs_per_wave):
                break
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        stopped = report.interrupted is not None or interrupt.requested()
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed",
                           {"waves": len(report.waves)})
        if stopped:
            report.armed_reverts = journal.armed_reverts()
    return report


def _selected(inv: Inventory, selected: list[Pair] | None) -> list[Pair]:
    known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
    return [known[frozenset(p)] for p in selected] if selected else list(known.values())


def _candidates(inv: Inventory, journal: Journal, selected: list[Pair] | None, report: PromoteReport) -> list[Pair]:
    out = []
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


def _run_wave(inv: Inventory, playbook: Playbook, fleet: Fleet, targets: Mapping[str, HostTarget],
              journal: Journal, run_id: int, wave: WaveReport, target: tuple[str, str], timeout_s: int,
              states: Mapping[str, Any], say: Callable[[str, str], None]) -> None:
    wave_id = journal.record_wave(run_id, wave.number, wave.pairs, "arming")
    hosts = sorted({h for p in wave.pairs for h in p})
    previous = journal.pair_security()
    revert_lines: dict[str, list[str]] = {}
    for a, b in wave.pairs:
        inbound, outbound = previous.get((a, b), ("Request", "Request"))
        for host in (a, b):
            revert_lines.setdefault(host, []).append(
                "|".join((pair_rule_name(inv.policy.group, a, b), inbound, outbound, inv.policy.store)))
    for host in wave.isolated:
        inbound, outbound = previous.get((host, ISOLATION), ("Request", "Request"))
        revert_lines[host].append("|".join((isolation_rule_name(inv.policy.group), inbound, outbound,
                                            inv.policy.store)))
    change = _rule_calls(inv, wave.pairs, wave.isolated, target)
    revert_script = script_text("revert_task")

    # a. arm
    armed: dict[str, int] = {}

    def arm(host: str, session: Any) -> str:
        out = session.run("arm_revert", {"RevertScript": revert_script, "Lines": revert_lines[host],
                                         "DeadlineSeconds": timeout_s}, retry=False)
        deadline = str(out.objects[0].get("Deadline")) if out.objects and isinstance(out.objects[0], dict) else ""
        armed[host] = journal.record_revert(run_id, wave_id, host, "ipsec-remote-revert", deadline, "armed")
        return deadline

    interrupt.checkpoint(f"arming wave {wave.number}")
    fleet.each(arm, hosts)
    if any(h not in armed for h in hosts):
        wave.status = "failed"
        wave.problems = [f"{h}: could not arm the revert ({fleet.failed.get(h, 'unknown')})" for h in hosts
                         if h not in armed]
        _disarm(fleet, journal, armed, "aborted")
        journal.update_wave(wave_id, "aborted")
        return
    deadline_at = time.monotonic() + timeout_s
    say("fleet", f"wave {wave.number} ({wave.name}): armed on {len(hosts)} host(s), deadline {timeout_s} s")

    # b. change (Ctrl-C before it: nothing changed yet, so the switch is removed again)
    if interrupt.requested():
        _disarm(fleet, journal, armed, "aborted")
        wave.status = "aborted"
        journal.update_wave(wave_id, "aborted")
        interrupt.checkpoint(f"changing the rules of wave {wave.number}")
    journal.update_wave(wave_id, "changing")

    def apply_change(host: str, session: Any) -> int:
        changes = [Change("update", Kind.RULE, str(c.params["IPsecRuleName"]), "promote", (c,))
                   for c in change[host]]
        return execute_changes(journal, run_id, host, session, f"promote-wave-{wave.number}", changes)

    fleet.each(apply_change, hosts)
    _stop_armed(journal, wave, wave_id, "proving")

    # c. prove — under the new policy: SAs negotiated before the change are dropped first.
    peers: dict[str, list[str]] = {}
    for a, b in wave.pairs:
        peers.setdefault(a, []).append(inv.host(b).address)
        peers.setdefault(b, []).append(inv.host(a).address)
    fleet.each(lambda host, session: session.run("reset_sas", {"Peers": peers.get(host, [])}, retry=False), hosts)
    # ... then SAs on both ends, and a fresh management session to every host.
    wave.proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                              only={frozenset(p) for p in wave.pairs})
    fresh = {h: probe_fresh_session(targets[h]) for h in hosts}
    lowering = target == REQUEST_PAIR  # a demotion is kept even if a pair does not prove: it only loosens
    wave.problems = [] if lowering else [f"{p.a} <-> {p.b}: " + "; ".join(p.problems)
                                         for p in wave.proofs if not p.verified]
    wave.problems += [f"{h}: a new WinRM session through the new policy failed" for h, ok in fresh.items() if not ok]
    wave.problems += [f"{h}: {fleet.failed[h]}" for h in hosts if h in fleet.failed]

    _stop_armed(journal, wave, wave_id, "confirming")

    # d. confirm or revert
    if not wave.problems and time.monotonic() < deadline_at:
        _disarm(fleet, journal, armed, "confirmed")
        for a, b in wave.pairs:
            journal.set_pair_security(a, b, *target)
        for host in wave.isolated:
            journal.set_pair_security(host, ISOLATION, *target)
        wave.status = "confirmed"
        journal.update_wave(wave_id, "confirmed")
        say("fleet", f"wave {wave.number}: confirmed")
        return
    journal.update_wave(wave_id, "reverting")
    wave.status = "reverted"
    _revert(fleet, targets, journal, armed, hosts, fresh, deadline_at, wave)
    journal.update_wave(wave_id, wave.status)


def _stop_armed(journal: Journal, wave: WaveReport, wave_id: int, step: str) -> None:
    """Ctrl-C once the rules changed: stop without confirming, so the armed switch reverts at its deadline."""
    if interrupt.requested():
        wave.status = "interrupted (changed, not confirmed)"
        journal.update_wave(wave_id, "interrupted")
        interrupt.checkpoint(f"{step} wave {wave.number} (its revert stays armed and fires at the deadline)")


def _disarm(fleet: Fleet, journal: Journal, armed: Mapping[str, int], status: str) -> None:
    def disarm(host: str, session: Any) -> None:
        session.run("disarm_revert", {}, retry=False)
        journal.update_revert(armed[host], status)

    fleet.each(disarm, list(armed))


def _revert(fleet: Fleet, targets: Mapping[str, HostTarget], journal: Journal, armed: Mapping[str, int],
            hosts: list[str], fresh: Mapping[str, bool], deadline_at: float, wave: WaveReport) -> None:
    """Revert at once through a new session where the host answers; else wait for its own task."""
    waiting = []
    for host in hosts:
        if fresh.get(host):
            try:
                run_fresh(targets[host], "revert_task")
                journal.update_revert(armed[host], "reverted-by-controller")
                continue
            except StepFailed:
                pass
        waiting.append(host)
    if waiting:
        time.sleep(max(0.0, deadline_at - time.monotonic()) + 3.0)  # the task fires at the deadline
    for host in waiting:
        check = run_fresh_or_none(targets[host], "check_revert")
        if check is None:
            wave.problems.append(f"{host}: still unreachable after the revert deadline")
            journal.update_revert(armed[host], "unreachable")
            wave.status = "failed"
        elif check.get("RevertRan"):
            journal.update_revert(armed[host], "reverted-by-task")
        else:
            wave.problems.append(f"{host}: reachable again, but the revert task did not run")
            journal.update_revert(armed[host], "not-run")
            wave.status = "failed"


def run_fresh(target: HostTarget, script: str) -> dict[str, Any]:
    """Run a script over a brand-new connection (the old pool may be riding a connection made before)."""
    try:
        with HostSession(target, RetryPolicy(attempts=2, budget_s=10)) as session:
            out = session.run(script, {}, retry=False)
    except IpsecRemoteError as exc:
        raise StepFailed(str(exc)) from None
    first = out.objects[0] if out.objects else {}
    return first if isinstance(first, dict) else {}


def run_fresh_or_none(target: HostTarget, script: str) -> dict[str, Any] | None:
    try:
        return run_fresh(target, script)
    except StepFailed:
        return None
