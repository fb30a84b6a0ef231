"""doctor: the read-only preflight checks (services, firewall profiles, merge setting, clock, overlapping
rules, IKE events, IPsec audit policy), alone or — as ``preflight`` — first thing in apply and promote, on the
sessions they opened: apply's is one extra pipeline per host (its read carries the fresh hosts'
exemptions, which must wait for the preflight's verdict); promote's rides in its own read pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..model.gpo import is_gpo_store
from ..model.inventory import Inventory
from ..remote.hoststate import HostFacts, HostState
from ..remote.names import HostNames
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostSession, HostTarget
from . import audit
from .hostview import Steps, read_steps, split_read


@dataclass
class Finding:
    host: str
    severity: str  # error | warning | info
    problem: str
    fix: str

    def to_json(self) -> dict[str, str]:
        return {"host": self.host, "severity": self.severity, "problem": self.problem, "fix": self.fix}


def doctor(inv: Inventory, targets: Mapping[str, HostTarget], forks: int) -> list[Finding]:
    fleet = open_fleet(targets, forks)
    findings: list[Finding] = []
    try:
        findings = check_fleet(inv, fleet)
    finally:
        for host, reason in fleet.failed.items():
            findings.append(Finding(host, "error", f"WinRM: {reason}",
                                    "check the WinRM listener (winrm enumerate winrm/config/listener), the "
                                    "credentials and the CA bundle"))
        fleet.close()
    return findings


def check_fleet(inv: Inventory, fleet: Fleet) -> list[Finding]:
    """The doctor's checks on the fleet's open sessions: one pipeline per host (state, events, audit policy)."""
    return check_fleet_with(inv, fleet)[0]


def is_event(obj: Any) -> bool:
    return isinstance(obj, dict) and "Id" in obj and "TimeCreated" in obj


def check_fleet_with(inv: Inventory, fleet: Fleet, extra: Callable[[str], Steps] | None = None
                     ) -> tuple[list[Finding], dict[str, HostState], dict[str, HostNames], dict[str, list[Any]]]:
    """``check_fleet``, with ``extra(host)`` statements riding in the same read pipeline (read-only ones:
    it is retried); also returns what it read — each host's state, names and the extra statements' output —
    so the command that asked for the preflight does not read the hosts again."""
    found: dict[str, tuple[HostState, list[dict[str, Any]], audit.AuditState | None]] = {}
    names: dict[str, HostNames] = {}
    rides: dict[str, list[Any]] = {}

    def read(host: str, session: HostSession) -> None:
        # The IPsec audit policy and the last hour's events ride in the read pipeline.
        out = session.run_statements([*read_steps(inv), ("read_events", {"SinceSeconds": 3600}),
                                      audit.read_step(), *(extra(host) if extra else [])], retry=True)
        state, names[host], rest = split_read(host, out.objects, inv)
        others, audit_state = audit.split_output(rest)
        found[host] = (state, [e for e in others if is_event(e)], audit_state)
        rides[host] = [o for o in others if not is_event(o)]

    fleet.each(read)
    # The reference is this controller's clock, taken once every host has answered (a host's reading is at
    # most the read's duration older: seconds, against Kerberos' 300 s). The fleet's median was the old
    # reference: with two readable hosts it is the later clock, and it blamed the host whose clock was right.
    reference_clock = datetime.now(timezone.utc)
    findings: list[Finding] = []
    peers = {h.address for h in inv.hosts}  # once, not per host (a 1,000-host fleet: a million look-ups)
    for host in [h for h in fleet.sessions if h in found]:
        state, events, audit_state = found[host]
        findings += _host_findings(inv, host, state.facts, events, reference_clock, peers)
        findings += [Finding(host, *f) for f in audit.doctor_findings(host, audit_state,
                                                                      gpo=is_gpo_store(inv.policy.store))]
    states = {h: found[h][0] for h in fleet.sessions if h in found}
    return findings, states, {h: names[h] for h in states}, {h: rides[h] for h in states}


def preflight(inv: Inventory, fleet: Fleet) -> list[Finding]:
    """apply and promote, before changing anything: the doctor's checks on the sessions they opened. A host
    with an error is failed with that line (it is not changed; the other hosts go on, as when a host is
    down); warnings are reported."""
    return preflight_read(inv, fleet)[0]


def preflight_read(inv: Inventory, fleet: Fleet, extra: Callable[[str], Steps] | None = None
                   ) -> tuple[list[Finding], dict[str, HostState], dict[str, HostNames], dict[str, list[Any]]]:
    """``preflight`` in the command's own read pipeline (one pipeline per host, not two): the findings, and
    the state, names and ``extra`` output of every host the preflight let through."""
    findings, states, names, rides = check_fleet_with(inv, fleet, extra)
    for host in sorted({f.host for f in findings if f.severity == "error"}):
        errors = [f for f in findings if f.host == host and f.severity == "error"]
        fleet.fail(host, f"{host}: preflight: " + "; ".join(f"{f.problem} (fix: {f.fix})" for f in errors)
                   + " — nothing was changed on this host (--skip-preflight to go on anyway)")
    live = [h for h in states if h in fleet.sessions]
    return findings, {h: states[h] for h in live}, {h: names[h] for h in live}, {h: rides[h] for h in live}


def _host_findings(inv: Inventory, host: str, facts: HostFacts, events: list[dict[str, Any]],
                   reference_clock: Any, peers: set[str] | None = None) -> list[Finding]:
    out: list[Finding] = []
    status_, start = facts.services.get("IKEEXT", ("missing", "missing"))
    if start.lower() == "disabled" or status_ == "missing":
        out.append(Finding(host, "error", f"IKEEXT is {start} ({status_}): IKE/AuthIP cannot negotiate",
                           "Set-Service IKEEXT -StartupType Manual; Start-Service IKEEXT"))
    for svc in ("BFE", "MpsSvc"):
        s, _ = facts.services.get(svc, ("missing", ""))
        if s.lower() != "running":
            out.append(Finding(host, "error", f"{svc} is {s}: connection security rules are not enforced",
                               f"Start-Service {svc} (do not stop MpsSvc; disable profiles instead)"))
    for name, (enabled, allow_local) in facts.profiles.items():
        if not enabled:
            out.append(Finding(host, "warning", f"firewall profile {name} is off: IPsec rules do not apply there",
                               f"Set-NetFirewallProfile -Name {name} -Enabled True"))
        if allow_local.lower() == "false" and inv.policy.store == "PersistentStore":
            out.append(Finding(host, "error", f"Group Policy sets AllowLocalIPsecRules = False ({name}): rules "
                                              "in PersistentStore are ignored",
                               "write the rules to the GPO (policy.store = 'domain\\GPO') or allow local "
                               "IPsec rules in the GPO"))
    if reference_clock is not None and facts.utc_now is not None:
        host_clock = facts.utc_now if facts.utc_now.tzinfo else facts.utc_now.replace(tzinfo=timezone.utc)
        offset = (host_clock - reference_clock).total_seconds()
        if abs(offset) > 300:
            side = "ahead of" if offset > 0 else "behind"
            out.append(Finding(host, "error", f"clock skew {int(abs(offset))} s ({side} the controller's clock): "
                                              "Kerberos allows 300 s",
                               "w32tm /resync; check the domain time hierarchy (if every host shows this, the "
                               "controller's clock is the one off)"))
    peers = peers if peers is not None else {h.address for h in inv.hosts}
    for rule in facts.unowned_rules:
        overlap = [a for a in rule.remote_address if a in peers or a.lower() == "any"]
        if rule.enabled and overlap and (rule.inbound, rule.outbound) != ("None", "None"):
            out.append(Finding(host, "warning", f"rule '{rule.name}' ({rule.source or 'local'}) not owned by "
                                                f"{inv.policy.group} covers {', '.join(overlap)} with "
                                                f"{rule.inbound}/{rule.outbound}",
                               "review it: it may take precedence over our rules"))
    if any(int(e.get("Id", 0)) == 5453 for e in events):
        # The event stays in the last hour's log after IKEEXT is started again: an error (which preflight
        # turns into a blocked host) only while IKEEXT is still not running.
        if status_.lower() == "running":
            out.append(Finding(host, "warning", "event 5453 in the last hour: IKEEXT was not started then "
                                                "(it is running now)", "find what stopped IKEEXT"))
        else:
            out.append(Finding(host, "error", "event 5453: negotiation failed because IKEEXT is not started",
                               "Start-Service IKEEXT"))
    return out
