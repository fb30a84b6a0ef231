"""Ctrl-C as a request to stop at the next step boundary, not in the middle of a batch.

The CLI turns the first SIGINT into ``request()``; commands call ``checkpoint()`` between steps (a phase,
a wave's arm/change/prove/confirm) and the fleet starts no new host's work once a stop is requested. What
was sent in flight finishes and is journalled; what was armed stays armed (the on-host revert fires at its
deadline). A second Ctrl-C raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import threading

from .errors import IpsecRemoteError

_requested = threading.Event()


class Interrupted(IpsecRemoteError):
    """A stop was requested; raised at a step boundary."""

    def __init__(self, where: str = "") -> None:
        super().__init__("stopped by Ctrl-C" + (f" before {where}" if where else ""))
        self.where = where


def request() -> None:
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def reset() -> None:
    _requested.clear()


def checkpoint(where: str = "") -> None:
    """Raise ``Interrupted`` if a stop was requested (call between steps, never inside one)."""
    if _requested.is_set():
        raise Interrupted(where)


def sleep(seconds: float) -> bool:
    """Wait ``seconds`` unless a stop is requested first; True when the wait was cut short."""
    return _requested.wait(max(0.0, seconds))
