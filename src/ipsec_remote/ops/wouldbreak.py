"""Would-break: the clear-text peers a rule raised to Require would cut off, from the latest observation (pure).

Require inbound discards unauthenticated inbound traffic and Require outbound discards outbound traffic that
cannot be secured (PS-Set-NetIPsecRule -InboundSecurity / -OutboundSecurity); with Require in and Request out,
only inbound connection attempts must be secured ("outbound connections are allowed to fallback to clear-text
while inbound connections are not", WFP Negotiation Discovery Transport Mode). So a clear-text flow the host
had is cut off when the raised rule governs it in a direction that becomes Require, and the peer cannot
negotiate: it is not exempt (exemptions win "regardless of other connection security rules",
windows-behaviour.md §1), and it is not a member whose pair with the host is proven. A rule governs the flows
it matches that no more specific rule of ours takes: a pair rule its peer's (protocol, ports), the isolation
rule everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..journal.observations import ClearFlow, Observation
from ..model.inventory import Inventory, Pair

ISOLATION_RULE = "isolation"


@dataclass(frozen=True)
class Breaking:
    host: str
    rule: str  # "isolation" or "pair with <peer>"
    flow: ClearFlow
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "rule": self.rule, **self.flow.to_json(), "why": self.why}


def _exempt(inv: Inventory, flow: ClearFlow) -> bool:
    skipped = set(inv.test_only_skip_exemptions)
    if any(e.address == flow.remote_address and e.role not in skipped for e in inv.exemptions):
        return True
    return ("controller" not in skipped and flow.remote_address == inv.controller.address
            and flow.direction == "inbound" and flow.protocol == "TCP" and flow.port in inv.policy.winrm_ports)


def _pair_covers(pair: Pair, serves: bool, flow: ClearFlow) -> bool:
    """The pair rule (host side ``serves`` = b) matches this flow with its peer: protocol, then the service
    port (b's local port) in the direction the port is served."""
    if pair.protocol == "Any":
        return True
    if flow.protocol != pair.protocol:
        return False
    if not pair.ports:
        return True
    towards_b = flow.direction == ("inbound" if serves else "outbound")
    return towards_b and flow.port in pair.ports


def breaking(inv: Inventory, host: str, rule: str, security: tuple[str, str], observation: Observation | None,
             proven: set[frozenset[str]], accepted: Iterable[str] = ()) -> tuple[list[Breaking], list[Breaking]]:
    """(would break, accepted by the operator) for ``rule`` on ``host`` raised to ``security`` (in, out).

    ``rule`` is :data:`ISOLATION_RULE` or a peer's host name (that pair's rule); ``proven``: pairs (as
    frozensets of host names) proven now or already promoted.
    """
    if observation is None:
        return [], []
    inbound, outbound = security
    members = {h.address: h.name for h in inv.hosts}
    mine = [(b, pair, False) for a, b, pair in inv.expanded_pairs() if a == host] + \
           [(a, pair, True) for a, b, pair in inv.expanded_pairs() if b == host]
    ok_accepted = set(accepted)
    out: list[Breaking] = []
    taken: list[Breaking] = []
    for flow in observation.flows:
        if flow.blocked:
            continue  # only refused attempts: nothing left to cut off
        if not ((flow.direction == "inbound" and inbound == "Require")
                or (flow.direction == "outbound" and outbound == "Require")):
            continue
        peer_pairs = [(pair, serves) for peer, pair, serves in mine if inv.host(peer).address == flow.remote_address]
        by_pair = any(_pair_covers(pair, serves, flow) for pair, serves in peer_pairs)
        if rule == ISOLATION_RULE:
            if by_pair:
                continue  # the pair rule is more specific: the isolation rule does not govern this flow
        elif members.get(flow.remote_address) != rule or not by_pair:
            continue
        if _exempt(inv, flow):
            continue
        peer = members.get(flow.remote_address)
        if peer is not None and frozenset((host, peer)) in proven:
            continue  # a member whose pair is proven negotiates
        why = ("not a member and not exempt" if peer is None else
               f"member {peer} without a proven pair with {host}" if peer_pairs else
               f"member {peer} has no pair with {host}")
        item = Breaking(host, "isolation" if rule == ISOLATION_RULE else f"pair with {rule}", flow, why)
        (taken if flow.remote_address in ok_accepted else out).append(item)
    return out, taken


def stale(observations: Mapping[str, Observation], hosts: Iterable[str], max_age_s: int,
          now: datetime | None = None) -> dict[str, str]:
    """Hosts without an observation at most ``max_age_s`` old (journal time), with the reason."""
    now = now or datetime.now(timezone.utc)
    out: dict[str, str] = {}
    for host in hosts:
        obs = observations.get(host)
        if obs is None:
            out[host] = ("server isolation needs an observation of its clear-text peers first: run "
                         "'ipsec-remote observe' (the playbook's promote.observation_max_age_s is "
                         f"{max_age_s} s)")
            continue
        try:
            at = datetime.fromisoformat(obs.recorded_at)
        except ValueError:
            at = None
        age = (now - at).total_seconds() if at is not None else None
        if age is None or age > max_age_s:
            shown = f"{round(age)} s old" if age is not None else "of unknown age"
            out[host] = (f"its latest observation ({obs.recorded_at}) is {shown}, older than the playbook's "
                         f"promote.observation_max_age_s ({max_age_s} s): run 'ipsec-remote observe' again")
    return out
