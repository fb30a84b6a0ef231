"""The fleet's one timer thread: due scheduled tasks run on real wall-clock time, idle SAs expire.

A dead-man's switch is a one-time scheduled task (``New-ScheduledTaskTrigger -Once -At``) that must fire
even while nobody talks to the host, so time advances here rather than on the next WinRM request.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Tickable(Protocol):
    def tick(self) -> None: ...


class Ticker:
    def __init__(self, target: Tickable, interval_s: float) -> None:
        self._target = target
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lab-timers", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._target.tick()
            except Exception:  # one bad task script must not stop every other host's timers
                log.exception("lab timer tick failed")
