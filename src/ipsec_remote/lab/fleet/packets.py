"""One packet through the lab network: what IPsec does to it on the sender and on the receiver.

``FleetNetwork.probe`` answers "does a TCP connect succeed" (a connect retransmits its SYN, so it outlives an
IKE exchange); the traffic model needs the fate of each packet of a running flow, which differs while an SA
is being negotiated. Per packet, from the documented behaviour (windows-behaviour.md §3, §6):

* the sender's outbound rule is None (no rule, an exemption): the packet goes in clear; a receiver whose
  inbound rule is Require discards it (PS-Set-NetIPsecRule -InboundSecurity; audit 4963);
* a live SA on both ends carries it, secured (a secured flow never downgrades while its SA lives);
* no SA yet: IKE starts. With Request outbound the packet is sent in clear meanwhile ("simultaneously sends
  the packets in clear-text and starts an IKE or AuthIP negotiation", WFP Negotiation Discovery Transport
  Mode), so a Require-inbound receiver drops it; with Require outbound "any matching clear text traffic is
  dropped until the IKE or AuthIP negotiation has completed" (WFP Transport Mode). How long IKE takes is
  undocumented: ``negotiation_s`` (the faults' ``[traffic] negotiation_ms``), during which the two hosts'
  packets fare the same way; 0 = only the packet that started it;
* the sender still has an SA its peer no longer has (one side's SAs were deleted): the receiver cannot
  match the packet's SPI and drops it (event 4965, "incorrect SPI", IPsec Driver); ASSUMPTION: the peers
  then negotiate afresh (IKE's INVALID-SPI notification; Windows' handling is undocumented);
* a negotiation that fails falls back as ``negotiate`` documents (Request: clear; Require: dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..host import LabHost
from ..ike import AmbiguousPrecedence, Flow, HostPolicy, effective_rule, negotiate
from .network import FleetNetwork

CLEAR_DROP = "IPsec dropped an inbound clear text packet that should have been secured"
BAD_SPI = "IPsec received a packet from a remote computer with an incorrect Security Parameter Index (SPI)"


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow: a lab host (``host`` set) or a machine outside the inventory (a client)."""

    name: str
    address: str
    policy: HostPolicy
    host: LabHost | None = None


@dataclass(frozen=True)
class PacketResult:
    delivered: bool
    secured: bool
    reason: str


class Packets:
    def __init__(self, network: FleetNetwork, negotiation_s: float = 0.0) -> None:
        self.network = network
        self.negotiation_s = negotiation_s
        self._usable_at: dict[frozenset[str], float] = {}  # host pair -> when the SAs just negotiated carry data

    def send(self, src: Endpoint, dst: Endpoint, protocol: str, src_port: int, dst_port: int,
             now: float) -> PacketResult:
        net = self.network
        a = net.options.assumptions
        flow = Flow(src.name, src.address, dst.address, protocol, src_port, dst_port)
        try:
            rule_out = effective_rule(src.policy, flow, "outbound", a)
            rule_in = effective_rule(dst.policy, flow, "inbound", a)
        except AmbiguousPrecedence as exc:  # tie_break = "error": the lab refuses to guess
            return PacketResult(False, False, f"dropped: {exc}")
        out = rule_out.outbound_security if rule_out else "None"
        inbound = rule_in.inbound_security if rule_in else "None"
        if out == "None":
            return self._clear(dst, inbound, "clear text: the sender does not secure this flow")
        pair = frozenset((src.name, dst.name))
        stale = (net.sas.find_mm(src.name, src.address, dst.address, now) is not None
                 and net.sas.find_mm(dst.name, dst.address, src.address, now) is None)
        try:
            outcome = negotiate(src.policy, dst.policy, flow, net.context(), now, net.sas)
        except AmbiguousPrecedence as exc:
            return PacketResult(False, False, f"dropped: {exc}")
        net.record(outcome.events)
        net.negotiated(outcome, [e.host.name for e in (src, dst) if e.host is not None], now)
        if outcome.secured and not outcome.reused:
            self._usable_at[pair] = max(now + self.negotiation_s, outcome.ready_at)
        if stale:
            if dst.host is not None:
                dst.host.add_event(4965, BAD_SPI, {"RemoteAddress": src.address})
            return PacketResult(False, False, f"dropped by {dst.name}: its SA with {src.name} is gone (event 4965)")
        if not outcome.secured:
            return PacketResult(outcome.delivered, False, outcome.reason)
        if outcome.reused and now >= self._usable_at.get(pair, 0.0):
            return PacketResult(True, True, "secured")
        # Sent while IKE negotiates (this packet started it, or one of the two hosts' did a moment ago).
        if out == "Require":
            return PacketResult(False, False, f"dropped by {src.name}: Require outbound holds clear text until "
                                              "IKE completes")
        return self._clear(dst, inbound, "sent in clear while IKE negotiates (negotiation discovery)")

    def _clear(self, dst: Endpoint, inbound: str, why: str) -> PacketResult:
        if inbound == "Require":
            if dst.host is not None:
                dst.host.add_event(4963, CLEAR_DROP)
            return PacketResult(False, False, f"dropped by {dst.name} (inbound Require): {why}")
        return PacketResult(True, False, why)
