"""rekey: drop a pair's SAs on both ends and prove the pair again, so it negotiates what the inventory says.

SAs outlive a change of proposals: a main-mode SA lasts 480 minutes by default (windows-behaviour §2/§6),
and Windows documents nothing about SAs being dropped when a crypto set changes. ``apply`` calls this for
pairs whose SAs use proposals the inventory no longer has; ``ipsec-remote rekey`` does it on demand.

At Require, dropping the SAs drops the pair's traffic until new ones are negotiated — and if they cannot
be (a host missed the new crypto set), for good. So those pairs are rekeyed behind the dead-man's switch
exactly as a promotion wave is (ops/confirmed.py), with a revert to Request/Request, and only on hosts with
a successful ``doctor --drill`` (``rekey --skip-drill`` overrides; ``apply`` never does). Pairs at Request
need no switch: if they do not negotiate again, they fall back to clear text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..journal.store import Journal
from ..model.desired import pair_rule_name
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..remote.deadman import revert_line
from ..remote.sessions import open_fleet
from ..remote.transport import HostTarget
from .confirmed import Confirmed, SwitchedRun, behind_switch, renew_and_prove, reset_and_prove, undrilled
from .hostview import read_fleet, sync_journal
from .verify import PairResult

Pair = tuple[str, str]
REQUEST_PAIR = ("Request", "Request")
Say = Callable[[str, str], None]


@dataclass
class RekeyOutcome:
    pairs: list[PairResult] = field(default_factory=list)
    reverted: list[Pair] = field(default_factory=list)  # Require pairs put back to Request/Request
    problems: list[str] = field(default_factory=list)


def rekey_pairs(run: SwitchedRun, pairs: list[Pair], skip_drill: bool = False) -> RekeyOutcome:
    outcome = RekeyOutcome()
    security = run.journal.pair_security()
    guarded = [p for p in pairs if security.get(p, REQUEST_PAIR) != REQUEST_PAIR]
    plain = [p for p in pairs if p not in guarded]
    if guarded and not skip_drill:
        refused = undrilled(run.journal, [h for p in guarded for h in p])
        for a, b in [p for p in guarded if any(h in refused for h in p)]:
            outcome.problems += [f"{a}:{b} at Require was not rekeyed: {h}: {refused[h]} (or rekey --skip-drill)"
                                 for h in (a, b) if h in refused]
        guarded = [p for p in guarded if not any(h in refused for h in p)]
    if plain:
        outcome.pairs += reset_and_prove(run, plain)
        run.say("fleet", f"rekey: SAs of {len(plain)} pair(s) at Request dropped on both ends and proven again")
    if not guarded:
        return outcome
    interrupt.checkpoint("rekeying the pairs at Require")
    timeout_s = run.playbook.promote.confirm_timeout_s
    run.say("fleet", f"rekey: {len(guarded)} pair(s) at Require: behind the dead-man's switch ({timeout_s} s)")
    lines: dict[str, list[str]] = {}
    for a, b in guarded:
        for host in (a, b):
            lines.setdefault(host, []).append(
                revert_line(pair_rule_name(run.inv.policy.group, a, b), *REQUEST_PAIR, run.inv.policy.store))
    switched = Confirmed()
    try:
        # Unlike a promotion (which keeps the SAs: ops/confirmed.prove_in_place), a rekey exists to get new
        # SAs, and Windows documents no way to make IKE replace a live SA early but deleting it. So a pair at
        # Require loses the packets sent between the deletion (reset_sas.ps1, quick mode first) and the new
        # quick-mode SA: the first packet starts IKE, the peer's Require inbound discards what the sender's
        # negotiation discovery sends in clear meanwhile (windows-behaviour.md §3). It cannot be avoided
        # without lowering the pair to Request for the moment — clear text instead of a drop, which a rekey
        # for stronger crypto must not trade for. The loss lasts one IKE exchange: measured in the lab (member
        # traffic every 100 ms, 300 ms negotiation, one Required pair) 8 packets per rekey, against 0 for
        # promote, status and rollback.
        behind_switch(run, switched, 1, "rekey", guarded, lines, timeout_s, prove=renew_and_prove)
    finally:
        outcome.pairs += switched.proofs
        outcome.problems += switched.problems
    if switched.status == "reverted":
        # Reverted by the controller or by the hosts' tasks: the pairs are back at Request/Request. (A revert
        # that failed leaves the journal as it was: the next run reads what the hosts carry.)
        for a, b in guarded:
            run.journal.set_pair_security(a, b, *REQUEST_PAIR)
        outcome.reverted = list(guarded)
        run.say("fleet", f"rekey: {len(guarded)} Require pair(s) reverted to Request/Request")
    return outcome


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
          selected: list[Pair] | None, forks: int, say: Say | None = None, skip_drill: bool = False) -> RekeyReport:
    say = say or (lambda _h, _m: None)
    run_id = journal.begin_run("rekey")
    report = RekeyReport(run_id)
    fleet = open_fleet(targets, forks)
    run: SwitchedRun | None = None
    try:
        states, names = read_fleet(fleet, inv)
        run = SwitchedRun(inv, playbook, fleet, targets, journal, run_id, states, say)
        report.journal_notes = sync_journal(inv, states, names, journal)
        known = {frozenset((a, b)): (a, b) for a, b, _ in inv.expanded_pairs()}
        pairs = [known[frozenset(p)] for p in selected] if selected else list(known.values())
        interrupt.checkpoint("rekeying")
        outcome = rekey_pairs(run, pairs, skip_drill)
        report.pairs, report.problems = outcome.pairs, outcome.problems
        report.reverted = [f"{a}:{b}" for a, b in outcome.reverted]
    except interrupt.Interrupted as exc:
        report.interrupted = str(exc)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, wherever it was
        report.interrupted = "stopped at once by Ctrl-C"
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        security = journal.pair_security()
        report.security = {(a, b): security.get((a, b), REQUEST_PAIR) for a, b, _ in inv.expanded_pairs()}
        stopped = report.interrupted is not None or interrupt.requested()
        if stopped:
            report.interrupted = report.interrupted or "stopped by Ctrl-C"
            report.armed_reverts = run.armed_now() if run is not None else []
        journal.finish_run(run_id, "interrupted" if stopped else "ok" if report.ok else "failed",
                           {"pairs": len(report.pairs), "reverted": len(report.reverted)})
    return report
