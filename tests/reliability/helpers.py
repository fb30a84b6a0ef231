"""Shared helpers of the reliability/security suite: the e2e harness (a lab started with the real CLI in a
temp dir), direct reads of the lab's control endpoint (fast enough to poll while a command runs), and the
checks every scenario ends with."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e.conftest import ROOT, Lab, changing_calls, running_lab
from ipsec_remote.cli.app import main
from ipsec_remote.lab.fleet.control import call
from ipsec_remote.lab.fleet.labfile import read_lab_file

__all__ = ["ROOT", "Lab", "changing_calls", "running_lab"]

MANAGED = ("sql01", "app01")


def control_inspect(lab: Lab) -> dict[str, Any]:
    """``lab inspect --json``'s document straight from the control endpoint (no CLI start-up per poll)."""
    lf = read_lab_file(lab.dir / ".ipsec-remote")
    assert lf is not None, "no lab.json"
    return call(lf.control_url, lf.control_token, "GET", "/inspect", timeout=10)["hosts"]  # type: ignore[no-any-return]


def requests_total(hosts: dict[str, Any]) -> dict[str, int]:
    return {name: int(h["requests"].get("total", 0)) for name, h in hosts.items()}


def owned(host: dict[str, Any], group: str = "ipsec-remote") -> list[str]:
    names = []
    for store in host["stores"].values():
        for objects in store.values():
            names += [str(o.get("Name") or o.get("IPsecRuleName")) for o in objects
                      if str(o.get("Group", "")) == group]
    return names


def popen_cli(lab: Lab, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPSEC_REMOTE_LIVE")}
    return subprocess.Popen([sys.executable, "-m", "ipsec_remote", *args], cwd=lab.dir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def kill_after_request(lab: Lab, args: tuple[str, ...], host: str, n: int, delay_s: float,
                       timeout_s: float = 60, died_by_signal: bool = False) -> dict[str, int]:
    """Run the CLI and SIGKILL it ``delay_s`` after ``host``'s endpoint received its n-th WSMan request of
    this run. Returns the request totals seen at the kill. Fails if the command ended before the point, and
    with ``died_by_signal`` if it ended by itself before the signal landed."""
    base = requests_total(control_inspect(lab))[host]
    proc = popen_cli(lab, *args)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            seen = requests_total(control_inspect(lab))
            if seen[host] - base >= n:
                break
            if proc.poll() is not None:
                _out, err = proc.communicate(timeout=10)
                raise AssertionError(f"{args} ended (rc={proc.returncode}) before {host}'s request {n} "
                                     f"(saw {seen[host] - base}): {err[-500:]}")
            assert time.monotonic() < deadline, f"{args}: {host} never reached request {n}"
            time.sleep(0.002)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=10)
        if died_by_signal:
            assert proc.returncode == -signal.SIGKILL, f"{args} ended by itself (rc={proc.returncode}): {err[-500:]}"
        return seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def journal_files(lab: Lab) -> list[Path]:
    return sorted((lab.dir / ".ipsec-remote").glob("*.db"))


def assert_journal_intact(lab: Lab) -> None:
    files = journal_files(lab)
    assert files, "no journal was written"
    for path in files:
        db = sqlite3.connect(path, timeout=10)
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
            # Every table of the schema is there and readable.
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"runs", "snapshots", "steps", "verifications", "waves", "reverts"} <= tables, tables
            for table in tables:
                db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        finally:
            db.close()


def cli_json(lab: Lab, *args: str, timeout: float = 120) -> tuple[int, Any, str]:
    proc = lab.cli(*args, "--json", timeout=timeout)
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except ValueError:
        raise AssertionError(f"{args}: not JSON (rc={proc.returncode}): {proc.stdout!r} {proc.stderr!r}") from None


def assert_converges(lab: Lab) -> None:
    """apply exits 0 with every pair verified; a further apply sends not one changing call."""
    rc, report, err = cli_json(lab, "apply", "inventory.toml", "--lab")
    assert rc == 0, (report, err)
    assert report["pairs"] and all(p["verified"] for p in report["pairs"]), report["pairs"]
    before = {n: len(changing_calls(h)) for n, h in control_inspect(lab).items()}
    rc, again, err = cli_json(lab, "apply", "inventory.toml", "--lab")
    assert rc == 0 and again["summary"] == {"add": 0, "change": 0, "destroy": 0}, (again, err)
    after = {n: len(changing_calls(h)) for n, h in control_inspect(lab).items()}
    assert after == before, (before, after)


def assert_rolls_back(lab: Lab, pristine: dict[str, Any], managed: tuple[str, ...] = MANAGED) -> None:
    """rollback exits 0 and every store is exactly as before the first apply; no task; all reachable."""
    rc, report, err = cli_json(lab, "rollback", "-i", "inventory.toml", "--lab")
    assert rc == 0, (report, err)
    hosts = control_inspect(lab)
    for name in managed:
        assert owned(hosts[name]) == [], (name, owned(hosts[name]))
        assert hosts[name]["scheduled_tasks"] == [], (name, hosts[name]["scheduled_tasks"])
        assert hosts[name]["reachable_from_controller"], name
        assert hosts[name]["stores"] == pristine[name]["stores"], name


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
    return code, out.getvalue(), err.getvalue()


def assert_one_line(name: str, rc: int, out: str, err: str, file: str, where: str) -> None:
    lines = err.strip("\n").split("\n")
    assert rc == 2, (name, rc, out, err)
    assert out == "", (name, out)
    assert len(lines) == 1 and lines[0], (name, err)
    assert "Traceback" not in err, (name, err)
    assert file in lines[0], (name, file, lines[0])
    if where:
        assert f": {where}" in lines[0], (name, where, lines[0])
