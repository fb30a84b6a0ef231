"""Endpoint behaviour from faults and from the host's policy: refusals, HTTP 500s, drops and latency
(the round trip, and the time a Windows host would have spent: ``latency.Debt``).

The WinRM server consults these on its event loop, so each is a few dictionary look-ups and, for
``refuse_connection``, one rule evaluation — nothing that blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..winrm.counters import EndpointHooks, Verdict
from .faults import HostFaults
from .latency import Debt, LatencyModel


class FaultState:
    """Per-endpoint request numbering for ``winrm_errors`` and ``drop_after_calls``, and the lockout."""

    def __init__(self, faults: HostFaults, rtt_s: float, locked_out: Callable[[], bool],
                 drop_established: bool = True, debt: Debt | None = None) -> None:
        self.faults = faults
        self._rtt_s = rtt_s
        self.debt = debt or Debt(LatencyModel())
        self._locked_out = locked_out
        self._drop_established = drop_established
        self._seen = 0
        self._lock = threading.Lock()

    def refuse_connection(self) -> bool:
        # `down`: nothing listens for WinRM. Otherwise the host's own rules may lock the controller out.
        return self.faults.down or self._locked_out()

    def before_request(self, kind: str) -> Verdict:
        with self._lock:
            self._seen += 1
            n = self._seen
        if self._drop_established and self._locked_out():
            return "drop"  # the clear-text request of an open connection is discarded like a new SYN
        if n <= self.faults.winrm_errors:
            return "http500"
        limit = self.faults.drop_after_calls
        if limit is not None and n > limit:
            return "drop"
        return "ok"

    def rtt_s(self) -> float:
        return self._rtt_s

    def hooks(self) -> EndpointHooks:
        return EndpointHooks(
            refuse_connection=self.refuse_connection, before_request=self.before_request, rtt_s=self.rtt_s,
            owed_s=self.debt.take,
        )
