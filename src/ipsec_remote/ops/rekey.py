"""rekey: drop a pair's SAs on both ends and prove the pair again, so it negotiates what the inventory says.

SAs outlive a change of proposals: a main-mode SA lasts 480 minutes by default (windows-behaviour §2/§6),
and Windows documents nothing about SAs being dropped when a crypto set changes. ``apply`` calls this for
pairs whose SAs use proposals the inventory no longer has; ``ipsec-remote rekey`` does it on demand.

At Require, dropping the SAs drops the pair's traffic until new ones are negotiated — and if they cannot
be (a host missed the new crypto set), for good. So those pairs are rekeyed behind the dead-man's switch,
as one wave: arm a revert to Request/Request on their hosts, drop, prove (SAs on both ends and a fresh
WinRM session to each host), then disarm — or revert at once, or let the hosts' task revert.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..journal.store import Journal
from ..model.desired import pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..remote.hoststate import HostState
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostSession, HostTarget, probe_fresh_session, script_text
from .hostview import read_fleet, sync_journal
from .promote import run_fresh_or_none
from .proof import prove_pairs
from .verify import PairResult

Pair = tuple[str, str]
REQUEST_PAIR = ("Request", "Request")
Say = Callable[[str, str], None]


@dataclass
class RekeyOutcome:
    pairs: list[PairResult] = field(default_factory=list)
    reverted: list[Pair] = field(default_factory=list)  # Require pairs put back to Request/Request
    problems: list[str] = field(default_factory=list)


def rekey_pairs(inv: Inventory, playbook: Playbook, fleet: Fleet, targets: Mapping[str, HostTarget],
                journal: Journal, run_id: int, pairs: list[Pair], states: Mapping[str, HostState],
                say: Say) -> RekeyOutcome:
    outcome = RekeyOutcome()
    security = journal.pair_security()
    guarded = [p for p in pairs if security.get(p, REQUEST_PAIR) != REQUEST_PAIR]
    if guarded:
        say("fleet", f"rekey: {len(guarded)} pair(s) at Require: arming the dead-man's switch "
                     f"({playbook.promote.confirm_timeout_s} s)")
    armed = _arm(inv, fleet, journal, run_id, guarded, playbook.promote.confirm_timeout_s)
    deadline_at = time.monotonic() + playbook.promote.confirm_timeout_s
    unarmed = sorted({h for p in guarded for h in p} - set(armed))
    if unarmed:
        # Without the switch on every host concerned, no Require pair is touched.
        _disarm(fleet, journal, armed, "aborted")
        armed = {}
        outcome.problems += [f"{h}: could not arm the dead-man's switch ({fleet.failed.get(h, 'unknown')}); "
                             "its Require pairs were not rekeyed" for h in unarmed]
        pairs = [p for p in pairs if p not in guarded]
        guarded = []

    peers: dict[str, list[str]] = {}
    for a, b in pairs:
        peers.setdefault(a, []).append(inv.host(b).address)
        peers.setdefault(b, []).append(inv.host(a).address)

    def drop(_host: str, session: HostSession) -> Any:
        return session.run("reset_sas", {"Peers": peers.get(_host, [])}, retry=False)

    fleet.each(drop, sorted(peers))
    say("fleet", f"rekey: SAs of {len(pairs)} pair(s) dropped on both ends; proving again")
    outcome.pairs = prove_pairs(inv, fleet, playbook.verify, states, journal, run_id, say,
                                only={frozenset(p) for p in pairs})
    if not guarded:
        return outcome
    # Ctrl-C before confirming: the switch stays armed; if the pairs are fine the hosts merely fall back
    # to Request at the deadline, which the next apply or rekey reports.
    interrupt.checkpoint("confirming the rekey of the Require pairs (their revert stays armed)")
    proven = {(p.a, p.b) for p in outcome.pairs if p.verified}
    fresh = {h: probe_fresh_session(targets[h]) for h in armed}
    failures = [f"{a} <-> {b}: did not prove after the rekey" for a, b in guarded if (a, b) not in proven]
    failures += [f"{h}: a new WinRM session failed after the rekey" for h, ok in fresh.items() if not ok]
    if not failures and time.monotonic() < deadline_at:
        _disarm(fleet, journal, armed, "confirmed")
        return outcome
    outcome.problems += failures
    outcome.problems += _revert(fleet, targets, journal, armed, fresh, deadline_at)
    for a, b in guarded:
        journal.set_pair_security(a, b, *REQUEST_PAIR)
    outcome.reverted = list(guarded)
    say("fleet", f"rekey: {len(guarded)} Require pair(s) reverted to Request/Request")
    return outcome


def _arm(inv: Inventory, fleet: Fleet, journal: Journal, run_id: int, guarded: list[Pair],
         timeout_s: int) -> dict[str, int]:
    lines: dict[str, list[str]] = {}
    for a, b in guarded:
        for host in (a, b):
            lines.setdefault(host, []).append("|".join((pair_rule_name(inv.policy.group, a, b), *REQUEST_PAIR,
                                                        inv.policy.store)))
    armed: dict[str, int] = {}

    def arm(host: str, session: HostSession) -> None:
        out = session.run("arm_revert", {"RevertScript": script_text("revert_task"), "Lines": lines[host],
                                         "DeadlineSeconds": timeout_s}, retry=False)
        first = out.objects[0] if out.objects and isinstance(out.objects[0], dict) else {}
        armed[host] = journal.record_revert(run_id, None, host, "ipsec-remote-revert", str(first.get("Deadline", "")),
                                            "armed")

    fleet.each(arm, sorted(lines))
    return armed


def _disarm(fleet: Fleet, journal: Journal, armed: Mapping[str, int], status: str) -> None:
    def disarm(host: str, session: HostSession) -> None:
        session.run("disarm_revert", {}, retry=False)
        journal.update_revert(armed[host], status)

    fleet.each(disarm, sorted(armed))


def _revert(fleet: Fleet, targets: Mapping[str, HostTarget], journal: Journal, armed: Mapping[str, int],
            fresh: Mapping[str, bool], deadline_at: float) -> list[str]:
    """Revert at once through a new session where the host answers; else wait for its own task."""
    problems: list[str] = []
    waiting = []
    for host in sorted(armed):
        if fresh.get(host) and run_fresh_or_none(targets[host], "revert_task") is not None:
            journal.update_revert(armed[host], "reverted-by-controller")
        else:
            waiting.append(host)
    if waiting:
        time.sleep(max(0.0, deadline_at - time.monotonic()) + 3.0)  # the task fires at the deadline
    for host in waiting:
        check = run_fresh_or_none(targets[host], "check_revert")
        if check is None:
            problems.append(f"{host}: still unreachable after the revert deadline")
            journal.update_revert(armed[host], "unreachable")
        elif check.get("RevertRan"):
            journal.update_revert(armed[host], "reverted-by-task")
        else:
            problems.append(f"{host}: reachable again, but the revert task did not run")
            journal.update_revert(armed[host], "not-run")
    return problems


@dataclass
class RekeyReport:
    run_id: int
    pairs: list[PairResult] = field(default_factory=list)
    security: dict[Pair, tuple[str, str]] = field(default_factory=dict)
    reverted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)
    journal_notes: list[str] = field(default_factory=list)
    interrupted: str | None = None
    armed_reverts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.failed_hosts and not self.interrupted and not self.problems
                and all(p.verified for p in self.pairs))

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id,
                "pairs": [p.to_json(self.security.get((p.a, p.b), REQUEST_PAIR)) for p in self.pairs],
                "reverted": self.reverted, "problems": self.problems, "failed_hosts": self.failed_hosts,
                "journal_notes": self.journal_notes, "interrupted": self.interrupted is not None,
                "armed_reverts": self.armed_reverts, "ok": self.ok}


def rekey(inv: Inventory, playbook: Playbook, targets: Mapping[str, HostTarget], journal: Journal,
          selected: list[Pair] | None, forks: int, say: Say | None = None) -> RekeyReport:
    say = say or (lambda _h, _m: None)
    run_id = journal.begin_run("rekey")
    report = RekeyReport(run_id)
    fleet = open_fleet(targets, forks)
    try:
        states, names = read_fleet(fleet, inv)
        report.journal_notes = sync_journal(inv, states, names, journal)
        known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
        pairs = [known[frozenset(p)] for p in selected] if selected else list(known.values())
        interrupt.checkpoint("rekeying")
        outcome = rekey_pairs(inv, playbook, fleet, targets, journal, run_id, pairs, states, say)
        report.pairs, report.problems = outcome.pairs, outcome.problems
        report.reverted = [f"{a}:{b}" for a, b in outcome.reverted]
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        security = journal.pair_security()
        report.security = {(a, b): security.get((a, b), REQUEST_PAIR) for a, b, _ in inv.expanded_pairs()}
        stopped = report.interrupted is not None or interrupt.requested()
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed",
                           {"pairs": len(report.pairs), "reverted": len(report.reverted)})
        if stopped:
            report.armed_reverts = journal.armed_reverts()
    return report

