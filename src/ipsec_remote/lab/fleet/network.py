"""The shared network: traffic between lab hosts negotiates IPsec through the IKE model.

``FleetNetwork`` is every host's ``host.network`` (the seam ``Test-NetConnection`` uses). For a flow
src → dst:port it adapts both hosts' ActiveStore views (``adapt``), asks ``ike.negotiate`` what happens,
keeps the fleet's SAs in one ``ike.SaTable`` and mirrors each host's share into ``host.main_mode_sas`` /
``host.quick_mode_sas`` (what ``Get-NetIPsec*SA`` lists), and writes the outcome's audit events into
the Security log of the host that raised them.

Everything here runs under the fleet lock: pipelines (WinRM loop thread), timers and inspect never
interleave on one host's state.
"""

from __future__ import annotations

import heapq
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..host import HostPolicyView, LabHost, ProbeResult
from ..ike import Assumptions, Event, Flow, HostPolicy, NegotiationContext, Outcome, SaTable, effective_rule, negotiate
from ..ike.matching import endpoints, rule_matches
from .adapt import host_policy
from .spec import HostSpec

CONTROLLER = "controller"  # the name the controller's flows and SA peers carry
EPHEMERAL_PORT = 49152  # first port of the Windows dynamic range (IANA / KB929851); the lab's source port


@dataclass(frozen=True)
class NetworkOptions:
    sa_idle_s: float | None = None  # None: each host's MaxSAIdleTimeSeconds (300 s by default)
    assumptions: Assumptions = field(default_factory=Assumptions)
    kerberos_max_skew_s: float = 300.0  # "Maximum tolerance for computer clock synchronization" = 5 min
    # ASSUMPTION: what "LocalSubnet" covers — each lab address sits in its /24.
    subnet_prefix: int = 24
    # Inbound Require discards unauthenticated inbound *traffic* (PS-Set-NetIPsecRule -InboundSecurity; WFP
    # transport mode drops matching clear text per packet), so the controller's open WinRM connections die
    # with the rule change as well as new ones. [inference] False: only new connections are refused.
    lockout_drops_established: bool = True
    # The controller may run on a managed host (its address is that host's). Its WinRM traffic to another
    # host then leaves under that host's outbound rules and meets the target's inbound rules. Traffic to the
    # host's own address: WFP classifies it as loopback (FWP_CONDITION_FLAG_IS_LOOPBACK, learn.microsoft.com
    # windows/win32/fwp/filtering-condition-flags-), but whether connection security rules apply to it is
    # not documented. ASSUMPTION "loopback": they do not (the lab's probes already treat it so); "policy":
    # the host's own outbound and inbound rules apply as for a remote peer. The product must hold under both.
    own_address_traffic: Literal["loopback", "policy"] = "loopback"
    # The latency model (lab/fleet/latency.py): seconds an IKE negotiation takes before its SAs are listed
    # and carry traffic, and whether a TcpClient wait really passes (else it is only recorded).
    ike_negotiation_s: float = 0.0
    real_connect_waits: bool = False


# A SYN dropped while its SA negotiates is sent again after the initial RTO (3 s), then 6 s later; after
# TcpMaxConnectRetransmissions (2) the connect gives up at 21 s (the Windows defaults, lab/fleet/latency.py).
SYN_SENT_AT = (0.0, 3.0, 9.0)


class FleetNetwork:
    def __init__(self, controller_address: str, winrm_port: int, options: NetworkOptions,
                 lock: threading.RLock, clock: Callable[[], float] = time.monotonic) -> None:
        self.controller_address = controller_address
        self.winrm_port = winrm_port
        self.options = options
        self.lock = lock
        self.clock = clock
        self.sas = SaTable(idle_timeout_s=options.sa_idle_s, assumptions=options.assumptions)
        self._by_address: dict[str, LabHost] = {}
        self._by_name: dict[str, LabHost] = {}
        self._specs: dict[str, HostSpec] = {}
        self._dcs: list[LabHost] = []
        self._ripening: list[tuple[float, str]] = []  # (ready_at, host): SAs negotiated but not yet listed

    # --- membership -------------------------------------------------------------------------------------
    def attach(self, host: LabHost, spec: HostSpec) -> None:
        self._by_address[host.address] = host
        self._by_name[host.name.lower()] = host
        self._specs[host.name] = spec
        if spec.is_dc:
            self._dcs.append(host)
        host.network = self
        host.sa_listener = lambda which, sa: self._removed(host, sa)

    @property
    def hosts(self) -> list[LabHost]:
        return list(self._by_name.values())

    def policy(self, host: LabHost) -> HostPolicy:
        """The host's enforced policy as the IKE model takes it, rebuilt only after the host changed (every
        WinRM request asks whether the controller is locked out, every probe negotiates)."""
        is_dc, prefix = self._specs[host.name].is_dc, self.options.subnet_prefix
        policy: HostPolicy = host.derived(("ike_policy", is_dc, prefix),
                                          lambda: host_policy(host.active_policy(), is_dc, prefix))
        return policy

    def context(self) -> NegotiationContext:
        dcs = tuple(self.policy(h) for h in self._dcs)
        return NegotiationContext(dcs=dcs, kerberos_max_skew_s=self.options.kerberos_max_skew_s,
                                  assumptions=self.options.assumptions,
                                  negotiation_s=self.options.ike_negotiation_s)

    def resolve(self, target: str) -> str | None:
        """An address as given, or a lab host's name (short or FQDN) as DNS would resolve it."""
        text = target.strip()
        if text in self._by_address or text == self.controller_address:
            return text
        host = self._by_name.get(text.lower()) or self._by_name.get(text.split(".")[0].lower())
        if host is not None and (text.count(".") == 0 or text.lower().endswith("." + host.config.domain.lower())):
            return host.address
        return text if _is_address(text) else None

    # --- traffic ------------------------------------------------------------------------------------------
    def probe(self, src_host: LabHost, dest_address: str, port: int, protocol: str) -> ProbeResult:
        with self.lock:
            address = self.resolve(dest_address)
            if address is None:  # name resolution failed: nothing was sent
                return ProbeResult(False, (), src_host.address, None)
            tcp_like = protocol.upper() in ("TCP", "UDP")
            flow = Flow(src_host.name, src_host.address, address, protocol,
                        EPHEMERAL_PORT if tcp_like else 0, port if tcp_like else 0)
            view = src_host.active_policy()
            src = self.policy(src_host)
            matching = self._matching_rules(view, src, flow)
            if address == src_host.address:
                return ProbeResult(True, matching, src_host.address, address, "connected")  # loopback: no IPsec
            dst_host = self._by_address.get(address)
            if dst_host is None and address != self.controller_address:
                return ProbeResult(False, matching, src_host.address, address, "dropped")  # no such machine
            dst = self.policy(dst_host) if dst_host is not None else self.controller_policy()
            now = self.clock()
            self._settle(now)
            outcome = negotiate(src, dst, flow, self.context(), now, self.sas)
            self._record(outcome.events)
            self.negotiated(outcome, [src_host.name, dst.name], now)
            # IKE negotiates on the first packet whatever then happens to it; only a delivered SYN meets the
            # destination's ports: a listener answers, an allowed closed port resets at once, a port the
            # firewall blocks is silently dropped (the sender retransmits until its timeout). A SYN that
            # needs an SA still negotiating is dropped meanwhile (unless negotiation discovery lets it through
            # in clear): the first retransmission after the SA is up gets through.
            answer: Literal["connected", "refused", "dropped"] = "dropped"
            answer_in = 0.0
            if outcome.delivered and outcome.secured and not outcome.clear_first and outcome.ready_at > now:
                answer_in = next((t for t in SYN_SENT_AT if t >= outcome.ready_at - now), -1.0)
            if outcome.delivered and answer_in >= 0:
                answer = _port_answer(dst_host, port) if tcp_like else "connected"
            answer_in = max(answer_in, 0.0)
            return ProbeResult(answer == "connected", matching, src_host.address, address, answer,
                               answer_in, self.options.real_connect_waits)

    def controller_policy(self) -> HostPolicy:
        """The controller: not a lab host, no IPsec policy — it never initiates or answers IKE."""
        return HostPolicy(name=CONTROLLER, addresses=(self.controller_address,), domain_joined=False,
                          domain=None, cs_rules=())

    def controller_host(self) -> LabHost | None:
        """The lab host the controller runs on (its address is that host's), or None."""
        return self._by_address.get(self.controller_address)

    def controller_blocked_by(self, host: LabHost) -> str | None:
        """The rule that makes the controller's WinRM flow to ``host`` be discarded, or None.

        A controller outside the fleet cannot negotiate, so inbound Require drops its clear-text SYN
        (PS-Set-NetIPsecRule -InboundSecurity: unauthenticated inbound traffic is discarded); an exemption
        (None/None) or Request rule lets it in (boundary behaviour, windows-behaviour.md §3). A controller on
        a managed host sends from that host: both hosts' rules decide, as for any flow between two lab hosts.
        """
        with self.lock:
            own = self.controller_host()
            if own is None:
                # Asked on every WinRM request: the answer only changes when the host does.
                verdict: str | None = host.derived("controller_blocked_by", lambda: self._inbound_require(host))
                return verdict
            if own is host and self.options.own_address_traffic == "loopback":
                return None
            flow = Flow(own.name, own.address, host.address, "TCP", EPHEMERAL_PORT, self.winrm_port)
            # A fresh SA table: this is the check a new connection makes, not traffic that leaves SAs behind.
            outcome = negotiate(self.policy(own), self.policy(host), flow, self.context(), self.clock())
            if outcome.delivered:
                return None
            if "outbound Require" in outcome.reason:
                return f"{own.name}:{outcome.initiator_rule}"
            return outcome.responder_rule or outcome.reason

    def _inbound_require(self, host: LabHost) -> str | None:
        flow = Flow(CONTROLLER, self.controller_address, host.address, "TCP", EPHEMERAL_PORT, self.winrm_port)
        rule = effective_rule(self.policy(host), flow, "inbound", self.options.assumptions)
        return rule.name if rule is not None and rule.inbound_security == "Require" else None

    def _matching_rules(self, view: HostPolicyView, policy: HostPolicy, flow: Flow) -> tuple[str, ...]:
        """Test-NetConnection's MatchingIPsecRules: the display names of every CS rule the flow matches."""
        names = {r.name: r.display_name or r.name for r in view.cs_rules}
        ep = endpoints(flow, "outbound")
        return tuple(names.get(r.name, r.name) for r in policy.cs_rules
                     if rule_matches(r, policy, ep, self.options.assumptions))

    # --- SA bookkeeping ---------------------------------------------------------------------------------
    def settle(self, host: LabHost | None = None) -> None:
        """List the SAs whose negotiation has completed by now (Get-NetIPsec*SA asks first; the timer too)."""
        if self._ripening:
            with self.lock:
                self._settle(self.clock())

    def negotiated(self, outcome: Outcome, names: list[str], now: float) -> None:
        """Only a new SA changes what the hosts list: at once, or once its negotiation completes."""
        if outcome.reused or not (outcome.mm_sa_initiator or outcome.qm_sa_initiator):
            return
        if outcome.ready_at > now:
            for name in names:
                heapq.heappush(self._ripening, (outcome.ready_at, name))
        else:
            self._sync(names)

    def _settle(self, now: float) -> None:
        due = set()
        while self._ripening and self._ripening[0][0] <= now:
            due.add(heapq.heappop(self._ripening)[1])
        if due:
            self._sync(due)

    def expire(self) -> None:
        """Drop idle SAs (MaxSAIdleTimeSeconds, PS-Set-NetFirewallSetting) and log their end events."""
        with self.lock:
            events = self.sas.expire(self.clock())
            self._record(events)
            self._sync(e.host for e in events)

    def _removed(self, host: LabHost, sa: dict[str, Any]) -> None:
        """Remove-NetIPsec*SA on ``host``: the fleet table follows (and the peer, per assumption)."""
        with self.lock:
            cascade = host.config.assumptions.mm_sa_delete_cascades
            events = self.sas.remove_by_name(host.name, str(sa.get("Name")), cascade=cascade)
            self._record(events)
            self._sync([host.name, *(e.host for e in events)])

    def record(self, events: Iterable[Event]) -> None:
        """Audit events an outcome raised, each in the Security log of the lab host it names."""
        self._record(events)

    def sync(self, names: Iterable[str]) -> None:
        """Mirror the fleet's SA table into these hosts' ``Get-NetIPsec*SA`` lists."""
        self._sync(names)

    def _record(self, events: Iterable[Event]) -> None:
        for event in events:
            target = self._by_name.get(event.host.lower())
            if target is not None:
                target.add_event(event.id, event.message)

    def _sync(self, names: Iterable[str]) -> None:
        now = self.clock()
        for name in set(names):
            host = self._by_name.get(name.lower())
            if host is not None:
                host.main_mode_sas[:] = self.sas.mm_sas(host.name, now)
                host.quick_mode_sas[:] = self.sas.qm_sas(host.name, now)


def _port_answer(host: LabHost | None, port: int) -> Literal["connected", "refused", "dropped"]:
    """What a TCP SYN to ``port`` meets on ``host`` (the controller: it accepts whatever it is sent)."""
    if host is None or port in host.config.listening_ports:
        return "connected"
    return "refused" if port in host.config.allowed_ports else "dropped"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
