"""Clients and continuous flows in the lab: packets through the IPsec model, counted; connection tables.

Each flow is a connection from a source (a client, or the ``a`` host of an inventory pair) to a lab host's
port. Every ``interval`` it sends a request and, if that arrives, an answer; each packet goes through
``packets.Packets`` (the hosts' rules and SAs as they are at that instant). Besides the timer, every flow
also sends one exchange whenever a lab host's IPsec policy or SAs change (``on_change``): the traffic is
continuous, so each intermediate state of a rollout — one end promoted before the other, an SA deleted
mid-flow — meets a packet, deterministically.

TCP: the first exchange of a connection is its SYN / SYN-ACK; a connection whose packets have not arrived for
``TCP_GIVE_UP_S`` is gone (its sender gave up retransmitting) and the next exchange opens a new one from a
new source port. ``per_talk`` clients open a new connection for every exchange and close it right after.
UDP: a 5-tuple per flow (new source port per exchange with ``per_talk``).

What the hosts see: their connection tables (``tcp_table``/``udp_table``, behind Get-NetTCPConnection and
Get-NetUDPEndpoint) and, when *Filtering Platform Connection* is audited, event 5156 for each connection a
host accepts or initiates (event-5156.md: fields in EventData order). The lab writes no 5157: whether the
IPsec callout's discard of a clear-text connection attempt is audited as 5157 is undocumented (4963 is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..host import LabHost
from ..ike import CsRule, Flow, HostPolicy, effective_rule
from ..ike.matching import select_mm_rule
from .network import FleetNetwork
from .packets import Endpoint, Packets
from .spec import FleetSpec
from .traffic_spec import ClientSpec, TrafficConfig

EPHEMERAL_FIRST, EPHEMERAL_LAST = 49152, 65535  # Windows' dynamic port range (KB929851)
# Windows retransmits unanswered data TcpMaxDataRetransmissions (5) times with a doubling timeout before it
# drops the connection; ~30 s with a 1 s initial RTO. The exact figure is not what the lab measures.
TCP_GIVE_UP_S = 30.0
MAX_CATCH_UP_S = 5.0  # a starved timer skips what it missed beyond this rather than bursting
PERMITTED = "The Windows Filtering Platform has permitted a connection."
INBOUND, OUTBOUND = "%%14592", "%%14593"  # event-5156.md Direction values (Inbound / Outbound)
LAYER_ACCEPT, LAYER_CONNECT = "%%14610", "%%14611"  # ALE Receive/Accept, ALE Connect
STATE_LISTEN, STATE_ESTABLISHED = 2, 5  # MSFT_NetTCPConnection.State


@dataclass
class _Conn:
    src_port: int
    opened: datetime  # the destination's clock when it was accepted
    last_delivered: float


@dataclass
class _Flow:
    kind: Literal["client", "member"]
    owner: str  # client name, or "a->b" for a pair
    src: str  # client name or lab host name
    src_address: str
    dst: LabHost
    port: int
    protocol: Literal["TCP", "UDP"]
    interval_s: float
    per_talk: bool
    client: ClientSpec | None = None
    next_at: float = 0.0
    started: bool = False
    conn: _Conn | None = None
    next_port: int = EPHEMERAL_FIRST
    sent: int = 0
    dropped: int = 0
    last_problem: str | None = None


@dataclass
class Counters:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    dropped_between_members: int = 0
    dropped_by_client: dict[str, int] = field(default_factory=dict)


class TrafficModel:
    def __init__(self, config: TrafficConfig, spec: FleetSpec, network: FleetNetwork, hosts: Mapping[str, LabHost],
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.spec = spec
        self.network = network
        self.hosts = dict(hosts)
        self.clock = clock
        self.packets = Packets(network, config.negotiation_ms / 1000.0)
        self.counters = Counters(dropped_by_client={c.name: 0 for c in config.clients})
        self.flows: list[_Flow] = []
        for client in config.clients:
            for talk in client.talks_to:
                self.flows.append(_Flow("client", client.name, client.name, client.address, self.hosts[talk.host],
                                        talk.port, talk.protocol, client.interval_ms / 1000.0,
                                        client.connection == "per_talk", client))
        if config.between_members_interval_ms is not None:
            for m in config.members:
                if m.a in self.hosts and m.b in self.hosts:
                    self.flows.append(_Flow("member", f"{m.a}->{m.b}", m.a, self.hosts[m.a].address,
                                            self.hosts[m.b], m.port, m.protocol,
                                            config.between_members_interval_ms / 1000.0, False))
        self._policies: dict[str, HostPolicy] = {}

    # --- driving ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Send what is due (the fleet timer, under the fleet lock)."""
        now = self.clock()
        self._policies = {}
        for flow in self.flows:
            if not flow.started:
                flow.started, flow.next_at = True, now
            if now - flow.next_at > MAX_CATCH_UP_S:
                flow.next_at = now
            while flow.next_at <= now:
                self._exchange(flow, now)
                flow.next_at += flow.interval_s

    def on_change(self) -> None:
        """A lab host's policy or SAs just changed: every running flow has a packet in flight now."""
        now = self.clock()
        self._policies = {}
        for flow in self.flows:
            if flow.started:
                self._exchange(flow, now)

    # --- one exchange -------------------------------------------------------------------------------------
    def _exchange(self, flow: _Flow, now: float) -> None:
        if flow.conn is not None and now - flow.conn.last_delivered > TCP_GIVE_UP_S:
            flow.conn = None  # the sender gave up: the connection is gone from both tables
        new = flow.conn is None or flow.per_talk
        src_port = self._port(flow) if new else flow.conn.src_port  # type: ignore[union-attr]
        src, dst = self._endpoints(flow, src_port)
        request = self._send(flow, src, dst, src_port, flow.port, now)
        if request and new:
            flow.conn = _Conn(src_port, flow.dst.now(), now)
            self._audit_open(flow, src_port)
        if request:
            answer = self._send(flow, dst, src, flow.port, src_port, now)
            if answer and flow.conn is not None:
                flow.conn.last_delivered = now
        if flow.per_talk:
            flow.conn = None

    def _send(self, flow: _Flow, src: Endpoint, dst: Endpoint, sport: int, dport: int, now: float) -> bool:
        result = self.packets.send(src, dst, flow.protocol, sport, dport, now)
        c = self.counters
        c.sent += 1
        flow.sent += 1
        if result.delivered:
            c.delivered += 1
            return True
        c.dropped += 1
        flow.dropped += 1
        flow.last_problem = result.reason
        if flow.kind == "member":
            c.dropped_between_members += 1
        else:
            c.dropped_by_client[flow.owner] = c.dropped_by_client.get(flow.owner, 0) + 1
        return False

    def _port(self, flow: _Flow) -> int:
        port = flow.next_port
        flow.next_port = EPHEMERAL_FIRST if port >= EPHEMERAL_LAST else port + 1
        return port

    def _endpoints(self, flow: _Flow, src_port: int) -> tuple[Endpoint, Endpoint]:
        dst = Endpoint(flow.dst.name, flow.dst.address, self._policy(flow.dst), flow.dst)
        if flow.client is None:
            host = self.hosts[flow.src]
            return Endpoint(host.name, host.address, self._policy(host), host), dst
        policy = client_policy(flow.client, dst.policy, Flow(flow.client.name, flow.client.address, dst.address,
                                                             flow.protocol, src_port, flow.port),
                               self.network)
        return Endpoint(flow.client.name, flow.client.address, policy), dst

    def _policy(self, host: LabHost) -> HostPolicy:
        found = self._policies.get(host.name)
        if found is None:
            found = self._policies[host.name] = self.network.policy(host)
        return found

    def _audit_open(self, flow: _Flow, src_port: int) -> None:
        """Event 5156 where the connection was permitted: inbound on the destination, outbound on a lab host
        source (EventData order of event-5156.md; Source = the local end, Dest = the remote end)."""
        proto = 6 if flow.protocol == "TCP" else 17
        flow.dst.add_event(5156, PERMITTED, _event_data(INBOUND, flow.dst.address, flow.port, flow.src_address,
                                                        src_port, proto, LAYER_ACCEPT, 44))
        source = self.hosts.get(flow.src) if flow.client is None else None
        if source is not None:
            source.add_event(5156, PERMITTED, _event_data(OUTBOUND, source.address, src_port, flow.dst.address,
                                                          flow.port, proto, LAYER_CONNECT, 48))

    # --- what hosts and inspect see -----------------------------------------------------------------------
    def tcp_table(self, host: LabHost) -> list[dict[str, Any]]:
        """MSFT_NetTCPConnection properties of ``host``'s connections now (listeners first)."""
        rows: list[dict[str, Any]] = []
        listening = sorted({f.port for f in self.flows if f.dst is host and f.protocol == "TCP"}
                           | {self.spec.winrm_port})
        for port in listening:
            rows.append(_tcp("0.0.0.0", port, "0.0.0.0", 0, STATE_LISTEN, None))
        # The controller's WinRM connection this very pipeline arrived on.
        rows.append(_tcp(host.address, self.spec.winrm_port, self.spec.controller_address, EPHEMERAL_FIRST,
                         STATE_ESTABLISHED, host.now()))
        for flow in self.flows:
            conn = flow.conn
            if conn is None or flow.protocol != "TCP":
                continue
            if flow.dst is host:
                rows.append(_tcp(host.address, flow.port, flow.src_address, conn.src_port, STATE_ESTABLISHED,
                                 conn.opened))
            elif flow.client is None and flow.src == host.name:
                rows.append(_tcp(host.address, conn.src_port, flow.dst.address, flow.port, STATE_ESTABLISHED,
                                 conn.opened))
        return rows

    def udp_table(self, host: LabHost) -> list[dict[str, Any]]:
        """MSFT_NetUDPEndpoint properties: local address and port only (the class has no remote end)."""
        ports = sorted({f.port for f in self.flows if f.dst is host and f.protocol == "UDP"})
        rows = [{"LocalAddress": "0.0.0.0", "LocalPort": p} for p in ports]
        for flow in self.flows:
            if flow.protocol == "UDP" and flow.client is None and flow.src == host.name and flow.conn is not None:
                rows.append({"LocalAddress": host.address, "LocalPort": flow.conn.src_port})
        return rows

    def to_json(self) -> dict[str, Any]:
        """``lab inspect --json`` top-level ``traffic`` (DESIGN §5), with each flow's own figures besides."""
        c = self.counters
        return {"sent": c.sent, "delivered": c.delivered, "dropped": c.dropped,
                "dropped_between_members": c.dropped_between_members,
                "dropped_by_client": dict(c.dropped_by_client),
                "flows": [{"kind": f.kind, "owner": f.owner, "from": f.src_address, "to": f.dst.address,
                           "port": f.port, "protocol": f.protocol, "sent": f.sent, "dropped": f.dropped,
                           "connected": f.conn is not None, "last_problem": f.last_problem} for f in self.flows]}


def client_policy(client: ClientSpec, dst: HostPolicy, flow: Flow, network: FleetNetwork) -> HostPolicy:
    """A client's IPsec policy: none (``ipsec = false``), or one Request/Request rule toward any peer using
    the destination's own sets for this flow — a domain member configured like the fleet."""
    a = network.options.assumptions
    rule = effective_rule(dst, flow, "inbound", a) if client.ipsec else None
    if rule is None or rule.is_exemption:
        return HostPolicy(name=client.name, addresses=(client.address,), domain_joined=client.ipsec,
                          domain=dst.domain if client.ipsec else None, cs_rules=())
    mm = select_mm_rule(dst, flow.dst_address, flow.src_address, a)
    mirrored = CsRule(name=f"{client.name}-isolation", inbound_security="Request", outbound_security="Request",
                      key_module=rule.key_module, qm_crypto=rule.qm_crypto or dst.default_qm_crypto,
                      phase1_auth=rule.phase1_auth or (mm.phase1_auth if mm else None) or dst.default_phase1_auth)
    return HostPolicy(name=client.name, addresses=(client.address,), domain_joined=True, domain=dst.domain,
                      machine_cert_authorities=dst.machine_cert_authorities, cs_rules=(mirrored,),
                      default_mm_crypto=(mm.mm_crypto if mm else None) or dst.default_mm_crypto)


def _tcp(local: str, lport: int, remote: str, rport: int, state: int, created: datetime | None) -> dict[str, Any]:
    # AppliedSetting 0 = Internet (which TCP template a server applies is not what the lab models);
    # OwningProcess 4 = System; OffloadState 0 = InHost (the class page's value lists).
    return {"LocalAddress": local, "LocalPort": lport, "RemoteAddress": remote, "RemotePort": rport,
            "State": state, "AppliedSetting": 0, "OwningProcess": 4, "CreationTime": created, "OffloadState": 0}


def _event_data(direction: str, local: str, lport: int, remote: str, rport: int, proto: int, layer: str,
                layer_id: int) -> dict[str, Any]:
    return {"ProcessID": 4, "Application": "System", "Direction": direction, "SourceAddress": local,
            "SourcePort": str(lport), "DestAddress": remote, "DestPort": str(rport), "Protocol": proto,
            "FilterRTID": 0, "LayerName": layer, "LayerRTID": layer_id, "RemoteUserID": "S-1-0-0",
            "RemoteMachineID": "S-1-0-0"}
