"""Python's cyclic garbage collector in a process that holds a large heap for its whole life.

A full (generation-2) collection visits every tracked object. The controller of a 10,000-host run and the
one-process lab that simulates the fleet keep millions of them alive from start to end (the inventory, one
session or simulated host per machine, its state), so each full collection cost seconds, and they come
again and again as the heap grows: at 3,000 hosts the lab spent 12 s of 62 CPU s in them, the longest
pause 3.5 s with every thread of the process stopped — the lab's WinRM loop included, which is how a
whole neighbourhood of hosts timed out at once at 10,000 (bench-big).

``freeze_after_full_collections`` moves what survived each full collection into the permanent generation
(``gc.freeze``): the next full collection visits only what was allocated since. Reference counting frees
everything as before; the one difference is that a reference cycle that was alive at a full collection
and dies later is not reclaimed by the collector. In a process that runs one command and exits (the CLI)
or one lab session, that is bounded by what was in flight at each of a few collections.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any


class GcStats:
    """Time this process spent in the cyclic collector (all generations) and its longest pause."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.longest_s = 0.0
        self.full_collections = 0
        self._started: float | None = None
        self._lock = threading.Lock()

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        took, self._started = time.perf_counter() - self._started, None
        with self._lock:
            self.seconds += took
            self.longest_s = max(self.longest_s, took)
            if info.get("generation") == 2:
                self.full_collections += 1

    def as_json(self) -> dict[str, float | int]:
        with self._lock:
            return {"gc_s": round(self.seconds, 3), "gc_longest_pause_s": round(self.longest_s, 3),
                    "gc_full_collections": self.full_collections}


STATS = GcStats()


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def freeze_after_full_collections() -> None:
    """From now on, what survives a full collection is never visited again (see the module). Idempotent.
    For processes of their own (the CLI's entry point, the detached lab), not a library caller's."""
    if STATS not in gc.callbacks:
        gc.callbacks.append(STATS)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def installed() -> bool:
    return _freeze_survivors in gc.callbacks
