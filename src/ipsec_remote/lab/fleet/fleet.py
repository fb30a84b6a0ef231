"""A fleet: one LabHost per inventory host and exemption target, one WinRM endpoint each, one network.

All endpoints live in one ``LabServer`` (one event loop thread, one port per host on 127.0.0.1). One
fleet-wide re-entrant lock serialises everything that touches host state: pipelines (taken by
``_LockedHost`` around ``run_pipeline``), the timers, the lockout check and ``inspect``.
"""

from __future__ import annotations

import os
import resource
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from ... import gcpolicy
from ..host import HostConfig, LabHost
from ..host.config import default_listening_ports
from ..host.gpupdate import due_refresh
from ..ike.model import Assumptions as IkeAssumptions
from ..runtime import PipelineCommand, PipelineResult
from ..winrm import EndpointConfig, LabEndpoint, LabServer, make_lab_ca
from ..winrm.clientcert import make_client_certificate
from ..winrm.server import AuthMode
from .domain import build_domain
from .faults import Faults, HostFaults
from .hooks import FaultState
from .kdc import LabRealm
from .latency import Debt
from .network import FleetNetwork, NetworkOptions
from .spec import FleetSpec, HostSpec
from .timers import Ticker
from .traffic import TrafficModel

USERNAME = "LAB\\admin"
DOMAIN = "lab.local"
REALM = DOMAIN.upper()
USER = "admin"
GP_VISIT_S = 1.0  # how often the timer looks for due Group Policy refreshes (tick: how often for tasks)
LabAuth = Literal["default", "basic", "ntlm", "kerberos", "certificate"]


@dataclass(frozen=True)
class FleetOptions:
    rtt_ms: int | None = None  # the CLI's --rtt-ms: every endpoint's default round trip
    sa_idle_s: float | None = None  # None: MaxSAIdleTimeSeconds of each host (300 s by default)
    tick_s: float = 0.2  # how often due scheduled tasks run and idle SAs expire
    network: NetworkOptions | None = None
    # The listeners' authentication: "default" = Basic over HTTPS, NTLM over HTTP (the inventory's scheme);
    # "kerberos" = Negotiate/Kerberos only, against a real MIT KDC the lab runs (kdc.py).
    auth: LabAuth = "default"


class _LockedHost:
    """The ScriptHost the endpoint sees: the real host, run under the fleet lock. After each pipeline the
    fleet hears of it (``ran``: a task may have been registered), and the endpoint owes its client the time
    a Windows host would have taken (``debt``, the latency model)."""

    def __init__(self, host: LabHost, lock: threading.RLock, ran: Callable[[LabHost], None], debt: Debt) -> None:
        self.host = host
        self.name = host.name
        self._lock = lock
        self._ran = ran
        self.debt = debt

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        with self._lock:
            calls, probes = len(self.host.calls), len(self.host.probes)
            try:
                return self.host.run_pipeline(commands, pipeline_input)
            finally:
                self._ran(self.host)
                self.debt.add(self.debt.model.pipeline_s([c["cmdlet"] for c in self.host.calls[calls:]],
                                                         self.host.probes[probes:]))


class Fleet:
    def __init__(self, spec: FleetSpec, faults: Faults | None = None, options: FleetOptions | None = None) -> None:
        self.spec = spec
        self.faults = faults or Faults()
        self.options = options or FleetOptions()
        self.lock = threading.RLock()
        self.password = secrets.token_urlsafe(18)  # per fleet; only lab.json (0600) holds it
        sa_idle_s = self.options.sa_idle_s if self.options.sa_idle_s is not None else self.faults.sa_idle_s
        latency = self.faults.latency
        net_options = self.options.network or NetworkOptions(
            sa_idle_s=sa_idle_s,
            ike_negotiation_s=latency.ike_negotiation_s if latency.enabled else 0.0,
            real_connect_waits=latency.enabled and latency.blocked_connect == "wait",
            own_address_traffic=self.faults.assumptions.own_address_traffic,
            assumptions=IkeAssumptions(
                cs_rule_endpoints=self.faults.assumptions.cs_rule_endpoints,
                tie_break=self.faults.assumptions.cs_rule_tie_break,
                address_size_breaks_ties=self.faults.assumptions.cs_rule_address_size_breaks_ties))
        self.network = FleetNetwork(spec.controller_address, spec.winrm_port, net_options, self.lock)
        self.hosts: dict[str, LabHost] = {}
        self.roles = {h.name: h.role for h in spec.hosts}
        self.endpoints: dict[str, LabEndpoint] = {}
        self.debts: dict[str, Debt] = {}  # per host: the latency model's account (lab/fleet/latency.py)
        for host_spec in spec.hosts:
            host = LabHost(self._config(host_spec, self.faults.for_host(host_spec.name)))
            self.network.attach(host, host_spec)
            self.hosts[host_spec.name] = host
        self.domain = build_domain(DOMAIN, spec, self.hosts, self.faults.domain)
        self.traffic = TrafficModel(self.faults.traffic, spec, self.network, self.hosts, time.monotonic)
        self._sleeping = threading.Condition(self.lock)
        for host in self.hosts.values():
            host.connections = self.traffic
            host.sleep = self._sleep
            if self.traffic.flows:
                host.change_listener = self.traffic.on_change
        self.server: LabServer | None = None
        self.realm: LabRealm | None = None
        self.client_cert: tuple[Path, Path] | None = None
        self.ticker = Ticker(self, self.options.tick_s)
        # Hosts with a task to start or finish (or a tampering user): the only ones the timer visits.
        self._timed = {name for name, host in self.hosts.items() if host.has_timers}
        self._next_expiry = 0.0
        self._next_refresh_visit = 0.0

    def _config(self, spec: HostSpec, faults: HostFaults) -> HostConfig:
        ikeext: Literal["manual", "disabled"] = "disabled" if faults.ikeext == "disabled" else "manual"
        return HostConfig(
            name=spec.name,
            address=spec.address,
            domain_joined=faults.domain_joined,
            domain=DOMAIN,
            machine_cert_ca=self.spec.machine_cert_ca if faults.machine_cert else None,
            clock_skew_s=faults.clock_skew_s,
            ikeext=ikeext,
            ikeext_running=faults.ikeext not in ("disabled", "stopped"),
            local_ipsec_merge=faults.local_ipsec_merge,
            gpo_stores=tuple(faults.gpo_stores),
            preexisting=tuple(faults.preexisting),
            utc_offset_min=faults.utc_offset_min,
            execution_policy_gpo=faults.execution_policy_gpo,
            tamper_revert_files=faults.tamper_revert_files,
            task_start_s=self._task_start_s(faults),
            clock_step_after_task_s=faults.clock_step_after_task_s,
            on_battery=faults.on_battery,
            audit=self.faults.audit_of(spec.name),
            assumptions=self.faults.assumptions,
            listening_ports=(default_listening_ports(spec.role) if faults.listening_ports is None
                             else faults.listening_ports),
            firewall_allows=faults.firewall_allows,
        )

    def _task_start_s(self, faults: HostFaults) -> float:
        if faults.task_start_s is not None:
            return faults.task_start_s
        latency = self.faults.latency
        return latency.task_start_s if latency.enabled else 0.0

    # --- lifecycle ----------------------------------------------------------------------------------------
    @property
    def auth(self) -> AuthMode:
        """HTTPS: Basic (the lab's certificate is validated by the client); HTTP: NTLM with message
        encryption — unless ``lab up --auth`` chose kerberos, ntlm, basic or certificate."""
        if self.options.auth == "default":
            return "basic" if self.spec.scheme == "https" else "negotiate"
        return "negotiate" if self.options.auth == "ntlm" else self.options.auth

    def start(self) -> None:
        tls = make_lab_ca(self.spec.state_dir) if self.spec.scheme == "https" else None
        auth = self.auth
        if auth == "kerberos":
            self._start_realm()
        if auth == "certificate" and tls is not None:
            self.client_cert = make_client_certificate(tls, f"{USER}@{DOMAIN}", self.spec.state_dir)
        self.server = LabServer(tls)
        self.server.start()
        global_rtt = self.options.rtt_ms if self.options.rtt_ms is not None else self.faults.rtt_ms
        for name, host in self.hosts.items():
            config = EndpointConfig(USERNAME, self.password, self.spec.scheme, 0, auth,
                                    spn_host=f"{name.lower()}.{DOMAIN}" if auth == "kerberos" else None,
                                    cert_user=f"{USER}@{DOMAIN}" if auth == "certificate" else None,
                                    idle_timeout_s=self.faults.winrm_idle_timeout_of(name),
                                    idle_reset=self.faults.assumptions.winrm_idle_close == "reset")
            debt = self.debts[name] = Debt(self.faults.latency)
            endpoint = self.server.add_endpoint(_LockedHost(host, self.lock, self._pipeline_ran, debt), config)
            own = self.faults.for_host(name)
            rtt_ms = own.rtt_ms if own.rtt_ms is not None else global_rtt
            state = FaultState(own, rtt_ms / 1000.0, partial(self._locked_out, host),
                               self.network.options.lockout_drops_established, debt)
            endpoint.hooks = state.hooks()
            self.endpoints[name] = endpoint
        self.ticker.start()

    def _start_realm(self) -> None:
        """The fleet's KDC; its keytab and krb5.conf become this process's (the acceptors read them)."""
        kerberos = self.faults.kerberos
        self.realm = LabRealm(self.spec.state_dir / "kdc", REALM, DOMAIN, list(self.hosts), USER, self.password,
                              skip_spn=frozenset(n for n in self.hosts if not self.faults.for_host(n).spn_registered),
                              kdc_clock_skew_s=kerberos.kdc_clock_skew_s, kdc_down=kerberos.kdc_down)
        self.realm.create()
        os.environ.update(self.realm.env)
        self.realm.start()

    def stop(self) -> None:
        self.ticker.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.realm is not None:
            self.realm.stop()

    # --- behaviour ----------------------------------------------------------------------------------------
    def _pipeline_ran(self, host: LabHost) -> None:
        if host.has_timers:
            self._timed.add(host.name)

    def _locked_out(self, host: LabHost) -> bool:
        """The controller's WinRM traffic to ``host`` is discarded now; each discard is audited as 4963
        ("IPsec dropped an inbound clear text packet that should have been secured", windows-behaviour §3)."""
        with self.lock:
            rule = self.network.controller_blocked_by(host)
            if rule is not None:
                host.add_event(4963, "IPsec dropped an inbound clear text packet that should have been secured",
                               {"RemoteAddress": self.spec.controller_address, "LocalPort": self.spec.winrm_port,
                                "Rule": rule})
            return rule is not None

    def _sleep(self, seconds: float) -> None:
        """Start-Sleep in a pipeline (which holds the fleet lock): wait with the lock released, so the
        network, the timers and other hosts' pipelines go on meanwhile (Condition.wait releases an RLock
        however deeply it is held, and takes it back)."""
        deadline = time.monotonic() + seconds
        with self._sleeping:
            while (left := deadline - time.monotonic()) > 0:
                self._sleeping.wait(left)

    def reachable_from_controller(self, name: str) -> bool:
        """A new WinRM connection from the controller would be accepted (not down, not locked out)."""
        return not self.faults.for_host(name).down and self.network.controller_blocked_by(self.hosts[name]) is None

    def tick(self) -> None:
        """Start due scheduled tasks and finish started ones (real wall-clock time, each host's clock; the
        tampering local user acts here too); now and then expire idle SAs.

        Expiry visits only SAs whose idle deadline has passed (SaTable keeps a heap of deadlines); it runs
        every quarter of the idle time (at most every 5 s): an SA outlives its idle limit by that much at
        worst. ASSUMPTION: Windows' own check interval is undocumented (windows-behaviour.md §6).
        """
        with self.lock:
            timed = [self.hosts[name] for name in sorted(self._timed)]
        for host in timed:
            with self.lock:  # per host, so the WinRM loop never waits for the whole fleet
                host.tick_tasks()
                if not host.has_timers:
                    self._timed.discard(host.name)
        # Group Policy: background and Invoke-GPUpdate refreshes. Every host has a domain link (any pipeline
        # may schedule another host's refresh), so this visit stays fleet-wide; it reads two numbers per host,
        # once a second (GP_VISIT_S), not every tick: refreshes are due minutes apart (Invoke-GPUpdate's delay
        # is in minutes, the background cycle 90 + 0-30), and 10,000 hosts five times a second were the lab's
        # largest cost between pipelines.
        if time.monotonic() >= self._next_refresh_visit:
            self._next_refresh_visit = time.monotonic() + GP_VISIT_S
            for host in list(self.hosts.values()):
                with self.lock:
                    due_refresh(host)
        if self.traffic.flows:
            with self.lock:
                self.traffic.tick()
        self.network.settle()  # negotiations that completed meanwhile: listed even on hosts nobody asks
        now = time.monotonic()
        if now >= self._next_expiry:
            idle = self.network.options.sa_idle_s or 300.0
            self._next_expiry = now + min(5.0, max(self.options.tick_s, idle / 4))
            self.network.expire()

    # --- views ----------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """How many WinRM endpoints are listening and serving (``lab up --detach`` waits for all)."""
        serving = sum(1 for ep in self.endpoints.values() if ep.server is not None and ep.server.is_serving())
        return {"ok": serving == len(self.hosts), "hosts": len(self.hosts), "serving": serving}

    def stats(self) -> dict[str, Any]:
        """This lab process's CPU seconds and peak RSS, and each host's WSMan request count (benchmarks)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        endpoints = list(self.endpoints.values())
        return {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "requests": {name: ep.counters.total for name, ep in self.endpoints.items()},
                # Descriptors: one listener per endpoint plus its open connections (the idle timer frees some).
                "open_fds": _open_fds(), "winrm_connections": sum(len(ep.connections) for ep in endpoints),
                "winrm_idle_closed": sum(ep.idle.closed for ep in endpoints),
                # The detached lab's time in the cyclic GC and its longest pause (absent in-process).
                **(gcpolicy.STATS.as_json() if gcpolicy.installed() else {})}

    def lab_json(self) -> dict[str, Any]:
        """DESIGN §5 ``lab.json`` (the caller adds ``pid`` and the control endpoint)."""
        tls = self.server.tls if self.server is not None else None
        username = self.realm.user_principal if self.realm is not None else USERNAME
        data: dict[str, Any] = {
            "ca_bundle": str(tls.ca_bundle) if tls is not None else None,
            "controller_address": self.spec.controller_address,
            "inventory": str(self.spec.inventory),
            "hosts": {
                name: {
                    "address": self.hosts[name].address,
                    "endpoint": ep.url,
                    "username": username,
                    "password": self.password,
                    "auth": ep.config.auth,
                    "role": self.roles[name],
                    **({"spn_hostname": ep.config.spn_host} if ep.config.spn_host else {}),
                }
                for name, ep in self.endpoints.items()
            },
        }
        if self.realm is not None:
            data.update({"krb5_conf": str(self.realm.krb5_conf), "realm": self.realm.realm})
        if self.client_cert is not None:
            data.update({"client_cert": str(self.client_cert[0]), "client_key": str(self.client_cert[1])})
        return data

    def inspect(self) -> dict[str, Any]:
        """DESIGN §5 ``lab inspect --json``: the host model's snapshot plus the fleet's view of it."""
        out: dict[str, Any] = {}
        for name, host in self.hosts.items():
            # One host at a time: the lock is shared with the WinRM loop, which must not stall for a whole
            # 1,000-host snapshot.
            with self.lock:
                snap = host.snapshot()
                snap["role"] = self.roles[name]
                snap["reachable_from_controller"] = self.reachable_from_controller(name)
                snap["controller_blocked_by"] = self.network.controller_blocked_by(host)
                ep = self.endpoints.get(name)
                snap["requests"] = ep.counters.as_dict() if ep is not None else {}
                snap["requests_by_auth"] = ep.auth_counts.as_dict() if ep is not None else {}
                snap["kerberos_delegated_logons"] = ep.auth_counts.delegated_logons if ep is not None else 0
                snap["endpoint"] = ep.url if ep is not None else None
                snap["winrm_idle_timeout_s"] = ep.idle.timeout_s if ep is not None else None
                snap["winrm_connections"] = len(ep.connections) if ep is not None else 0
                snap["winrm_idle_closed"] = ep.idle.closed if ep is not None else 0
                debt = self.debts.get(name)
                snap["modelled_latency_s"] = round(debt.total, 3) if debt is not None else 0.0
                out[name] = snap
        with self.lock:
            gpos = self.domain.inspect()
            traffic = self.traffic.to_json()
        return {"controller_address": self.spec.controller_address, "hosts": out, "gpos": gpos,
                "traffic": traffic, "latency": self.faults.latency.describe()}


def _open_fds() -> int | None:
    """This process's open file descriptors (Linux /proc; None elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
