"""Run a fleet in this process until told to stop: the body of ``lab up`` (foreground) and of the daemon.

The lab process owns ``lab.json``: it writes it once every endpoint listens and removes it on the way out,
so a reader that finds the file (with a live pid) finds a lab that answers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from .control import ControlServer
from .faults import check_for_auth, load_faults
from .fleet import Fleet, FleetOptions
from .labfile import lab_file_path, read_lab_file, write_lab_file
from .spec import load_fleet_spec


def serve(
    inventory: Path,
    faults_path: Path | None = None,
    options: FleetOptions | None = None,
    on_ready: Callable[[Fleet, Path], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    spec = load_fleet_spec(inventory)
    faults = load_faults(faults_path, spec)
    options = options or FleetOptions()
    check_for_auth(faults, options.auth, str(faults_path))
    stop = stop or threading.Event()
    fleet = Fleet(spec, faults, options)
    token = secrets.token_urlsafe(32)
    control = ControlServer(token, fleet.inspect, stop.set, fleet.health, fleet.stats)
    path = lab_file_path(spec.state_dir)
    previous = _install_signal_handlers(stop)
    try:
        fleet.start()
        control.start()
        data = fleet.lab_json()
        data["pid"] = os.getpid()
        data["control"] = {"url": control.url, "token": token}
        write_lab_file(spec.state_dir, data)
        if on_ready is not None:
            on_ready(fleet, path)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
                pass
    finally:
        control.stop()
        fleet.stop()
        mine = read_lab_file(spec.state_dir)
        if mine is not None and mine.data.get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        _restore_signal_handlers(previous)


_Handlers = dict[int, object]


def _install_signal_handlers(stop: threading.Event) -> _Handlers:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: _Handlers = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, lambda _signum, _frame: stop.set())
    return previous


def _restore_signal_handlers(previous: _Handlers) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]
