"""Proof that pairs negotiate: traffic between the two hosts, then SAs read on both ends.

Each round runs one ``verify.ps1`` pipeline per host (probe every peer, then read that host's SAs), so a
round costs two requests per host whatever the number of peers. Rounds repeat with the playbook's poll
interval until every pair is proven or its timeout passes; unproven pairs get a diagnosis from the hosts'
state and IPsec audit events.

The timeout is each pair's own (the playbook: "per pair"), counted from its first probe: the first round's
pipeline on the earlier of its two hosts. On a large fleet that round alone can outlast the timeout (10,000
hosts at 200 forks), and a window counted from the phase's start would leave the pairs probed late in it one
look and no second round, failing them for the fleet's size rather than for anything about the pair.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import interrupt
from ..errors import IpsecRemoteError
from ..events import Event
from ..journal.store import Journal
from ..model.gpo import is_gpo_store
from ..model.inventory import Inventory
from ..model.playbook import Verify
from ..remote.hoststate import HostState
from ..remote.sessions import Fleet
from ..remote.transport import HostSession
from . import audit
from .verify import Expected, PairResult, check_pair, diagnose, end_view, expected, same_address

KERBEROS_PORT = 88  # Vista/2008+ reach the KDC over TCP 88 first (KB244474, windows-behaviour.md §4)
Dependency = tuple[str, str, int]  # (what, address, TCP port) a host must reach for IKE to renegotiate


def kdc_probes(inv: Inventory, hosts: list[str]) -> dict[str, list[Dependency]]:
    """With Kerberos authentication, every domain controller of the inventory from every host: a new main
    mode needs a ticket, so a policy that cuts a host off its KDCs breaks the next renegotiation even while
    the SAs negotiated before it still carry traffic (windows-behaviour.md §4)."""
    if inv.auth.method != "kerberos":
        return {}
    dcs = [(f"domain controller {e.name}", e.address, KERBEROS_PORT) for e in inv.exemptions
           if e.role == "domain_controller"]
    return {h: list(dcs) for h in hosts} if dcs else {}


def _unreached(host: str, report: Mapping[str, Any], deps: list[Dependency]) -> list[str]:
    """The dependencies verify.ps1's bounded connect did not reach (``Connected``; ``Outcome`` says how).
    Dependency probes always wait for their connect (no ``UntilSa``), so their Outcome is never 'secured'."""
    probes = [p for p in report.get("Probes") or [] if isinstance(p, Mapping)]
    out = []
    for what, address, port in deps:
        probe = next((p for p in probes if same_address(p.get("Target"), address)
                      and int(p.get("Port") or 0) == port), None)
        if probe is None or not probe.get("Connected"):
            how = f" ({probe.get('Outcome')})" if probe is not None and probe.get("Outcome") else ""
            out.append(f"{host}: {what} {address} does not answer on TCP {port}{how} through the new policy "
                       "(Kerberos: the next IKE renegotiation would fail)")
    return out


def check_dependencies(fleet: Fleet, deps: Mapping[str, list[Dependency]], hosts: list[str]) -> list[str]:
    """One verification round on ``hosts`` probing only their dependencies: the problems found."""
    todo = [h for h in hosts if deps.get(h) and h in fleet.sessions]

    def probe(host: str, session: HostSession) -> list[str]:
        out = session.run("verify", {"Probes": [{"Target": a, "Port": p} for _, a, p in deps[host]]})
        first = out.objects[0] if out.objects and isinstance(out.objects[0], dict) else {}
        return _unreached(host, first, deps[host])

    return [line for lines in fleet.each(probe, todo).values() for line in lines]


def prove_pairs(inv: Inventory, fleet: Fleet, settings: Verify, states: Mapping[str, HostState],
                journal: Journal | None, run_id: int | None,
                say: Callable[[str, str], None] | None = None,
                only: set[frozenset[str]] | None = None,
                dependencies: Mapping[str, list[Dependency]] | None = None,
                first_round: Mapping[str, dict[str, Any]] | None = None) -> list[PairResult]:
    """``dependencies``: per host, addresses it must also reach (probed in the same rounds); a pair whose
    host does not is not verified. ``first_round``: each host's verify report from a pipeline that already
    ran the first round's probes (``first_probes``, riding along another read), so the first round costs
    no request of its own."""
    say = say or (lambda _h, _m: None)
    deps = dependencies or {}
    pairs = [(a, b, pair) for a, b, pair in inv.expanded_pairs()
             if only is None or frozenset((a, b)) in only]
    want = expected(inv)
    results: dict[tuple[str, str], PairResult] = {}
    pending = []
    for a, b, pair in pairs:
        down = [h for h in (a, b) if h not in fleet.sessions]
        if down:
            results[(a, b)] = PairResult(a, b, False, problems=[host_failure(h, fleet.failed.get(h)) for h in down])
        else:
            pending.append((a, b, pair))

    start = time.monotonic()
    deadlines: dict[tuple[str, str], float] = {}  # each pair's: its first probe + the timeout
    if pending:
        say("fleet", Event(f"proving {len(pending)} pair(s): traffic, then SAs on both ends (up to "
                           f"{settings.timeout_s:g} s)", "proving", total=len(pairs), pending=len(pending),
                           left_s=settings.timeout_s))
    while pending:
        probes = _probes(inv, pending, settings, deps)
        started: dict[str, float] = {}  # when this round's pipeline on each host began (worker threads write)

        def round_on(host: str, session: HostSession, probes: dict[str, list[dict[str, Any]]] = probes,
                     started: dict[str, float] = started) -> dict[str, Any]:
            started[host] = time.monotonic()
            return verify_round(session, probes.get(host, []))

        if first_round is not None:
            reports = {h: first_round[h] for h in probes if h in first_round}
            first_round = None
        else:
            reports = fleet.each(round_on, list(probes))
        for a, b, _ in pending:
            if (a, b) not in deadlines:
                deadlines[(a, b)] = min(started.get(a, start), started.get(b, start)) + settings.timeout_s
        still = []
        for a, b, pair in pending:
            if a not in reports or b not in reports:
                gone = a if a not in reports else b
                results[(a, b)] = PairResult(a, b, False, problems=[host_failure(gone, fleet.failed.get(gone))])
                continue
            results[(a, b)] = result = judge_pair(inv, a, b, reports, want, deps)
            if result.verified:
                say(a, Event(f"pair {a} <-> {b} verified", "pair_proven", a=a, b=b))
            else:
                still.append((a, b, pair))
        # A pair whose window ends before the next round could look at it stays unproven; the others go on.
        next_look = time.monotonic() + settings.poll_interval_s
        waiting = [p for p in still if deadlines[(p[0], p[1])] >= next_look]
        if waiting and len(still) < len(pending):
            left = max(0.0, max(deadlines[(a, b)] for a, b, _ in waiting) - time.monotonic())
            say("fleet", Event(f"waiting for {len(waiting)} pair(s) to negotiate (up to {left:.0f} s)", "proving",
                               pending=len(waiting), left_s=left))
        pending = waiting
        if not pending:
            break
        if interrupt.sleep(settings.poll_interval_s):
            break  # Ctrl-C: the pairs proven so far are reported, the caller stops at its next checkpoint

    unproven = [r for r in results.values() if not r.verified]
    if unproven:
        _add_diagnosis(inv, fleet, states, unproven)
    ordered = [results[(a, b)] for a, b, _ in pairs]
    if journal is not None and run_id is not None:
        for r in ordered:
            journal.record_verification(run_id, r.a, r.b, r.verified,
                                        {"problems": r.problems, "sa": r.sa_summary()})
    return ordered


def judge_pair(inv: Inventory, a: str, b: str, reports: Mapping[str, Mapping[str, Any]], want: Expected,
               deps: Mapping[str, list[Dependency]]) -> PairResult:
    """A pair from both its ends' reports of one round: the SAs each end lists toward the other, then each
    end's dependencies."""
    views = {a: end_view(reports[a], inv.host(b).address), b: end_view(reports[b], inv.host(a).address)}
    result = check_pair(a, b, views, want)
    for host in (a, b):
        result.problems += _unreached(host, reports[host], deps.get(host, []))
    result.verified = not result.problems
    return result


class FirstRound:
    """apply's first proof round as ``Fleet.each_then`` runs it, host by host (``round_on``), closing each
    host's session as soon as every pair it is in has proven itself in this round (an SA with proposals the
    inventory no longer has does not prove a pair: ``check_pair`` counts it as a problem).

    Nothing runs on such a host again in this command: later rounds, the diagnosis and the rekey of stale
    SAs only touch the hosts of the pairs still unproven or stale. Closed here, its pool goes while the rest
    of the fleet is still proving, instead of in the fleet-wide close at the end, which the hosts sit idle
    through (1,000 hosts: about a second of the controller's work), and the host's wsmprovhost.exe is
    freed early. The judgement is prove_pairs' own (``judge_pair`` on the same reports). A host stays open
    while any of its pairs is unproven, stale, or has an end without a session; ``Fleet.close`` closes it."""

    def __init__(self, inv: Inventory, fleet: Fleet, probes: Mapping[str, list[dict[str, Any]]],
                 only: set[frozenset[str]]) -> None:
        self._inv, self._fleet, self._probes = inv, fleet, probes
        self._want = expected(inv)
        self._lock = threading.Lock()
        self._reports: dict[str, dict[str, Any]] = {}
        self._unproven: dict[str, set[tuple[str, str]]] = {}  # per host: its pairs not proven yet
        for a, b, _ in inv.expanded_pairs():
            if frozenset((a, b)) in only:
                for host in (a, b):
                    self._unproven.setdefault(host, set()).add((a, b))
        self._released: set[str] = set()

    def round_on(self, host: str, session: HostSession) -> dict[str, Any]:
        report = verify_round(session, self._probes.get(host, []))
        with self._lock:
            self._reports[host] = report
            touched = {host}
            for a, b in sorted(self._unproven.get(host, set())):
                if a in self._reports and b in self._reports:
                    result = judge_pair(self._inv, a, b, self._reports, self._want, {})
                    if result.verified:
                        for end in (a, b):
                            self._unproven[end].discard((a, b))
                            touched.add(end)
            free = [h for h in sorted(touched) if h in self._reports and not self._unproven.get(h)
                    and h not in self._released]
            self._released.update(free)
        for name in free:
            session_of = self._fleet.sessions.get(name)
            try:
                if session_of is not None:
                    session_of.close()
            except (IpsecRemoteError, OSError):
                pass  # its pairs are proven: a close the host did not answer must not fail this host's round
        return report


def verify_round(session: HostSession, probes: list[dict[str, Any]]) -> dict[str, Any]:
    """One host's verification round (verify.ps1): its probes, then its SAs — the report ``prove_pairs``
    reads, also as a ``first_round`` run ahead."""
    out = session.run("verify", {"Probes": probes})
    first = out.objects[0] if out.objects else {}
    return first if isinstance(first, dict) else {}


def _probes(inv: Inventory, pending: list[tuple[str, str, Any]], settings: Verify,
            deps: Mapping[str, list[Dependency]]) -> dict[str, list[dict[str, Any]]]:
    """Each host's probes for one round: toward its peer in every pending pair (both ends with
    ``both_directions``; else the far end only reads its SAs), then its dependencies."""
    probes: dict[str, list[dict[str, Any]]] = {}
    for a, b, pair in pending:
        probes.setdefault(a, []).append(_pair_probe(inv.host(b).address, pair.probe_port))
        if settings.both_directions:
            probes.setdefault(b, []).append(_pair_probe(inv.host(a).address, pair.probe_port))
        else:
            probes.setdefault(b, [])
    for host in list(probes):
        mine = deps.get(host, [])
        # A dependency's connect is its answer: a pair probe toward the same address and port waits for it too.
        pair_probes = [p if not any(same_address(p["Target"], a) and p["Port"] == port for _, a, port in mine)
                       else {"Target": p["Target"], "Port": p["Port"]} for p in probes[host]]
        probes[host] = pair_probes + [{"Target": a, "Port": p} for _, a, p in mine]
    return probes


def _pair_probe(address: str, port: int) -> dict[str, Any]:
    """A pair probe stops waiting once a quick-mode SA toward its target is listed (verify.ps1 ``UntilSa``):
    the SAs decide a pair, and a connect toward a port the peer's firewall drops would hold the round for
    the whole bound."""
    return {"Target": address, "Port": port, "UntilSa": True}


def first_probes(inv: Inventory, fleet: Fleet, settings: Verify, only: set[frozenset[str]],
                 dependencies: Mapping[str, list[Dependency]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The first round's probes of ``prove_pairs(..., only=only, dependencies=dependencies)``, for a
    pipeline to run them ahead (as ``verify`` statements) and hand the reports back as its ``first_round``."""
    pending = [(a, b, pair) for a, b, pair in inv.expanded_pairs()
               if frozenset((a, b)) in only and a in fleet.sessions and b in fleet.sessions]
    return _probes(inv, pending, settings, dependencies or {})


def _add_diagnosis(inv: Inventory, fleet: Fleet, states: Mapping[str, HostState],
                   unproven: list[PairResult]) -> None:
    hosts = sorted({h for r in unproven for h in (r.a, r.b) if h in fleet.sessions})

    def events_on(_host: str, session: HostSession) -> tuple[list[dict[str, Any]], audit.AuditState | None]:
        # The IPsec audit policy rides with the events: no events from a host that audits nothing is no news.
        out = session.run_statements([("read_events", {"SinceSeconds": 900}), audit.read_step(audit.MANAGED)],
                                   retry=True)
        objects, state = audit.split_output(out.objects)
        return [e for e in objects if isinstance(e, dict)], state

    read = fleet.each(events_on, hosts)
    events = {h: r[0] for h, r in read.items()}
    for r in unproven:
        found: list[str] = []
        for host, peer in ((r.a, r.b), (r.b, r.a)):
            facts = states[host].facts if host in states else None
            peer_facts = states[peer].facts if peer in states else None
            off = audit.diagnosis_line(host, read[host][1] if host in read else None,
                                       gpo=is_gpo_store(inv.policy.store))
            for line in [*diagnose(host, facts, events.get(host, []), inv.policy.store, peer_facts),
                         *([off] if off else [])]:
                if line not in found:
                    found.append(line)
        r.problems = found + r.problems


def host_failure(host: str, reason: str | None) -> str:
    """Why a host took no part, as the pair table shows it: the host's own reason (refused credentials, a
    name clash, a failed call, a connection that could not be made), never a blanket "not reachable"."""
    if not reason:
        return f"{host}: not reachable (no session)"
    return reason if reason.startswith(f"{host}: ") else f"{host}: {reason}"
