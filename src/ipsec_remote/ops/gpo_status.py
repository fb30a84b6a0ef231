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

from ..model.desired import DesiredObject, Kind
from ..model.gpo import gpo_writer_address
from ..model.gpo_desired import gpo_objects, gpo_rule_names
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
               forks: int) -> StatusReport:
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
        if gpo is not None:
            writes = plan_host(writer, gpo_writer_address(inv), gpo_objects(inv), gpo.observed, inv.policy.store)
            report.drift[writer] = [f"GPO: {_drift_line(c)}" for c in writes.changes]
            report.drift.update(rsop_behind(inv, gpo, rsop))
            report.security = _pair_security(inv, gpo)
        report.pairs = prove_pairs(inv, fleet, verify, rsop, None, None)
        for pair in report.pairs:
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


def _pair_security(inv: Inventory, gpo: HostState) -> dict[tuple[str, str], tuple[str, str]]:
    """Each pair's security as the GPO's rule of its [[pairs]] entry has it."""
    rules = {o.name.lower(): o for o in gpo.observed if o.kind is Kind.RULE}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for a, b, pair in inv.expanded_pairs():
        found: Any = rules.get(gpo_rule_names(inv.policy.group, pair)[1].lower())  # b's side: it serves
        if found is not None:
            out[(a, b)] = (str(found.params.get("InboundSecurity")), str(found.params.get("OutboundSecurity")))
    return out
