"""``ipsec-remote lab up --detach`` / ``lab inspect --json`` / ``lab down`` from a shell, and bad fault files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import INVENTORY


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120)


def test_up_detach_inspect_down(tmp_path: Path) -> None:
    (tmp_path / "inventory.toml").write_text(INVENTORY)
    (tmp_path / "faults.toml").write_text('rtt_ms = 1\n[hosts.web01]\ndown = true\n')
    up = cli(tmp_path, "lab", "up", "inventory.toml", "--faults", "faults.toml", "--detach")
    assert up.returncode == 0, up.stderr
    lab_file = tmp_path / ".ipsec-remote" / "lab.json"
    try:
        assert stat.S_IMODE(lab_file.stat().st_mode) == 0o600
        lab = json.loads(lab_file.read_text())
        assert lab["controller_address"] == "10.10.1.100"
        assert Path(lab["ca_bundle"]).is_file()
        assert set(lab["hosts"]) == {"sql01", "app01", "web01", "dc01"}
        ports = set()
        for name, host in lab["hosts"].items():
            assert host["endpoint"].startswith("https://127.0.0.1:") and host["endpoint"].endswith("/wsman")
            assert host["username"] == "LAB\\admin" and len(host["password"]) >= 16, name
            ports.add(host["endpoint"])
        assert len(ports) == 4  # one port per host
        os.kill(lab["pid"], 0)  # the lab process outlived `lab up`

        again = cli(tmp_path, "lab", "up", "inventory.toml", "--detach")
        assert again.returncode == 1 and "already running" in again.stderr

        inspect = cli(tmp_path, "lab", "inspect", "inventory.toml", "--json")
        assert inspect.returncode == 0, inspect.stderr
        hosts = json.loads(inspect.stdout)["hosts"]
        assert hosts["sql01"]["address"] == "10.10.1.20"
        assert hosts["sql01"]["reachable_from_controller"] is True
        assert hosts["web01"]["reachable_from_controller"] is False  # down = true
        for key in ("calls", "requests", "stores", "main_mode_sas", "quick_mode_sas", "scheduled_tasks", "events"):
            assert key in hosts["sql01"], key
        assert set(hosts["sql01"]["stores"]["PersistentStore"]) >= {
            "rules", "main_mode_rules", "main_mode_crypto_sets", "quick_mode_crypto_sets",
            "phase1_auth_sets", "phase2_auth_sets"}
        assert hosts["sql01"]["requests"]["total"] == 0

        human = cli(tmp_path, "lab", "inspect", "inventory.toml")
        assert human.returncode == 0 and "sql01" in human.stdout and "NO" in human.stdout
    finally:
        down = cli(tmp_path, "lab", "down", "inventory.toml")
    assert down.returncode == 0, down.stderr
    assert not lab_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(lab["pid"], 0)
    assert cli(tmp_path, "lab", "down", "inventory.toml").returncode == 0  # nothing running: still fine
    gone = cli(tmp_path, "lab", "inspect", "inventory.toml", "--json")
    assert gone.returncode == 1 and "no lab is running" in gone.stderr


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ("[hosts.sql01]\nikext = 'disabled'\n", "faults.toml: hosts.sql01.ikext: unknown fault key"),
        ("[hosts.sql02]\ndown = true\n", "faults.toml: hosts.sql02: unknown host (not in the inventory)"),
        ("rtt = 5\n", "faults.toml: rtt: unknown fault key"),
        ("[hosts.sql01]\nwinrm_errors = -1\n", "faults.toml: hosts.sql01.winrm_errors: must be a whole number"),
        ("[hosts.sql01]\nikeext = 'paused'\n", "faults.toml: hosts.sql01.ikeext: 'paused' is not one of"),
        ("[hosts.sql01.preexisting]\nrules = [{ name = 'x', inbound = 'Require' }]\n",
         "faults.toml: hosts.sql01.preexisting.rules[0].inbound: unknown parameter of New-NetIPsecRule"),
        ("[hosts.sql01.preexisting]\nfirewall = []\n", "faults.toml: hosts.sql01.preexisting.firewall: unknown"),
        ("[[hosts.sql01.preexisting.rules]]\nname = 'x'\ninbound_security = 'Require'\noutbound_security = 'None'\n",
         "faults.toml: hosts.sql01.preexisting: New-NetIPsecRule: The parameter is incorrect."),
        ("[hosts.sql01.audit]\nipsec_main = 'failure'\n", "faults.toml: hosts.sql01.audit.ipsec_main: unknown audit"),
        ("[audit]\nipsec_driver = 'on'\n", "faults.toml: audit.ipsec_driver: 'on' is not one of none, success,"),
        ("[assumptions]\nauditpol_text = 'german'\n", "faults.toml: assumptions.auditpol_text: 'german' is not"),
    ],
)
def test_bad_fault_file_is_one_line_and_exit_2(tmp_path: Path, faults: str, message: str) -> None:
    (tmp_path / "inventory.toml").write_text(INVENTORY)
    (tmp_path / "faults.toml").write_text(faults)
    proc = cli(tmp_path, "lab", "up", "inventory.toml", "--faults", "faults.toml", "--detach")
    assert proc.returncode == 2
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".ipsec-remote" / "lab.json").exists()


def test_foreground_up_runs_until_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "inventory.toml").write_text(INVENTORY)
    proc = subprocess.Popen([sys.executable, "-m", "ipsec_remote", "lab", "up"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lab_file = tmp_path / ".ipsec-remote" / "lab.json"
    try:
        deadline = time.monotonic() + 60
        while not lab_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert json.loads(lab_file.read_text())["pid"] == proc.pid
        inspect = cli(tmp_path, "lab", "inspect", "--json")
        assert inspect.returncode == 0 and set(json.loads(inspect.stdout)["hosts"]) == {"sql01", "app01", "web01",
                                                                                        "dc01"}
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Ctrl-C stops it" in err
    assert not lab_file.exists()


def test_stale_or_damaged_lab_file_does_not_block_up(tmp_path: Path) -> None:
    (tmp_path / "inventory.toml").write_text(INVENTORY)
    state = tmp_path / ".ipsec-remote"
    state.mkdir()
    # A pid that is alive but is not a lab (this test runner's parent shell or init) must not count.
    (state / "lab.json").write_text(json.dumps({"pid": 1, "hosts": {}}))
    assert cli(tmp_path, "lab", "down").returncode == 0
    assert not (state / "lab.json").exists()
    (state / "lab.json").write_text("{not json")
    up = cli(tmp_path, "lab", "up", "--detach")
    try:
        assert up.returncode == 0, up.stderr
    finally:
        assert cli(tmp_path, "lab", "down").returncode == 0
