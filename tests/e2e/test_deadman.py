"""The dead-man's switch on hosts that fight it: a GPO AllSigned execution policy, a local user planting files
in its folder, hosts in other time zones, a clock that jumps, a slow task start — and the operator's Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ipsec_remote.lab.fleet.control import call
from ipsec_remote.lab.fleet.labfile import read_lab_file

from .conftest import Lab, running_lab
from .test_lockout import inventory as lockout_inventory
from .test_promote_rollback import pair_rule

PWNED = "C:\\ProgramData\\ipsec-remote-pwned.txt"
HOSTILE = """
rtt_ms = 80
[hosts.sql01]
execution_policy_gpo = "AllSigned"
utc_offset_min = -480
tamper_revert_files = true
[hosts.app01]
execution_policy_gpo = "AllSigned"
utc_offset_min = 330
"""


def security(hosts: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {n: (pair_rule(hosts[n])["InboundSecurity"], pair_rule(hosts[n])["OutboundSecurity"])
            for n in ("sql01", "app01")}


def inspect(lab: Lab) -> dict[str, Any]:
    """``lab inspect --json``'s hosts straight from the lab's control endpoint (fast enough to poll)."""
    lab_file = read_lab_file(lab.dir / ".ipsec-remote")
    assert lab_file is not None
    return call(lab_file.control_url, lab_file.control_token, "GET", "/inspect", timeout=10)["hosts"]  # type: ignore[no-any-return]


def wait_for(lab: Lab, what: Any, timeout_s: float) -> dict[str, Any]:
    """Poll the lab until ``what(hosts)`` holds (or the bound is over); the last hosts seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        hosts = inspect(lab)
        assert PWNED not in [f for h in hosts.values() for f in h["files"]], "a planted script ran as SYSTEM"
        if what(hosts) or time.monotonic() > deadline:
            return hosts
        time.sleep(0.05)


def start_promote(lab: Lab, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ipsec_remote", "promote", "--to", "require", "-i",
                             "inventory.toml", "--lab", *extra], cwd=lab.dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_killed_controller_on_hostile_hosts_in_three_time_zones(tmp_path: Path) -> None:
    """GPO AllSigned on both hosts, a tampering local user on sql01, UTC-8 and UTC+5:30: the hosts revert by
    themselves, on time, and nothing planted ever runs; then the drill and a normal promote pass."""
    with running_lab(tmp_path, faults=HOSTILE) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        assert "C:\\ProgramData\\ipsec-remote\\revert.ps1" in lab.inspect()["sql01"]["files"]  # planted
        # --skip-drill: the promotion's own arm meets the planted folder and must take it over.
        proc = start_promote(lab, "--confirm-timeout", "15", "--skip-drill")
        changed = wait_for(lab, lambda h: set(security(h).values()) == {("Require", "Request")}, 40)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert set(security(changed).values()) == {("Require", "Request")}, "the wave never changed the rules"
        tasks = {n: changed[n]["scheduled_tasks"] for n in ("sql01", "app01")}
        assert all(len(t) == 1 for t in tasks.values()), tasks
        for task in tasks.values():
            assert (task[0]["principal"], task[0]["logon_type"]) == ("SYSTEM", "ServiceAccount")
            assert "-EncodedCommand " in task[0]["arguments"] and "-File" not in task[0]["arguments"]
        # Each host's trigger is in its own local time; they are the same instant.
        at = {n: datetime.fromisoformat(t[0]["at"]) for n, t in tasks.items()}
        assert at["sql01"].utcoffset() == timedelta(hours=-8) and at["app01"].utcoffset() == timedelta(hours=5.5)
        assert abs((at["sql01"] - at["app01"]).total_seconds()) < 5

        # Before the deadline, status reads the armed reverts from the hosts.
        rc, status = lab.json("status", "inventory.toml", "--lab")
        armed = {a["host"]: a for a in status["armed_reverts"]}
        assert sorted(armed) == ["app01", "sql01"], status["armed_reverts"]
        assert armed["sql01"]["host_utc_offset"] == "UTC-08:00" and armed["app01"]["host_utc_offset"] == "UTC+05:30"
        for name in ("sql01", "app01"):  # the same instant the host's trigger holds, in UTC
            assert abs(datetime.fromisoformat(armed[name]["deadline_utc"]) - at[name]) < timedelta(seconds=1)
        assert all(a["seconds_left"] > 0 for a in armed.values())

        reverted = wait_for(lab, lambda h: set(security(h).values()) == {("Request", "Request")}
                            and not any(h[n]["scheduled_tasks"] for n in ("sql01", "app01")), 60)
        assert security(reverted) == {"sql01": ("Request", "Request"), "app01": ("Request", "Request")}
        for name in ("sql01", "app01"):
            assert reverted[name]["scheduled_tasks"] == [] and reverted[name]["reachable_from_controller"]
        assert "C:\\ProgramData\\ipsec-remote\\revert.ps1" not in reverted["sql01"]["files"]

        # The drill passes under AllSigned and with the user still trying; promote then confirms.
        rc, doctor = lab.json("doctor", "inventory.toml", "--lab", "--drill")
        assert rc == 0, doctor
        assert {h: (d["ok"], d["ran_as"]) for h, d in doctor["drills"].items()} == {
            "sql01": (True, "S-1-5-18"), "app01": (True, "S-1-5-18")}
        assert "AllSigned" in doctor["drills"]["sql01"]["execution_policy"]
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 0 and [w["status"] for w in report["waves"]] == ["confirmed"], report
        offsets = sorted(d["host_utc_offset"] for d in report["waves"][0]["deadlines"])
        assert offsets == ["UTC+05:30", "UTC-08:00"]
        wait_for(lab, lambda h: False, 0)  # one last look: nothing planted ever ran


def test_a_revert_that_fires_before_the_confirm_is_journalled_as_reverted(tmp_path: Path) -> None:
    """app01's clock steps a minute ahead right after it is armed (a time-sync correction): its task fires
    before the controller confirms. The wave is reverted, the journal says so for app01, and so does status.
    300 ms per request: the wave outlasts the lab's once-a-second task tick (see test_promises)."""
    faults = "rtt_ms = 300\n[hosts.app01]\nclock_step_after_task_s = 60\n"
    with running_lab(tmp_path, faults=faults) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1, report
        (wave,) = report["waves"]
        assert wave["status"] == "reverted", wave
        assert any(p.startswith("app01:") and "fired before the confirm" in p for p in wave["problems"]), wave
        hosts = lab.inspect()
        assert security(hosts) == {"sql01": ("Request", "Request"), "app01": ("Request", "Request")}
        assert not any(hosts[n]["scheduled_tasks"] for n in ("sql01", "app01"))
        rc, status = lab.json("status", "inventory.toml", "--lab")
        outcomes = {r["host"]: r["status"] for r in status["reverts"]}
        assert outcomes["app01"] == "reverted-before-confirm", status["reverts"]
        assert outcomes["sql01"] == "reverted-by-controller"
        assert status["armed_reverts"] == []
        text = lab.cli("status", "inventory.toml", "--lab").stdout
        assert "reverted on app01: its revert fired before the controller confirmed" in " ".join(text.split())


def test_ctrl_c_in_promote_prints_the_armed_reverts(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults="rtt_ms = 100\n[hosts.sql01]\nutc_offset_min = -480\n") as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        proc = start_promote(lab, "--confirm-timeout", "60", "--skip-drill")
        # Once the rules changed (a Ctrl-C before the change removes the switch again: nothing to revert).
        wait_for(lab, lambda h: all(h[n]["scheduled_tasks"] for n in ("sql01", "app01"))
                 and security(h) == {n: ("Require", "Request") for n in ("sql01", "app01")}, 40)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        lines = [line.split("armed revert on ", 1)[1] for line in err.splitlines() if "armed revert on " in line]
        assert {line.split(":")[0].strip() for line in lines} == {"sql01", "app01"}, err
        sql01 = next(line for line in lines if line.strip().startswith("sql01"))
        assert "host time (UTC-08:00)" in sql01 and " UTC, " in sql01 and "s left" in sql01
        assert "Traceback" not in err
        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")  # clears the armed tasks
        assert rc == 0, rolled
        assert not any(h["scheduled_tasks"] for h in inspect(lab).values())


def test_a_slow_task_is_polled_until_it_has_run(tmp_path: Path) -> None:
    """The controller is locked out, so only the hosts' tasks can revert; each task's powershell.exe takes
    5 s to start. The controller polls the tasks after the deadline instead of judging them too early."""
    faults = "[hosts.sql01]\ntask_start_s = 5\n[hosts.app01]\ntask_start_s = 5\n"
    with running_lab(tmp_path, lockout_inventory("controller"), faults=faults) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        # Server isolation wants an observation; the operator accepts cutting off the controller it names.
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "1s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                              "--confirm-timeout", "6", "--skip-drill", "--accept-breaking", "10.10.1.100")
        assert rc == 1, report
        (wave,) = report["waves"]
        assert wave["status"] == "reverted", wave
        assert not any("had not finished" in p or "no marker" in p for p in wave["problems"]), wave["problems"]
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert {r["host"]: r["status"] for r in status["reverts"]} == {
            "sql01": "reverted-by-task", "app01": "reverted-by-task"}, status["reverts"]


def test_a_failed_drill_is_recorded_and_promote_refuses_the_host(tmp_path: Path) -> None:
    """sql01's tasks take longer to start than the drill waits: the drill fails there, and promote will not
    touch sql01 (nor its pairs) until a drill passes."""
    with running_lab(tmp_path, faults="[hosts.sql01]\ntask_start_s = 30\n") as lab:
        book = lab.dir / "playbooks" / "server-to-server.toml"
        book.write_text(book.read_text().replace("revert_wait_s = 20", "revert_wait_s = 2"))
        rc, doctor = lab.json("doctor", "inventory.toml", "--lab", "--drill")
        assert rc == 1, doctor
        assert doctor["drills"]["app01"]["ok"] and not doctor["drills"]["sql01"]["ok"]
        assert "had not finished" in doctor["drills"]["sql01"]["problem"]
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 1 and list(report["refused_hosts"]) == ["sql01"], report
        assert "failed" in report["refused_hosts"]["sql01"] and report["waves"] == []
