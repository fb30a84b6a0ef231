"""The seam between one lab host and the shared network model (Test-NetConnection goes through it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from .state import LabHost


@dataclass(frozen=True)
class ProbeResult:
    """What a TCP connect attempt from this host found.

    ``matching_rules``: display names of the connection security rules that matched the flow (what
    ``Test-NetConnection -InformationLevel Detailed`` shows as MatchingIPsecRules). ``remote_address`` is
    the resolved destination when ``dest`` was a name (None = the address as given). ``outcome`` is what
    the SYN met: ``connected`` (a listening port), ``refused`` (a reset at once: the firewall lets the port
    in but nothing listens), ``dropped`` (no answer: blocked by the firewall, discarded by IPsec, or no
    such machine — the caller waits out its timeout). ``answer_in_s``: how long after the SYN the answer
    comes (a first SYN that met an SA still negotiating waits for a retransmission). ``real_waits``: a
    wait on the connect really passes (the fleet's latency model), else it is only recorded.
    """

    tcp_test_succeeded: bool
    matching_rules: tuple[str, ...] = ()
    source_address: str | None = None
    remote_address: str | None = None
    outcome: Literal["connected", "refused", "dropped"] | None = None
    answer_in_s: float = 0.0
    real_waits: bool = False

    @property
    def answer(self) -> Literal["connected", "refused", "dropped"]:
        return self.outcome or ("connected" if self.tcp_test_succeeded else "dropped")


class Network(Protocol):
    def probe(self, src_host: LabHost, dest_address: str, port: int, protocol: str) -> ProbeResult:
        """Attempt ``protocol`` traffic from ``src_host`` to ``dest_address:port`` (negotiating IPsec)."""

    def settle(self, host: LabHost) -> None:
        """Bring ``host``'s SA lists up to now (SAs whose negotiation has completed since)."""


class NoNetwork:
    """The default: the host is cabled to nothing, every connect attempt fails."""

    def probe(self, src_host: LabHost, dest_address: str, port: int, protocol: str) -> ProbeResult:
        return ProbeResult(tcp_test_succeeded=False, source_address=src_host.address, outcome="dropped")

    def settle(self, host: LabHost) -> None:
        return None
