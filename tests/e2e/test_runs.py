"""One run at a time per journal, and Ctrl-C at a step boundary (issue 12), with the real CLI as processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import Lab, running_lab


def popen(lab: Lab, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPSEC_REMOTE_LIVE")}
    return subprocess.Popen([sys.executable, "-m", "ipsec_remote", *args], cwd=lab.dir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for(lab: Lab, check: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check(lab.inspect()):
        assert time.monotonic() < deadline, "timed out waiting for the lab"
        time.sleep(0.05)


def runs(lab: Lab) -> list[tuple[str, str]]:
    (db,) = (lab.dir / ".ipsec-remote").glob("lab-state-*.db")
    with sqlite3.connect(db) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT command, status FROM runs ORDER BY id")]


def test_a_second_run_is_refused_and_a_killed_runs_lock_taken_over(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults="rtt_ms = 500\n") as lab:
        first = popen(lab, "apply", "inventory.toml", "--lab")
        wait_for(lab, lambda hosts: any(h["requests"].get("total", 0) for h in hosts.values()))
        lock = next((lab.dir / ".ipsec-remote").glob("lab-state-*.db.lock"))
        assert f'"pid": {first.pid}' in lock.read_text()
        second = lab.cli("apply", "inventory.toml", "--lab")
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, out + err
        assert second.returncode == 1, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert "another run holds the journal" in lines[0] and f"pid {first.pid}, 'apply', started 20" in lines[0]

        killed = popen(lab, "rekey", "inventory.toml", "--lab")
        wait_for(lab, lambda hosts: sum(h["requests"].get("total", 0) for h in hosts.values()) > 0)
        time.sleep(0.5)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
        proc = lab.cli("status", "inventory.toml", "--lab")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"took over the journal lock of a run that ended without releasing it (pid {killed.pid}, 'rekey'" \
            in proc.stderr
        assert ("rekey", "interrupted") in runs(lab)


def _pair_rule(host: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in host["stores"]["PersistentStore"]["rules"]
                if r["Name"] == "ipsec-remote-pair-app01-sql01")


def test_ctrl_c_during_promote_reports_the_armed_reverts(tmp_path: Path) -> None:
    # 500 ms per request keeps the wave between its rule change and its confirm (proof, a fresh session's
    # opening, the confirm: ~7 requests) longer than a `lab inspect` poll even on a loaded machine (at 150 ms
    # the bench branch's faster controller confirmed before the Ctrl-C arrived).
    with running_lab(tmp_path, faults="rtt_ms = 500\n") as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        proc = popen(lab, "promote", "--to", "require", "-i", "inventory.toml", "--lab", "--confirm-timeout", "20",
                     "--skip-drill")
        wait_for(lab, lambda hosts: all(_pair_rule(hosts[n])["InboundSecurity"] == "Require"
                                        for n in ("sql01", "app01")))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        assert "stopped by Ctrl-C before " in err and " wave 1 (its revert stays armed" in err, err
        assert "the run is marked interrupted in the journal" in err
        assert "done: wave 1 interrupted" in err and "not done: the remaining waves" in err
        armed = [line for line in err.splitlines() if "armed revert on" in line]
        assert sorted(line.split()[4].rstrip(":") for line in armed) == ["app01", "sql01"], err
        assert all(" fires at 20" in line and " host time (UTC" in line for line in armed)
        assert "Traceback" not in err
        assert runs(lab)[-1] == ("promote --to require", "interrupted")
        # Stopped between change and confirm: the hosts put their rules back themselves at the deadline.
        wait_for(lab, lambda hosts: all(_pair_rule(hosts[n])["InboundSecurity"] == "Request"
                                        and not hosts[n]["scheduled_tasks"] for n in ("sql01", "app01")), 60)


def test_ctrl_c_during_apply_says_what_was_done_and_what_was_not(tmp_path: Path) -> None:
    # 600 ms per request: the phases after the exemptions (sets, main-mode rules, rules: a pipeline each) take
    # longer than a `lab inspect` poll on a loaded machine (at 300 ms the apply finished first).
    with running_lab(tmp_path, faults="rtt_ms = 600\n") as lab:
        proc = popen(lab, "apply", "inventory.toml", "--lab", "--json")
        # Stop once the exemptions are there (the next step boundary is the rules, or the verification).
        wait_for(lab, lambda hosts: any(h["stores"]["PersistentStore"]["rules"] for h in hosts.values()))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        report = json.loads(out)
        assert report["interrupted"] is True and report["ok"] is False
        made = sum(1 for h in lab.inspect().values() for objects in h["stores"]["PersistentStore"].values()
                   for o in objects if o.get("Group") == "ipsec-remote")
        assert report["summary"]["add"] == made and sum(report["not_done"].values()) == 14 - made
        assert "stopped by Ctrl-C before the " in err, err
        assert f"done: {made} added" in err and "not done: " in err and "no revert is armed" in err, err
        assert runs(lab)[-1] == ("apply", "interrupted")
        again = lab.cli("apply", "inventory.toml", "--lab")
        assert again.returncode == 0, again.stdout + again.stderr


def test_ctrl_c_before_the_change_removes_the_switch_again(tmp_path: Path) -> None:
    """app01 answers slowly: sql01's revert task is registered while the controller still waits for app01's
    arm. A Ctrl-C then stops before any rule changes, and the tasks are removed again (the stop does not
    skip the removal)."""
    with running_lab(tmp_path, faults="rtt_ms = 20\n[hosts.app01]\nrtt_ms = 1500\n") as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        proc = popen(lab, "promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill", "--json")
        wait_for(lab, lambda hosts: bool(hosts["sql01"]["scheduled_tasks"]))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        report = json.loads(out)
        (wave,) = report["waves"]
        assert wave["status"] == "aborted" and report["armed_reverts"] == [], report
        assert "no revert is armed by this run" in err, err
        hosts = lab.inspect()
        assert all(_pair_rule(hosts[n])["InboundSecurity"] == "Request" and not hosts[n]["scheduled_tasks"]
                   for n in ("sql01", "app01")), hosts
        assert runs(lab)[-1] == ("promote --to require", "interrupted")
