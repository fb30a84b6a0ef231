"""``ipsec-remote lab up|inspect|down``: start, look into and stop the simulated fleet (DESIGN §4–§5).

The commands are declared in ``app.py`` (the CLI contract); their bodies live here. ``up --detach`` starts
``python -m ipsec_remote.lab.fleet`` in its own session and returns once ``lab.json`` is written and the
lab's control endpoint reports every WinRM endpoint serving; ``inspect`` and ``down`` talk to that endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError, IpsecRemoteError
from ..lab.fleet.control import ControlError, call
from ..lab.fleet.fleet import Fleet, FleetOptions
from ..lab.fleet.labfile import LabFile, is_lab_process, lab_file_path, pid_alive, read_lab_file
from ..lab.fleet.runner import serve
from ..lab.fleet.spec import LabConfigError, load_fleet_spec

START_TIMEOUT_S = 300.0  # 1,000 hosts start in well under a minute; this only bounds a wedged start
STOP_TIMEOUT_S = 30.0


def _state_dir(inventory: Path) -> Path:
    return inventory.resolve().parent / ".ipsec-remote"


def _running(inventory: Path) -> LabFile | None:
    found = read_lab_file(_state_dir(inventory))
    if found is not None and not is_lab_process(found.pid):
        found.path.unlink(missing_ok=True)  # a lab that died without cleaning up (or a damaged file)
        return None
    return found


LAB_AUTHS = ("default", "basic", "ntlm", "kerberos", "certificate")


def up(inventory: Path, faults: Path | None, rtt_ms: int, detach: bool, auth: str = "default") -> None:
    if auth not in LAB_AUTHS:
        raise InputError("--auth", "", f"{auth!r} is not one of {', '.join(LAB_AUTHS)}")
    try:
        spec = load_fleet_spec(inventory)
        if faults is not None:
            from ..lab.fleet.faults import check_for_auth, load_faults

            check_for_auth(load_faults(faults, spec), auth, str(faults))  # refuse a bad fault file now
    except LabConfigError as exc:
        raise InputError(exc.file, exc.key_path, exc.problem) from None
    _check_auth_possible(auth, spec.scheme, inventory)
    running = _running(inventory)
    if running is not None:
        from .labdiff import lab_changes

        changes = lab_changes(spec, running.data)
        if changes:
            raise IpsecRemoteError(f"{inventory} changed since its lab started (pid {running.pid}): "
                                   f"{'; '.join(changes)}; run 'ipsec-remote lab down', then 'lab up' again")
        raise IpsecRemoteError(f"a lab is already running (pid {running.pid}, {running.path}); "
                               "run 'ipsec-remote lab down' first")
    options = FleetOptions(rtt_ms=rtt_ms or None, auth=auth)  # type: ignore[arg-type] # checked above
    # rtt_ms 0 is the option's default: "not given", faults decide
    if detach:
        _start_detached(inventory, faults, options)
        return

    def ready(fleet: Fleet, path: Path) -> None:
        typer.echo(f"lab up: {len(fleet.hosts)} hosts, state in {path}; Ctrl-C stops it", err=True)

    from ..lab.fleet.kdc import KdcError

    try:
        serve(inventory, faults, options, on_ready=ready)
    except KdcError as exc:
        raise IpsecRemoteError(f"lab up: {exc}") from None


def _check_auth_possible(auth: str, scheme: str, inventory: Path) -> None:
    if auth in ("basic", "certificate") and scheme != "https":
        raise InputError(str(inventory), "connection.scheme", f"a lab with --auth {auth} needs https")
    if auth == "kerberos":
        from ..lab.fleet.kdc import missing_binaries

        missing = missing_binaries()
        if missing:
            raise IpsecRemoteError(f"lab up --auth kerberos: MIT Kerberos KDC tools not installed "
                                   f"({', '.join(missing)}); run 'make kerberos'")


def _start_detached(inventory: Path, faults: Path | None, options: FleetOptions) -> None:
    state_dir = _state_dir(inventory)
    state_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "ipsec_remote.lab.fleet", str(inventory.resolve())]
    if faults is not None:
        args += ["--faults", str(faults.resolve())]
    if options.rtt_ms is not None:
        args += ["--rtt-ms", str(options.rtt_ms)]
    if options.auth != "default":
        args += ["--auth", options.auth]
    started = time.monotonic()
    log_path = state_dir / "lab.log"
    with open(log_path, "wb") as log:
        child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, close_fds=True)
    lab = _wait_ready(child, state_dir, log_path)
    elapsed = time.monotonic() - started
    typer.echo(f"lab up: {len(lab.data['hosts'])} hosts in {elapsed:.1f} s (pid {lab.pid}); "
               f"endpoints in {lab.path}")


def _wait_ready(child: subprocess.Popen[bytes], state_dir: Path, log_path: Path) -> LabFile:
    """Until the child wrote lab.json and its control endpoint reports every WinRM endpoint serving."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        rc = child.poll()
        if rc is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            raise IpsecRemoteError(f"the lab process exited with code {rc}: " + (" | ".join(tail) or "no output"))
        lab = read_lab_file(state_dir)
        if lab is not None and lab.pid == child.pid:
            try:
                health = call(lab.control_url, lab.control_token, "GET", "/health", timeout=10)
            except ControlError:
                health = {}
            if health.get("serving") == len(lab.data["hosts"]):
                return lab
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGTERM)
    raise IpsecRemoteError(f"the lab did not become ready within {START_TIMEOUT_S:.0f} s (see {log_path})")


def _require_running(inventory: Path) -> LabFile:
    lab = _running(inventory)
    if lab is None:
        raise IpsecRemoteError(f"no lab is running for {inventory} (no {lab_file_path(_state_dir(inventory))})")
    return lab


def inspect(inventory: Path, json_out: bool) -> None:
    lab = _require_running(inventory)
    try:
        state = call(lab.control_url, lab.control_token, "GET", "/inspect")
    except ControlError as exc:
        raise IpsecRemoteError(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(state, indent=2, default=str))
        return
    _render(state)


def _render(state: dict[str, Any]) -> None:
    table = Table(title=f"lab fleet (controller {state.get('controller_address', '?')})")
    for column in ("host", "address", "reach", "calls", "reqs", "rules P/G/A", "MM", "QM", "tasks", "events"):
        table.add_column(column, no_wrap=True)
    for name, host in state["hosts"].items():
        stores = host.get("stores", {})
        gpo = sum(len(s.get("rules", [])) for n, s in stores.items() if n != "PersistentStore")
        persistent = len(stores.get("PersistentStore", {}).get("rules", []))
        counts = f"{persistent}/{gpo}/{len(host.get('active_store', {}).get('rules', []))}"
        table.add_row(
            name, host["address"], "yes" if host["reachable_from_controller"] else "[red]NO[/red]",
            str(len(host["calls"])), str(host["requests"].get("total", 0)), counts,
            str(len(host["main_mode_sas"])), str(len(host["quick_mode_sas"])),
            str(len(host["scheduled_tasks"])), str(len(host["events"])),
        )
    Console(width=max(100, Console().width)).print(table)
    t = state.get("traffic") or {}
    if t.get("sent"):
        by_client = ", ".join(f"{k} {v}" for k, v in t.get("dropped_by_client", {}).items()) or "no clients"
        typer.echo(f"traffic: {t['sent']} packets sent, {t['delivered']} delivered, {t['dropped']} dropped "
                   f"({t['dropped_between_members']} between members; by client: {by_client})")


def down(inventory: Path) -> None:
    lab = _running(inventory)
    if lab is None:
        typer.echo(f"lab down: no lab is running for {inventory}", err=True)
        return
    try:
        call(lab.control_url, lab.control_token, "POST", "/shutdown", timeout=10)
    except ControlError:
        os.kill(lab.pid, signal.SIGTERM)  # the control endpoint is wedged: the daemon also stops on SIGTERM
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(lab.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(lab.pid):
        raise IpsecRemoteError(f"the lab process {lab.pid} did not stop within {STOP_TIMEOUT_S:.0f} s")
    lab.path.unlink(missing_ok=True)
    typer.echo(f"lab down: stopped pid {lab.pid}", err=True)
