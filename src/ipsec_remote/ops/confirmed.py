"""A change behind the dead-man's switch — a confirmed commit, as Junos ``commit confirmed`` or ``netplan try`` —
shared by ``promote`` (one per wave) and ``rekey`` (pairs at Require):

a. arm — on every host concerned, the rules to restore go to a protected folder and a one-time SYSTEM task,
   inline and policy-proof, is registered at now + confirm-timeout; each host reports its own deadline
   (ops/switch.py, remote/deadman.py);
b. change — promote's ``Set-NetIPsecRule``; rekey changes no rule (dropping the SAs is the risky step);
c. prove — traffic and SAs on both ends, and a *fresh* WinRM session to every host (a new connection through
   the new policy, not the pool opened before). How the SAs are proven is the caller's ``prove``:
   promote keeps the SAs that carry the pairs' traffic (``prove_in_place``: under Require, deleting them
   drops the pair's packets until IKE renegotiates — docs/traffic.md) and proves instead that a KDC answers
   through the new policy, which the next renegotiation needs; rekey needs new SAs (new crypto) and drops
   them first (``renew_and_prove``);
d. confirm — before the earliest host deadline, remove the tasks if all of (c) holds; a host whose task had
   already fired makes the change reverted. Otherwise revert at once where the host answers and let the task
   revert where it does not: after its deadline, poll its last run and result (bounded).

Ctrl-C (``interrupt``) is honoured at the step boundaries: before the change the switch is removed again
(nothing changed); once the rules changed, the command stops without confirming and the hosts' tasks put
the rules back at their deadlines. Hosts need a successful ``doctor --drill`` first (``undrilled``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..journal.deadman import latest_drills
from ..journal.store import Journal
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..remote.deadman import Deadline
from ..remote.hoststate import HostState
from ..remote.sessions import Fleet, probe_fresh_sessions
from ..remote.transport import HostSession, HostTarget
from .proof import check_dependencies, host_failure, kdc_probes, prove_pairs
from .switch import Switch
from .verify import PairResult

Pair = tuple[str, str]
Say = Callable[[str, str], None]
CONFIRM_MARGIN_S = 2.0  # at least this long before the earliest deadline to send the confirm


@dataclass
class SwitchedRun:
    """What a command that changes hosts behind the switch works with, and every switch it armed (so a
    Ctrl-C can say which reverts are still armed, with the deadlines the hosts reported)."""

    inv: Inventory
    playbook: Playbook
    fleet: Fleet
    targets: Mapping[str, HostTarget]
    journal: Journal
    run_id: int
    states: Mapping[str, HostState]
    say: Say
    switches: list[Switch] = field(default_factory=list)

    def armed_now(self) -> list[dict[str, Any]]:
        return armed_json(self.switches)


def armed_json(switches: list[Switch]) -> list[dict[str, Any]]:
    """The reverts a run armed and did not disarm: the deadline each host reported, recounted now."""
    return [{"task_name": s.task, **d.to_json(), "text": d.describe()} for s in switches for d in s.pending()]


@dataclass
class Confirmed:
    """What became of one change behind the switch (filled in as it goes, so a Ctrl-C leaves it telling)."""

    wave_id: int = 0
    status: str = "pending"  # confirmed | reverted | failed | aborted | interrupted (changed, not confirmed)
    problems: list[str] = field(default_factory=list)
    proofs: list[PairResult] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)  # the reverts armed, as each host reported them


def undrilled(journal: Journal, hosts: list[str]) -> dict[str, str]:
    """Hosts whose latest dead-man's switch drill is missing or failed, with the reason (one line each)."""
    drills = latest_drills(journal)
    out: dict[str, str] = {}
    for host in sorted(set(hosts)):
        drill = drills.get(host)
        if drill is None:
            out[host] = "no dead-man's switch drill yet: run 'ipsec-remote doctor --drill'"
        elif not drill.ok:
            out[host] = (f"its last drill ({drill.at}) failed: {drill.detail.get('problem', '?')}; "
                         "fix it and run 'ipsec-remote doctor --drill'")
    return out


def reset_and_prove(run: SwitchedRun, pairs: list[Pair]) -> list[PairResult]:
    """Drop the pairs' SAs on both ends (QM first, reset_sas.ps1), then prove them with SAs negotiated now."""
    peers: dict[str, list[str]] = {}
    for a, b in pairs:
        peers.setdefault(a, []).append(run.inv.host(b).address)
        peers.setdefault(b, []).append(run.inv.host(a).address)

    def drop(host: str, session: HostSession) -> Any:
        return session.run("reset_sas", {"Peers": peers.get(host, [])}, retry=False)

    run.fleet.each(drop, sorted(peers))
    return prove_pairs(run.inv, run.fleet, run.playbook.verify, run.states, run.journal, run.run_id, run.say,
                       only={frozenset(p) for p in pairs})


def prove_in_place(run: SwitchedRun, pairs: list[Pair], hosts: list[str]) -> tuple[list[PairResult], list[str]]:
    """Prove ``pairs`` with the SAs they have (traffic, then SAs on both ends, none deleted), and from every
    host of ``hosts`` a KDC through the new policy (Kerberos): SAs negotiated before the change keep
    carrying traffic, so what must hold is the next renegotiation's dependency (proof.kdc_probes).
    Returns the proofs and the problems of hosts outside any pair (an isolation rule alone)."""
    deps = kdc_probes(run.inv, hosts)
    proofs = prove_pairs(run.inv, run.fleet, run.playbook.verify, run.states, run.journal, run.run_id, run.say,
                         only={frozenset(p) for p in pairs}, dependencies=deps)
    alone = [h for h in hosts if not any(h in p for p in pairs)]
    return proofs, check_dependencies(run.fleet, deps, alone)


def renew_and_prove(run: SwitchedRun, pairs: list[Pair], hosts: list[str]) -> tuple[list[PairResult], list[str]]:
    """``reset_and_prove``: the pairs' SAs dropped and negotiated again (what a rekey is for)."""
    return reset_and_prove(run, pairs), []


Prover = Callable[[SwitchedRun, list[Pair], list[str]], tuple[list[PairResult], list[str]]]


def behind_switch(run: SwitchedRun, result: Confirmed, number: int, what: str, pairs: list[Pair],
                  lines: Mapping[str, list[str]], timeout_s: int,
                  change: Callable[[list[str]], list[str] | None] | None = None,
                  lowering: bool = False, *, prove: Prover,
                  undo: Callable[[], list[str]] | None = None) -> Confirmed:
    """Arm on every host of ``lines`` (what each host's revert restores), ``change``, prove ``pairs`` (with
    ``prove``: ``prove_in_place`` or ``renew_and_prove``), then confirm or revert; ``result`` says how far it
    got (also when a Ctrl-C stops it). Journalled as wave ``number`` of the run. ``lowering``: a change that
    only loosens (a demotion) is kept even if a pair does not prove — only the management path must hold.
    ``change`` may return problems (a GPO edit that failed): they stop the confirm like a failed proof.
    ``undo`` runs before the hosts' reverts when the change is not confirmed (GPO mode: the controller
    reverts its GPO edit first, so the hosts' computer-policy refresh brings the old policy back); the
    problems it returns make the wave failed."""
    journal = run.journal
    result.wave_id = journal.record_wave(run.run_id, number, pairs, "arming")
    hosts = sorted(lines)

    # a. arm — each host reports its own deadline; the earliest one rules.
    interrupt.checkpoint(f"arming {what}")
    switch = Switch(run.fleet, run.targets, journal, run.run_id, result.wave_id, say=run.say)
    run.switches.append(switch)
    problems = switch.arm(lines, timeout_s)
    if problems:
        stopping = interrupt.requested()  # a Ctrl-C left hosts unarmed: nothing failed, the run stops
        _abort(switch, result, "aborted" if stopping else "failed")
        result.problems = [f"{h}: {p}" for h, p in sorted(problems.items())]
        interrupt.checkpoint(f"changing the rules of {what}")
        return result
    earliest = switch.earliest() or time.monotonic()
    result.deadlines = switch.pending()
    for deadline in result.deadlines:
        run.say(deadline.host, f"{what}: revert armed, {deadline.describe().split(': ', 1)[1]}")

    # b. change (Ctrl-C before it: nothing changed yet, so the switch is removed again)
    if interrupt.requested():
        _abort(switch, result, "aborted")
        interrupt.checkpoint(f"changing the rules of {what}")
    journal.update_wave(result.wave_id, "changing")
    changed = change(hosts) if change is not None else None
    _stop_armed(journal, result, what, "proving")

    # c. prove — under the new policy (``prove``: keep or renew the SAs); and a fresh management session to
    # every host.
    result.proofs, unreached = prove(run, pairs, hosts)
    fresh = probe_fresh_sessions(run.targets, hosts, run.fleet.forks)
    result.problems = [] if lowering else [f"{p.a} <-> {p.b}: " + "; ".join(p.problems)
                                           for p in result.proofs if not p.verified] + unreached
    result.problems += [f"{h}: a new WinRM session through the new policy failed" for h, ok in fresh.items()
                        if not ok]
    result.problems += [host_failure(h, run.fleet.failed[h]) for h in hosts if h in run.fleet.failed]
    result.problems += list(changed or [])
    _stop_armed(journal, result, what, "confirming")

    # d. confirm before the earliest deadline, or revert
    margin = max(CONFIRM_MARGIN_S, 2 * switch.round_trip_s)
    if not result.problems and time.monotonic() + margin >= earliest:
        result.problems.append("the earliest revert deadline came before the change could be confirmed")
    if not result.problems:
        outcomes = switch.disarm(hosts)
        fired = {h: o for h, o in outcomes.items() if not o.ok}
        if not fired:
            for host in hosts:
                switch.record(host, "confirmed")
            result.status = "confirmed"
            journal.update_wave(result.wave_id, "confirmed")
            run.say("fleet", f"{what}: confirmed")
            return result
        result.problems += [f"{h}: {o.detail}" for h, o in sorted(fired.items())]
    journal.update_wave(result.wave_id, "reverting")
    result.status = "reverted"
    undone = undo() if undo is not None else []
    _revert(switch, hosts, fresh, result, what, run.playbook.promote.revert_wait_s)
    if undone:
        result.problems += undone
        result.status = "failed"
    journal.update_wave(result.wave_id, result.status)
    return result


def _abort(switch: Switch, result: Confirmed, status: str) -> None:
    """Nothing was changed: remove the tasks armed so far."""
    for host, outcome in switch.disarm(list(switch.armed)).items():
        switch.record(host, "aborted" if outcome.ok else outcome.status)
    result.status = status
    switch.journal.update_wave(result.wave_id, "aborted")


def _stop_armed(journal: Journal, result: Confirmed, what: str, step: str) -> None:
    """Ctrl-C once the rules changed: stop without confirming, so the armed switch reverts at its deadline."""
    if interrupt.requested():
        result.status = "interrupted (changed, not confirmed)"
        journal.update_wave(result.wave_id, "interrupted")
        interrupt.checkpoint(f"{step} {what} (its revert stays armed and fires at the deadline)")


def _revert(switch: Switch, hosts: list[str], fresh: Mapping[str, bool], result: Confirmed, what: str,
            wait_s: float) -> None:
    """Revert at once through a new session where the host answers; else wait for its own task."""
    waiting = []
    for host in hosts:
        outcome = switch.revert_now(host) if fresh.get(host) else None
        if outcome is None or not outcome.ok:
            if outcome is not None:
                result.problems.append(f"{host}: {outcome.detail}")
            waiting.append(host)
        elif outcome.status == "reverted-before-confirm" and not any(p.startswith(f"{host}: the revert fired")
                                                                     for p in result.problems):
            result.problems.append(f"{host}: {outcome.detail}")
    lost = [h for h in waiting if h not in switch.armed]
    for host in lost:  # disarmed for a confirm that did not happen, and now out of reach
        waiting.remove(host)
        switch.record(host, "revert-failed")
        result.problems.append(f"{host}: its revert task was already removed and the controller could not "
                               "restore its rules; run 'ipsec-remote rollback' or restore them by hand")
        result.status = "failed"
    if not waiting:
        return
    switch.say("fleet", f"{what}: waiting for the on-host revert of {', '.join(waiting)}")
    for host, outcome in switch.wait_for_tasks(waiting, wait_s).items():
        if not outcome.ok:
            result.problems.append(f"{host}: {outcome.detail}")
            result.status = "failed"
