"""The progress display fed by events (report/progress.py): counts, ETA, and plain lines with heartbeats."""

from __future__ import annotations

import io
import time

from ipsec_remote.events import Event, wave_event
from ipsec_remote.report.progress import ProgressState, ProgressView


def test_state_counts_hosts_pairs_waves_and_says_what_is_awaited() -> None:
    state = ProgressState(0.0)
    state.update("fleet", Event("connected to 3 of 3 hosts", "hosts", total=3), 0.0)
    state.update("fleet", Event("rules: 3 host(s) to change", "phase", name="rules", hosts=3), 1.0)
    state.update("sql01", Event("rules: 9 call(s) applied", "host_done", phase="rules"), 3.0)
    state.update("web01", Event("failed: refused", "host_failed"), 3.5)
    top, now = state.summary(5.0)
    assert top == "hosts 2/3 ok, 1 failed, 2/3 rules", top  # a failed host is done with the phase
    assert now == "now: rules: 3 host(s) to change — 4 s · ETA ~2 s (rules)", now
    state.update("fleet", Event("proving 2 pair(s)", "proving", total=2, pending=2, left_s=60), 10.0)
    state.update("app01", Event("pair app01 <-> sql01 verified", "pair_proven", a="app01", b="sql01"), 12.0)
    top, now = state.summary(30.0)
    assert top == "hosts 2/3 ok, 1 failed · pairs proven 1/2", top
    assert now == "now: proving 2 pair(s) — 20 s · ETA ≤ 40 s", now
    state.update("fleet", wave_event(1, 3, "canary", [("app01", "sql01")]), 40.0)
    state.update("fleet", wave_event(2, 3, "rest", [("app01", "sql01"), ("web01", "sql01")]), 70.0)
    top, now = state.summary(75.0)
    assert "wave 2/3 rest (3 hosts)" in top and now.endswith("ETA ~55 s (2 wave(s) left)"), (top, now)
    state.update("fleet", "wave 2: revert armed", 80.0)  # a plain message is what is awaited now
    assert state.summary(81.0)[1].startswith("now: wave 2: revert armed — 1 s"), state.summary(81.0)


def test_piped_prints_the_event_lines_and_a_still_line_when_silent() -> None:
    out = io.StringIO()
    view = ProgressView(live=False, stream=out, heartbeat_s=0.4)
    view("fleet", Event("proving 1 pair(s)", "proving", total=1, pending=1, left_s=30))
    deadline = time.monotonic() + 10
    while "still" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.1)
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "  fleet: proving 1 pair(s)"
    assert any(line.startswith("  … still proving 1 pair(s) — ") and "ETA ≤" in line for line in lines), lines
    view("fleet", "after close")  # nothing is printed once the result is being shown
    assert "after close" not in out.getvalue()
