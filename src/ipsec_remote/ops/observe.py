"""observe: the flows each host has that IPsec does not protect, sampled over a window, into the journal.

Per host, ``observe.ps1`` loops on the host (one pipeline per chunk of the window, whatever the number of
samples): TCP connections and UDP endpoints compared with the quick-mode SAs' endpoints, and at the end the
Filtering Platform Connection events (5156/5157) since the start. What each source can and cannot see is in
the script's header and docs/traffic.md; in short: the tables miss connections shorter than the sampling
interval and UDP peers; the events see those, but only where the subcategory is audited, and say nothing of
IPsec — an event flow counts as protected when a quick-mode SA sampled during the window covers it.

The window is split into chunks no longer than the WinRM operation timeout allows (each chunk's answer comes
within one Receive), so a long observation neither rests on one Receive held for minutes nor loses everything
to one broken connection. With ``policy.enable_connection_audit``, the subcategory's setting is journaled
before observe turns success and failure auditing on (riding in the first chunk), and rollback restores it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.observations import ClearFlow, Observation, record_observation
from ..journal.store import Journal, now_iso
from ..model.inventory import Inventory
from ..remote.cimcodes import observe_codes
from ..remote.sessions import Fleet, open_fleet
from ..remote.transport import HostSession, HostTarget
from . import audit
from .hostview import snapshot_objects, split_read
from .verify import same_address

SCRIPT = "observe"
PROTOCOLS = {6: "TCP", 17: "UDP", 1: "ICMPv4", 58: "ICMPv6"}
MIN_CHUNK_S = 5.0
RECEIVE_MARGIN_S = 10.0  # a chunk ends this long before the operation timeout would end its Receive


def chunks(window_s: float, operation_timeout_s: int) -> list[float]:
    """The window cut into pipelines that each answer within one WinRM Receive (operation timeout)."""
    size = max(MIN_CHUNK_S, operation_timeout_s - RECEIVE_MARGIN_S)
    count = max(1, math.ceil(window_s / size))
    return [window_s / count] * count


@dataclass
class _Merged:
    """One host's chunks put together."""

    started: str = ""
    finished: str = ""
    samples: int = 0
    tcp: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    secured: set[str] = field(default_factory=set)
    udp_ports: set[int] = field(default_factory=set)
    events: list[Mapping[str, Any]] = field(default_factory=list)
    events_read: bool = False
    problems: list[str] = field(default_factory=list)

    def add(self, out: Mapping[str, Any]) -> None:
        self.started = self.started or str(out.get("Started") or "")
        self.finished = str(out.get("Finished") or self.finished)
        self.samples += int(out.get("Samples") or 0)
        for flow in out.get("Tcp") or []:
            key = (str(flow["Direction"]).lower(), str(flow["RemoteAddress"]), int(flow["Port"]))
            seen = self.tcp.get(key)
            if seen is None:
                self.tcp[key] = dict(flow)
            else:
                seen["LastSeen"] = flow["LastSeen"]
                seen["Samples"] = int(seen["Samples"]) + int(flow["Samples"])
                seen["Protected"] = int(seen["Protected"]) + int(flow["Protected"])
        self.secured |= {str(s) for s in out.get("Secured") or []}
        self.udp_ports |= {int(p) for p in out.get("UdpPorts") or []}
        self.events += [e for e in out.get("Events") or [] if isinstance(e, Mapping)]
        self.events_read = self.events_read or bool(out.get("EventsRead"))
        self.problems += [str(p) for p in out.get("Problems") or []]


def covered(secured: set[str], protocol: int, remote: str, local_port: int, remote_port: int) -> bool:
    """A quick-mode SA seen during the window covers this flow: same peer (as parsed addresses: the SA and the
    event may write an IPv6 address differently), protocol 0 (any) or equal, ports 0 (all,
    MSFT_NetQuickModeSA) or equal."""
    for desc in secured:
        proto, peer, lport, rport = [*desc.split("|"), "", "", ""][:4]
        if not same_address(peer, remote):
            continue
        if proto not in ("0", "", str(protocol)):
            continue
        if lport not in ("0", "", str(local_port)) or rport not in ("0", "", str(remote_port)):
            continue
        return True
    return False


def classify(host_address: str, merged: _Merged) -> tuple[list[ClearFlow], list[str]]:
    """The clear-text flows (both sources merged per peer, port, protocol and direction), and the peers seen
    protected."""
    flows: dict[tuple[str, str, str, int], ClearFlow] = {}
    protected: set[str] = set()
    for (direction, remote, port), f in merged.tcp.items():
        if same_address(remote, host_address):
            continue
        clear = int(f["Samples"]) - int(f["Protected"])
        if clear <= 0:
            protected.add(remote)
            continue
        flows[("TCP", direction, remote, port)] = ClearFlow(remote, port, "TCP", direction, str(f["FirstSeen"]),
                                                            str(f["LastSeen"]), clear)
    for e in merged.events:
        number = int(e.get("Protocol") or 0)
        remote, direction, port = str(e["RemoteAddress"]), str(e["Direction"]).lower(), int(e["Port"])
        if same_address(remote, host_address):
            continue
        if covered(merged.secured, number, remote, int(e.get("LocalPort") or 0), int(e.get("RemotePort") or 0)):
            protected.add(remote)
            continue
        protocol = PROTOCOLS.get(number, str(number))
        count = int(e.get("Permitted") or 0) + int(e.get("Blocked") or 0)
        key = (protocol, direction, remote, port)
        seen = flows.get(key)
        if seen is None:
            flows[key] = ClearFlow(remote, port, protocol, direction, str(e["FirstSeen"]), str(e["LastSeen"]), count,
                                   ("events",), blocked=not int(e.get("Permitted") or 0))
        else:
            flows[key] = ClearFlow(remote, port, protocol, direction, min(seen.first_seen, str(e["FirstSeen"])),
                                   max(seen.last_seen, str(e["LastSeen"])), seen.count + count,
                                   ("connections", "events"), seen.blocked and not int(e.get("Permitted") or 0))
    return sorted(flows.values(), key=lambda f: (f.remote_address, f.port, f.protocol)), sorted(protected)


@dataclass
class ObserveReport:
    window_s: float
    observations: dict[str, Observation] = field(default_factory=dict)
    failed_hosts: dict[str, str] = field(default_factory=dict)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed_hosts

    def to_json(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "hosts": {h: o.to_json() for h, o in self.observations.items()},
                "failed_hosts": self.failed_hosts, "audit": self.audit, "ok": self.ok}


def observe(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, window_s: float,
            interval_s: float, forks: int, say: Callable[[str, str], None] | None = None) -> ObserveReport:
    say = say or (lambda _h, _m: None)
    run_id = journal.begin_run(f"observe --window {window_s:g}s")
    report = ObserveReport(window_s)
    fleet = open_fleet(targets, forks)
    merged: dict[str, _Merged] = {}
    try:
        enable = _plan_connection_audit(inv, fleet, journal, run_id, report) \
            if inv.policy.enable_connection_audit else set()
        parts = chunks(window_s, inv.connection.operation_timeout_s)
        since: dict[str, str] = {}  # the first chunk's start, in the host's own words (its clock, 'o' format)
        for number, seconds in enumerate(parts):
            last = number == len(parts) - 1

            def run_chunk(host: str, session: HostSession, seconds: float = seconds, first: bool = number == 0,
                          last: bool = last) -> None:
                steps: list[tuple[str, dict[str, Any]]] = []
                if first and host in enable:
                    steps.append(audit.enable_all_step((audit.CONNECTION,)))
                params: dict[str, Any] = {"WindowSeconds": max(1, round(seconds)),
                                          "IntervalMilliseconds": max(100, round(interval_s * 1000)),
                                          **observe_codes()}
                if last:
                    params["ReadEvents"] = True
                    if since.get(host):
                        params["EventsSince"] = since[host]
                    steps.append(audit.read_step((audit.CONNECTION,)))
                steps.insert(1 if first and host in enable else 0, (SCRIPT, params))
                out = session.run_statements(steps, retry=False)
                objects, state = audit.split_output(out.objects)
                if first and host in enable:
                    enabled = state.of(audit.CONNECTION) if state is not None and not state.error else "unknown"
                    report.audit[host]["after"] = {audit.CONNECTION.key: enabled}
                    if enabled != "success_and_failure":
                        report.audit[host]["problem"] = (f"Filtering Platform Connection auditing is {enabled} "
                                                         "after enabling it: no events from this host")
                result = next((o for o in objects if isinstance(o, Mapping) and "Samples" in o), None)
                if result is None:
                    raise IpsecRemoteError(f"{host}: observe returned nothing"
                                                 + (f" ({out.errors[-1]})" if out.errors else ""))
                merged.setdefault(host, _Merged()).add(result)
                if first:
                    since[host] = merged[host].started
                if last:  # the last audit read of the pipeline: the setting while the events were written
                    final = audit.split_output([o for o in out.objects if audit.is_audit_output(o)][-1:])[1]
                    if final is not None:
                        report.audit.setdefault(host, {})["during"] = final.of(audit.CONNECTION)

            hosts = [h for h in targets if h in fleet.sessions]
            fleet.each(run_chunk, hosts)
            say("fleet", f"observed {sum(parts[: number + 1]):g} of {window_s:g} s")
        for host, m in merged.items():
            if host in fleet.failed:
                continue
            flows, protected = classify(inv.host(host).address, m)
            setting = report.audit.get(host, {}).get("during")
            events = ("read" if setting in ("success", "success_and_failure") else
                      f"not audited ({setting}): 5156 needs Filtering Platform Connection success auditing"
                      if setting else "unknown") if m.events_read else "not read"
            obs = Observation(host, m.started, m.finished, window_s, m.samples, flows,
                              {"sources": {"connections": "read", "events": events}, "protected_peers": protected,
                               "udp_ports": sorted(m.udp_ports), "problems": m.problems}, now_iso())
            record_observation(journal, run_id, obs)
            report.observations[host] = obs
            say(host, f"{len(flows)} clear-text flow(s), {len(protected)} protected peer(s)")
    finally:
        report.failed_hosts = dict(fleet.failed)
        fleet.close()
        journal.finish_run(run_id, "ok" if report.ok else "failed",
                           {"hosts": len(report.observations), "failed": len(report.failed_hosts)})
    return report


def _plan_connection_audit(inv: Inventory, fleet: Fleet, journal: Journal, run_id: int,
                           report: ObserveReport) -> set[str]:
    """Hosts whose Filtering Platform Connection auditing observe turns on, each one's setting journaled first
    (with the host's owned objects, read in the same pipeline, should this be the first record of the host)."""
    read_params = {"Group": inv.policy.group, "PolicyStore": inv.policy.store}

    def read(host: str, session: HostSession) -> tuple[list[dict[str, Any]], audit.AuditState | None]:
        out = session.run_statements([("read_state", read_params), audit.read_step((audit.CONNECTION,))],
                                     retry=True)
        objects, state = audit.split_output(out.objects)
        owned, _, _ = split_read(host, objects, inv)
        return snapshot_objects(owned, inv.policy.group), state

    todo: set[str] = set()
    for host, (owned, state) in fleet.each(read).items():
        current = state.of(audit.CONNECTION) if state is not None and state.error is None else "unknown"
        report.audit[host] = {"before": {audit.CONNECTION.key: current}}
        if current not in audit.SETTINGS:
            report.audit[host]["problem"] = "Filtering Platform Connection auditing could not be read: left alone"
        elif current != "success_and_failure":
            journal.remember_settings(run_id, host, audit.journal_values({audit.CONNECTION.key: current}), owned)
            todo.add(host)
    return todo
