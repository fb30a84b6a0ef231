"""Per-endpoint request counters and the hooks the fleet model uses to shape an endpoint's behaviour."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# The WSMan operations pypsrp sends; anything else is counted as "Other".
KINDS = ("Create", "Command", "Receive", "Send", "Signal", "Delete", "Get")
Verdict = Literal["ok", "http500", "drop", "close"]


class RequestCounters:
    """WSMan requests an endpoint received, by operation.

    A request counts once it is authenticated and parsed, before fault hooks decide its fate: it models
    what the Windows host saw, not what the client got back. Authentication legs (the empty NTLM
    handshake POSTs) are not WSMan requests and are not counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # read from other threads (tests, `lab inspect`) while the loop writes
        self._counts: dict[str, int] = dict.fromkeys((*KINDS, "Other"), 0)

    def add(self, kind: str) -> None:
        key = kind if kind in self._counts else "Other"
        with self._lock:
            self._counts[key] += 1

    def __getattr__(self, name: str) -> int:
        counts = self.__dict__.get("_counts")
        if counts is not None and name in counts:
            return int(counts[name])
        raise AttributeError(name)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """DESIGN §5 shape: one key per operation plus ``total`` (``Other`` only when non-zero)."""
        with self._lock:
            out = {k: self._counts[k] for k in KINDS}
            if self._counts["Other"]:
                out["Other"] = self._counts["Other"]
            out["total"] = sum(self._counts.values())
        return out

    def reset(self) -> None:
        with self._lock:
            for k in self._counts:
                self._counts[k] = 0


def _never() -> bool:
    return False


def _ok(kind: str) -> Verdict:
    return "ok"


def _no_delay() -> float:
    return 0.0


def _nothing_owed(kind: str) -> float:
    return 0.0


@dataclass
class EndpointHooks:
    """Callables consulted by the event loop, per connection or per request.

    They run on the lab's event loop thread and must be quick and non-blocking.

    * ``refuse_connection()`` — True: a new TCP connection is reset before TLS or HTTP (a lockout).
    * ``before_request(kind)`` — ``"ok"``, ``"http500"`` (answer HTTP 500), ``"drop"`` (reset the
      connection without answering) or ``"close"`` (close it in order without answering: what a client
      sees when the host's idle-connection timer fired as its request went out); ``kind`` is the WSMan
      operation, e.g. ``"Command"``.
    * ``rtt_s()`` — seconds added to every WSMan request (a slow or distant host).
    * ``owed_s(kind)`` — seconds the answer to this request waits after the host handled it (the time a
      Windows host would have spent: the fleet's latency model).
    """

    refuse_connection: Callable[[], bool] = field(default=_never)
    before_request: Callable[[str], Verdict] = field(default=_ok)
    rtt_s: Callable[[], float] = field(default=_no_delay)
    owed_s: Callable[[str], float] = field(default=_nothing_owed)
