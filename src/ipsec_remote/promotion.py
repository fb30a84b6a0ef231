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

from .calls import CmdletCall
from .desired import Kind, pair_rule_name
from .errors import IpsecRemoteError
from .inventory import Inventory
from .journal import Journal
from .planner import Change
from .playbook import Playbook
from .proof import prove_pairs
from .reference import validate_plan
from .rollout import StepFailed, execute_changes, read_states
from .sessions import Fleet, open_fleet
from .transport import HostSession, HostTarget, RetryPolicy, probe_fresh_session, script_text
from .verify import PairResult

Pair = tuple[str, str]


@dataclass
class WaveReport:
    number: int
    name: str
    pairs: list[Pair]
    status: str = "pending"  # confirmed | reverted | failed
    problems: list[str] = field(default_factory=list)
    proofs: list[PairResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "pairs": [f"{a}:{b}" for a, b in self.pairs],
                "status": self.status, "problems": self.problems,
                "proofs": [{"a": p.a, "b": p.b, "verified": p.verified, "problems": p.problems}
                           for p in self.proofs]}


@dataclass
class PromoteReport:
    target: tuple[str, str]
    skipped: dict[str, str] = field(default_factory=dict)  # "a:b" -> why not eligible
    waves: list[WaveReport] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(w.status == "confirmed" for w in self.waves) and not self.failed_hosts

    def to_json(self) -> dict[str, Any]:
        return {"target": {"inbound": self.target[0], "outbound": self.target[1]}, "skipped": self.skipped,
                "waves": [w.to_json() for w in self.waves], "failed_hosts": self.failed_hosts, "ok": self.ok}


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
    report = PromoteReport(target)
    run_id = journal.begin_run(f"promote --to {to}")
    fleet = open_fleet(targets, forks)
    try:
        candidates = _candidates(inv, journal, selected, report)
        states = read_states(fleet, inv)
        # Pairs must still verify now, not only when the journal recorded it.
        proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                             only={frozenset(p) for p in candidates})
        eligible = []
        for proof in proofs:
            if proof.verified:
                eligible.append((proof.a, proof.b))
            else:
                report.skipped[f"{proof.a}:{proof.b}"] = "does not verify now: " + "; ".join(proof.problems)
        current = journal.pair_security()
        for number, (name, pairs) in enumerate(plan_waves(eligible, playbook), start=1):
            pairs = [p for p in pairs if current.get(p) != target]
            if not pairs:
                continue
            wave = WaveReport(number, name, pairs)
            report.waves.append(wave)
            _run_wave(inv, playbook, fleet, targets, journal, run_id, wave, target, confirm_timeout_s, states, say)
            failed_pairs = sum(1 for p in wave.proofs if not p.verified)
            if wave.status != "confirmed" and (playbook.failure.stop_on_failed_wave
                                               or failed_pairs > playbook.failure.max_failed_pairs_per_wave):
                break
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed", {"waves": len(report.waves)})
    return report


def _candidates(inv: Inventory, journal: Journal, selected: list[Pair] | None, report: PromoteReport) -> list[Pair]:
    known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
    wanted = [known[frozenset(p)] for p in selected] if selected else list(known.values())
    out = []
    for a, b in wanted:
        record = journal.latest_verification(a, b)
        if record is None or not record.verified:
            report.skipped[f"{a}:{b}"] = "not verified by apply yet"
        else:
            out.append((a, b))
    return out


def _rule_calls(inv: Inventory, pairs: list[Pair], security: tuple[str, str]) -> dict[str, list[CmdletCall]]:
    calls: dict[str, list[CmdletCall]] = {}
    for a, b in pairs:
        for host in (a, b):
            calls.setdefault(host, []).append(CmdletCall("Set-NetIPsecRule", {
                "IPsecRuleName": pair_rule_name(inv.policy.group, a, b), "InboundSecurity": security[0],
                "OutboundSecurity": security[1], "PolicyStore": inv.policy.store}))
    for host_calls in calls.values():
        validate_plan(host_calls)
    return calls


def _run_wave(inv: Inventory, playbook: Playbook, fleet: Fleet, targets: Mapping[str, HostTarget],
              journal: Journal, run_id: int, wave: WaveReport, target: tuple[str, str], timeout_s: int,
              states: Mapping[str, Any], say: Callable[[str, str], None]) -> None:
    wave_id = journal.record_wave(run_id, wave.number, wave.pairs, "arming")
    hosts = sorted({h for p in wave.pairs for h in p})
    previous = journal.pair_security()
    before = {p: previous.get(p, ("Request", "Request")) for p in wave.pairs}
    revert_lines: dict[str, list[str]] = {}
    for (a, b), (inbound, outbound) in before.items():
        for host in (a, b):
            revert_lines.setdefault(host, []).append(
                "|".join((pair_rule_name(inv.policy.group, a, b), inbound, outbound, inv.policy.store)))
    change = _rule_calls(inv, wave.pairs, target)
    revert_script = script_text("revert_task")

    # a. arm
    armed: dict[str, int] = {}

    def arm(host: str, session: Any) -> str:
        out = session.run("arm_revert", {"RevertScript": revert_script, "Lines": revert_lines[host],
                                         "DeadlineSeconds": timeout_s}, retry=False)
        deadline = str(out.objects[0].get("Deadline")) if out.objects and isinstance(out.objects[0], dict) else ""
        armed[host] = journal.record_revert(run_id, wave_id, host, "ipsec-remote-revert", deadline, "armed")
        return deadline

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

    # b. change
    journal.update_wave(wave_id, "changing")

    def apply_change(host: str, session: Any) -> int:
        changes = [Change("update", Kind.RULE, str(c.params["IPsecRuleName"]), "promote", (c,))
                   for c in change[host]]
        return execute_changes(journal, run_id, host, session, f"promote-wave-{wave.number}", changes)

    fleet.each(apply_change, hosts)

    # c. prove: SAs on both ends under the new policy, and a fresh management session to every host.
    wave.proofs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                              only={frozenset(p) for p in wave.pairs})
    fresh = {h: probe_fresh_session(targets[h]) for h in hosts}
    wave.problems = [f"{p.a} <-> {p.b}: " + "; ".join(p.problems) for p in wave.proofs if not p.verified]
    wave.problems += [f"{h}: a new WinRM session through the new policy failed" for h, ok in fresh.items() if not ok]
    wave.problems += [f"{h}: {fleet.failed[h]}" for h in hosts if h in fleet.failed]

    # d. confirm or revert
    if not wave.problems and time.monotonic() < deadline_at:
        _disarm(fleet, journal, armed, "confirmed")
        for a, b in wave.pairs:
            journal.set_pair_security(a, b, *target)
        wave.status = "confirmed"
        journal.update_wave(wave_id, "confirmed")
        say("fleet", f"wave {wave.number}: confirmed")
        return
    journal.update_wave(wave_id, "reverting")
    wave.status = "reverted"
    _revert(fleet, targets, journal, armed, hosts, fresh, deadline_at, wave)
    journal.update_wave(wave_id, wave.status)


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
