"""status in GPO mode: the GPO as the writer reads it, each host's RSOP against the GPO's current objects,
and the pairs proven now. Nothing is changed (the pairs' SAs are dropped to be renegotiated, as in
status with a local store).

* The GPO is read on ``policy.gpo_writer`` (a domain controller: the GPO is local there, no second hop);
  its drift against the inventory (gpo_desired.py) is reported under the writer's name.
* A host's ``-PolicyStore RSOP`` is what Group Policy delivered at its last refresh (windows-behaviour.md
  §9); it must hold the GPO's current objects, else the host has not refreshed since the GPO changed and
  its pairs are not verified, whatever the SAs say.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..journal.store import Journal
from ..model.desired import ISOLATION, DesiredObject, Kind, Security
from ..model.gpo import gpo_writer_address
from ..model.gpo_desired import gpo_objects, promoted_rule_names
from ..model.inventory import Host, Inventory
from ..model.playbook import Verify
from ..plan.planner import Change, plan_host
from ..remote.connect import targets_for
from ..remote.hoststate import HostState
from ..remote.sessions import open_fleet
from ..remote.transport import HostTarget
from .hostview import read_fleet
from .proof import prove_pairs
from .status import StatusReport, _drift_line

RSOP = "RSOP"


def with_store(inv: Inventory, store: str) -> Inventory:
    """The inventory read against another store (the RSOP view on the hosts)."""
    return inv.model_copy(update={"policy": inv.policy.model_copy(update={"store": store})})


def writer_target(inv: Inventory, inventory: Path, lab: bool) -> HostTarget:
    """The writer's WinRM target, found as a host's would be (lab.json or the inventory's connection)."""
    dc = next(e for e in inv.exemptions if e.name == inv.policy.gpo_writer)
    as_host = inv.model_copy(update={"hosts": [Host(name=dc.name, address=dc.address)]})
    return targets_for(as_host, inventory, lab)[dc.name]


def gpo_status(inv: Inventory, targets: Mapping[str, HostTarget], writer_target: HostTarget, verify: Verify,
               forks: int, confirmed: Mapping[tuple[str, str], tuple[str, str]] | None = None,
               journal: Journal | None = None) -> StatusReport:
    """``confirmed``: the pairs' security as the journal's promotions confirmed it; a pair the GPO holds
    otherwise is unconfirmed (not verified, with the way out). With ``journal``, ``confirmed`` is read from
    it once the GPO is read (a lost journal's promotions rebuilt from the GPO first: ``gpo_promotions``)."""
    writer = inv.policy.gpo_writer or ""
    report = StatusReport()
    gpo_fleet = open_fleet({writer: writer_target}, 1)
    fleet = open_fleet(targets, forks)
    peers: dict[str, list[str]] = {}
    for a, b, _ in inv.expanded_pairs():
        peers.setdefault(a, []).append(inv.host(b).address)
        peers.setdefault(b, []).append(inv.host(a).address)
    try:
        gpo_states, _ = read_fleet(gpo_fleet, inv)
        gpo = gpo_states.get(writer)
        rsop, _ = read_fleet(fleet, with_store(inv, RSOP),
                             lambda h: [("reset_sas", {"Peers": peers[h]})] if h in peers else [])
        if gpo is not None and journal is not None:
            report.journal_notes = gpo_promotions(inv, gpo, journal)[1]
            confirmed = journal.pair_security()
        if gpo is not None:
            writes = plan_host(writer, gpo_writer_address(inv), gpo_objects(inv, promotions(confirmed or {})),
                               gpo.observed, inv.policy.store)
            report.drift[writer] = [f"GPO: {_drift_line(c)}" for c in writes.changes]
            report.drift.update(rsop_behind(inv, gpo, rsop))
            report.security = gpo_pair_security(inv, gpo)
        report.pairs = prove_pairs(inv, fleet, verify, rsop, None, None)
        unconfirmed = unconfirmed_lines(report.security, confirmed or {})
        for pair in report.pairs:
            why = unconfirmed.get((pair.a, pair.b)) or unconfirmed.get((pair.b, pair.a))
            if why is not None:
                pair.verified = False
                pair.problems = [why, *pair.problems]
            stale = [h for h in (pair.a, pair.b) if report.drift.get(h)]
            if gpo is None or stale:
                pair.verified = False
                pair.problems = [f"{h}: its RSOP does not hold the GPO's current objects (see drift)"
                                 for h in stale] + (["the GPO could not be read"] if gpo is None else []) \
                    + pair.problems
    finally:
        report.reachable = {h.name: h.name in fleet.sessions for h in inv.hosts}
        report.reachable[writer] = writer in gpo_fleet.sessions
        report.unreachable_reason = {**fleet.failed, **gpo_fleet.failed}
        fleet.close()
        gpo_fleet.close()
    return report


def promotions(security: Mapping[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], Security]:
    """The journal's confirmed pair security as gpo_objects' promotions (pairs at Request/Request and the
    local mode's isolation entries left out)."""
    return {p: Security(*sec) for p, sec in security.items() if p[1] != ISOLATION and sec != ("Request", "Request")}


def promoted_in_gpo(inv: Inventory, gpo: HostState) -> dict[tuple[str, str], Security]:
    """The host pairs the GPO holds promoted: both of the pair's own rules (gpo_desired.py) present, in our
    group, at the same security other than Request/Request."""
    by_name = {o.name.lower(): o for o in gpo.observed if o.kind is Kind.RULE
               and str(o.params.get("Group") or inv.policy.group) == inv.policy.group}
    out: dict[tuple[str, str], Security] = {}
    for a, b, _ in inv.expanded_pairs():
        rules = [by_name.get(n.lower()) for n in promoted_rule_names(inv.policy.group, a, b)]
        found = {(str(r.params.get("InboundSecurity")), str(r.params.get("OutboundSecurity")))
                 for r in rules if r is not None}
        if None not in rules and len(found) == 1:
            (sec,) = found
            if sec != ("Request", "Request"):
                out[(a, b)] = Security(*sec)
    return out


def gpo_promotions(inv: Inventory, gpo: HostState, journal: Journal) -> tuple[dict[tuple[str, str], Security],
                                                                             list[str]]:
    """The promotions the GPO is to keep (the journal's confirmed ones), and one note when the journal was
    missing (lost): its promotions are then rebuilt from what the GPO's objects show — the promoted pairs'
    own rules — so no run lowers a promoted pair back to Request for want of a journal. Whether a promote
    confirmed them was recorded only in the lost journal; status and apply prove the pairs as they are."""
    notes = []
    if journal.created:
        rebuilt = promoted_in_gpo(inv, gpo)
        for (a, b), sec in rebuilt.items():
            journal.set_pair_security(a, b, sec.inbound, sec.outbound)
        if rebuilt:
            notes.append(f"journal {journal.path} was missing: promotion(s) rebuilt from the GPO's promoted pairs' "
                         "own rules: " + ", ".join(f"{a}:{b} {s.inbound}/{s.outbound}"
                                                   for (a, b), s in sorted(rebuilt.items()))
                         + "; apply keeps them, 'promote --to request' lowers them")
        elif gpo.observed:
            notes.append(f"journal {journal.path} was missing: the GPO holds objects of group "
                         f"'{inv.policy.group}' but no promoted pair (every pair at Request/Request)")
    return promotions(journal.pair_security()), notes


def rsop_behind(inv: Inventory, gpo: HostState, rsop: Mapping[str, HostState]) -> dict[str, list[str]]:
    """Per host, how its RSOP differs from the objects the GPO holds now (empty: up to date)."""
    current = [DesiredObject(o.kind, o.name, o.params, "") for o in gpo.observed]
    return {host: [f"RSOP: {_rsop_line(c)}"
                   for c in plan_host(host, inv.host(host).address, current, state.observed, RSOP).changes]
            for host, state in rsop.items()}


def _rsop_line(c: Change) -> str:
    if c.action == "create":
        return f"{c.kind.value} {c.name}: in the GPO, not applied yet (refresh: gpupdate /target:computer /force)"
    if c.action == "destroy":
        return f"{c.kind.value} {c.name}: applied, no longer in the GPO (refresh pending)"
    return f"{c.kind.value} {c.name}: applied as an older version ({', '.join(c.changed)} changed since)"


def gpo_pair_security(inv: Inventory, gpo: HostState) -> dict[tuple[str, str], tuple[str, str]]:
    """Each host pair's security as the GPO holds it: the narrowest of our rules (gpo_desired.py) with b's
    address local and a's remote (b's side: it serves the ports)."""
    rules = [o for o in gpo.observed if o.kind is Kind.RULE and o.name.lower().endswith("-ba")
             and str(o.params.get("Group") or inv.policy.group) == inv.policy.group]
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for a, b, _ in inv.expanded_pairs():
        addr_a, addr_b = inv.host(a).address, inv.host(b).address
        hits = [(len(_addresses(r, "LocalAddress")) * len(_addresses(r, "RemoteAddress")), r) for r in rules
                if addr_b in _addresses(r, "LocalAddress") and addr_a in _addresses(r, "RemoteAddress")]
        if hits:
            found = min(hits, key=lambda h: h[0])[1]
            out[(a, b)] = (str(found.params.get("InboundSecurity")), str(found.params.get("OutboundSecurity")))
    return out


def _addresses(obj: Any, key: str) -> list[str]:
    value = obj.params.get(key)
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def unconfirmed_lines(held: Mapping[tuple[str, str], tuple[str, str]],
                      confirmed: Mapping[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Pairs whose security in the GPO is not what the journal's last confirmed promotion left (a promote
    that stopped mid-wave: its GPO edit stays until a run reverts or confirms it)."""
    out = {}
    for pair, sec in held.items():
        was = confirmed.get(pair) or confirmed.get((pair[1], pair[0])) or ("Request", "Request")
        if sec != was:
            out[pair] = (f"the GPO holds {sec[0]}/{sec[1]} for this pair, but no promotion confirmed it (the "
                         f"last confirmed: {was[0]}/{was[1]}): run 'promote' to resume or 'rollback'")
    return out
