"""doctor: the read-only preflight checks (services, firewall profiles, merge setting, clock, overlapping
rules, IKE events, IPsec audit policy), alone or — as ``preflight`` — first thing in apply and promote, on the
sessions they opened, riding in their own read pipeline. apply's read also carries a fresh host's
exemptions, gated on the host by ``gate_params`` (at least as strict as the error findings here, which stay
the one source of the findings and their messages)."""

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


MAX_SKEW_S = 300  # Kerberos' default tolerance
EVENT_WINDOW_S = 3600  # event 5453 looked for in the last hour
# The on-host gate's clock reference is the controller's clock when it sends the pipeline; the findings'
# is the controller's clock when that host's answer arrives, later by at most the pipeline's duration (a host
# behind by 290 s when sent reads as 290 s + that duration behind on arrival). The gate refuses this much
# sooner on the "behind" side, so a pipeline of up to a minute cannot let through a host the findings
# block; "ahead" needs no margin (the gate's host reading comes later, its reference earlier: its offset
# is never smaller). Events get the same minute: the gate's window starts later than read_events'.
GATE_MARGIN_S = 60


@dataclass
class HostRead:
    """One host's preflight read: what the findings are made from, and the rest of the pipeline's output."""

    state: HostState
    names: HostNames
    events: list[dict[str, Any]]
    audit: audit.AuditState | None
    rest: list[Any]
    clock: datetime  # the controller's clock when the answer arrived: the reference for the host's clock


def preflight_steps(inv: Inventory) -> Steps:
    """The preflight's statements: the state and names, the last hour's events, the IPsec audit policy."""
    return [*read_steps(inv), ("read_events", {"SinceSeconds": EVENT_WINDOW_S}), audit.read_step()]


def split_preflight(host: str, objects: list[Any], inv: Inventory) -> HostRead:
    """A pipeline that began with ``preflight_steps``: its read, and (``rest``) what later statements gave."""
    clock = datetime.now(timezone.utc)
    state, names, rest = split_read(host, objects, inv)
    others, audit_state = audit.split_output(rest)
    return HostRead(state, names, [e for e in others if is_event(e)], audit_state,
                    [o for o in others if not is_event(o)], clock)


def gate_params() -> dict[str, Any]:
    """invoke_batch's -Preflight gate, sent with a fresh host's exemptions in the read pipeline: the batch
    runs only if none of ``_host_findings``' errors can hold there (a stricter gate only costs that host the
    normal exemption phase: one pipeline more). AllowLocalIPsecRules is checked there when the batch's
    -PolicyStore is PersistentStore, as here."""
    now = datetime.now(timezone.utc)
    return {"Preflight": True, "ControllerUtc": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "AheadSeconds": MAX_SKEW_S, "BehindSeconds": MAX_SKEW_S - GATE_MARGIN_S,
            "EventSeconds": EVENT_WINDOW_S + GATE_MARGIN_S}


def findings_of(inv: Inventory, reads: Mapping[str, HostRead], hosts: list[str]) -> list[Finding]:
    """The doctor's findings on ``hosts`` from their reads."""
    findings: list[Finding] = []
    peers = {h.address for h in inv.hosts}  # once, not per host (a 1,000-host fleet: a million look-ups)
    for host in hosts:
        read = reads[host]
        # The reference is this controller's clock when the host's answer arrived (its reading is at most
        # that pipeline's duration older: seconds, against Kerberos' 300 s). The fleet's median was the old
        # reference: with two readable hosts it is the later clock, and it blamed the host whose clock was right.
        findings += _host_findings(inv, host, read.state.facts, read.events, read.clock, peers)
        findings += [Finding(host, *f) for f in audit.doctor_findings(host, read.audit,
                                                                      gpo=is_gpo_store(inv.policy.store))]
    return findings


def check_fleet_with(inv: Inventory, fleet: Fleet, extra: Callable[[str], Steps] | None = None
                     ) -> tuple[list[Finding], dict[str, HostState], dict[str, HostNames], dict[str, list[Any]]]:
    """``check_fleet``, with ``extra(host)`` statements riding in the same read pipeline (read-only ones:
    it is retried); also returns what it read — each host's state, names and the extra statements' output —
    so the command that asked for the preflight does not read the hosts again."""
    reads: dict[str, HostRead] = {}

    def read(host: str, session: HostSession) -> None:
        out = session.run_statements([*preflight_steps(inv), *(extra(host) if extra else [])], retry=True)
        reads[host] = split_preflight(host, out.objects, inv)

    fleet.each(read)
    hosts = [h for h in fleet.sessions if h in reads]
    return (findings_of(inv, reads, hosts), {h: reads[h].state for h in hosts}, {h: reads[h].names for h in hosts},
            {h: reads[h].rest for h in hosts})


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
    fail_blocked(fleet, findings)
    live = [h for h in states if h in fleet.sessions]
    return findings, {h: states[h] for h in live}, {h: names[h] for h in live}, {h: rides[h] for h in live}


def fail_blocked(fleet: Fleet, findings: list[Finding], changed: Mapping[str, str] | None = None) -> None:
    """Fail each host with an error finding, with those lines. ``changed``: what was already changed on a
    host before the verdict (the gate let it through), said instead of "nothing was changed"."""
    for host in sorted({f.host for f in findings if f.severity == "error"}):
        errors = [f for f in findings if f.host == host and f.severity == "error"]
        done = (changed or {}).get(host)
        fleet.fail(host, f"{host}: preflight: " + "; ".join(f"{f.problem} (fix: {f.fix})" for f in errors)
                   + (f" — {done}, nothing else was changed on this host" if done else
                      " — nothing was changed on this host") + " (--skip-preflight to go on anyway)")


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
        if abs(offset) > MAX_SKEW_S:
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
