"""What the operator sees while a command runs, fed by the events ops pass to ``say`` (events.py).

On a terminal (stderr is a TTY): a live rich display — hosts done/failed, pairs proven, the current wave,
what is being waited for and for how long, an ETA — with each event line printed above it. Piped (CI logs,
``2> file``): the event lines as before (``  host: message``), and a ``still …`` line whenever nothing was
printed for a few seconds, so a long wait is never silent.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from ..events import data_of, kind_of

HEARTBEAT_S = 5.0  # piped: the longest silence before a "still …" line


def _secs(value: float) -> str:
    value = max(0, round(value))
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


class ProgressState:
    """The counts the display shows, updated from events (pure bookkeeping, no output)."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.total_hosts: int | None = None
        self.failed: set[str] = set()
        self.phase: str | None = None
        self.phase_hosts = 0
        self.phase_done: set[str] = set()
        self.phase_started = now
        self.pairs_total: int | None = None
        self.proven: set[tuple[str, str]] = set()
        self.wave: dict[str, Any] | None = None
        self.waves_done = 0
        self.wave_started = now
        self.first_wave_started = now
        self.activity = "starting"
        self.activity_since = now
        self.activity_limit_s: float | None = None

    def update(self, host: str, message: str, now: float) -> None:
        kind, data = kind_of(message), data_of(message)
        if kind == "hosts":
            self.total_hosts = int(data.get("total", 0))
        elif kind == "host_failed":
            self.failed.add(host)
            self.phase_done.add(host)  # finished with this phase, badly
        elif kind == "phase":
            self.phase, self.phase_hosts, self.phase_done, self.phase_started = (
                str(data.get("name")), int(data.get("hosts", 0)), set(), now)
        elif kind == "host_done":
            self.phase_done.add(host)
        elif kind == "proving":
            self.phase = None  # the hosts' part is over: what is awaited now is the pairs
            if data.get("total") is not None:
                self.pairs_total = (self.pairs_total or 0) + int(data["total"])
        elif kind == "pair_proven":
            self.proven.add((str(data.get("a")), str(data.get("b"))))
        elif kind == "wave":
            if self.wave is None:
                self.first_wave_started = now
            else:
                self.waves_done += 1
            self.wave, self.wave_started, self.phase = data, now, None
        if host != "fleet" and kind in ("host_done", "host_failed", "pair_proven"):
            return  # a step done: what is being waited for has not changed
        self.activity = str(message)
        self.activity_since = now
        self.activity_limit_s = float(data["left_s"]) if data.get("left_s") is not None else None

    def eta(self, now: float) -> str | None:
        if self.activity_limit_s is not None:
            return f"≤ {_secs(self.activity_limit_s - (now - self.activity_since))}"
        if self.phase and self.phase_hosts and self.phase_done and len(self.phase_done) < self.phase_hosts:
            per_host = (now - self.phase_started) / len(self.phase_done)
            return f"~{_secs(per_host * (self.phase_hosts - len(self.phase_done)))} ({self.phase})"
        if self.wave and self.waves_done:
            per_wave = (self.wave_started - self.first_wave_started) / self.waves_done
            left = int(self.wave.get("total", 0)) - self.waves_done  # the current one included
            return f"~{_secs(per_wave * left - (now - self.wave_started))} ({left} wave(s) left)"
        return None

    def summary(self, now: float) -> list[str]:
        parts = []
        if self.total_hosts is not None:
            done = f", {len(self.phase_done)}/{self.phase_hosts} {self.phase}" if self.phase else ""
            parts.append(f"hosts {self.total_hosts - len(self.failed)}/{self.total_hosts} ok, "
                         f"{len(self.failed)} failed{done}")
        if self.pairs_total:
            parts.append(f"pairs proven {len(self.proven)}/{self.pairs_total}")
        if self.wave:
            parts.append(f"wave {self.wave.get('number')}/{self.wave.get('total')} {self.wave.get('name')} "
                         f"({self.wave.get('hosts')} hosts)")
        now_line = f"now: {self.activity} — {_secs(now - self.activity_since)}"
        eta = self.eta(now)
        return [" · ".join(parts) if parts else f"running — {_secs(now - self.started)}",
                now_line + (f" · ETA {eta}" if eta else "")]


class ProgressView:
    """The ``say`` callback's display; ``close()`` before the command prints its result."""

    def __init__(self, live: bool, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._state = ProgressState(time.monotonic())
        self._last_output = time.monotonic()
        self._closed = threading.Event()
        self._live: Any = None
        if live:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            console = Console(file=self._stream, highlight=False)
            self._live = Live(console=console, refresh_per_second=2, transient=True,
                              get_renderable=lambda: Text("\n".join(self._lines())))
            self._live.start()
        else:
            self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat_s,), daemon=True)
            self._beat.start()

    def _lines(self) -> list[str]:
        with self._lock:
            return self._state.summary(time.monotonic())

    def __call__(self, host: str, message: str) -> None:
        if self._closed.is_set():
            return
        line = f"  {host}: {message}"
        with self._lock:
            self._state.update(host, message, time.monotonic())
            self._last_output = time.monotonic()
        if self._live is not None:
            self._live.console.print(line, markup=False)
        else:
            self._write(line)

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def _heartbeat(self, every_s: float) -> None:
        while not self._closed.wait(min(1.0, every_s / 2)):
            with self._lock:
                now = time.monotonic()
                if now - self._last_output < every_s:
                    continue
                self._last_output = now
                summary, activity = self._state.summary(now)
            self._write(f"  … still {activity.removeprefix('now: ')} [{summary}]")

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._live is not None:
            self._live.stop()


def open_view(stream: TextIO | None = None) -> ProgressView:
    stream = stream or sys.stderr
    return ProgressView(live=stream.isatty(), stream=stream)
