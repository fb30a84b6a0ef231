"""apply's preflight rides in its read pipeline (one pipeline per host): a fresh host's exemptions ride there
too, behind an on-host gate (invoke_batch.ps1 -Preflight) at least as strict as the preflight's errors — a
host with one gets nothing, and the Python preflight fails it with its usual line."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .conftest import ROOT, changing_calls, host_powershell, running_lab


def six_hosts(tmp_path: Path) -> tuple[str, list[str]]:
    """bench's 6-host inventory (bench/fleetgen.py): the lab the README's request figures are measured on."""
    spec = importlib.util.spec_from_file_location("fleetgen", ROOT / "bench" / "fleetgen.py")
    assert spec is not None and spec.loader is not None
    fleetgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fleetgen)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "generated.toml"
    names: list[str] = fleetgen.write_inventory(path, 6)
    return path.read_text(), names


def totals(hosts: dict[str, Any]) -> dict[str, int]:
    return {n: int(h["requests"].get("total", 0)) for n, h in hosts.items()}


def exemptions(host: dict[str, Any]) -> list[dict[str, Any]]:
    """The exemption rules created on the host (New-NetIPsecRule None/None)."""
    return [c for c in changing_calls(host) if c["cmdlet"] == "New-NetIPsecRule"
            and (c["params"].get("InboundSecurity"), c["params"].get("OutboundSecurity")) == ("None", "None")]


def test_a_fresh_apply_costs_9_requests_per_host_with_the_preflight(tmp_path: Path) -> None:
    inventory, names = six_hosts(tmp_path / "gen")
    with running_lab(tmp_path / "lab", inventory) as lab:
        before = totals(lab.inspect())
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        assert report["preflight"] is not None and {f["host"] for f in report["preflight"]} == set(names)
        after = totals(lab.inspect())
        # pool open 2, the read (preflight, state, fresh exemptions) 2, the rules 2, the proof 2, close 1
        assert {n: after[n] - before[n] for n in names} == {n: 9 for n in names}
        rc, again = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and again["summary"] == {"add": 0, "change": 0, "destroy": 0}, again
        noop = totals(lab.inspect())
        # nothing to change: pool open 2, the read 2, the proof 2, close 1
        assert {n: noop[n] - after[n] for n in names} == {n: 7 for n in names}


# One lab, one fresh host per preflight error the lab can inject (lab/fleet/faults.py), on bench's 6 hosts.
FAULTS = """
[hosts.web000-00]
ikeext = "disabled"
[hosts.web000-01]
local_ipsec_merge = false
[hosts.web000-02]
clock_skew_s = 600
[hosts.app000-03]
clock_skew_s = -600
"""
BLOCKED = {"web000-00": "IKEEXT is Disabled", "web000-01": "AllowLocalIPsecRules = False",
           "web000-02": "clock skew", "app000-03": "clock skew"}


def test_a_fresh_host_with_a_preflight_error_gets_nothing(tmp_path: Path) -> None:
    inventory, names = six_hosts(tmp_path / "gen")
    with running_lab(tmp_path / "lab", inventory, faults=FAULTS) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1, report
        assert sorted(report["failed_hosts"]) == sorted(BLOCKED), report["failed_hosts"]
        hosts = lab.inspect()
        for host, problem in BLOCKED.items():
            line = report["failed_hosts"][host]
            assert line.startswith(f"{host}: preflight: ") and problem in line, line
            assert "nothing was changed on this host" in line, line
            assert changing_calls(hosts[host]) == [], (host, changing_calls(hosts[host]))
        for host in set(names) - set(BLOCKED):  # the others went on: exemptions and rules
            assert exemptions(hosts[host]) and len(changing_calls(hosts[host])) > 1, host


def test_the_gate_is_stricter_and_then_costs_only_the_normal_exemption_phase(tmp_path: Path) -> None:
    # 270 s behind: within Kerberos' 300 s (no preflight error), but past the gate's "behind" bound (it
    # leaves a minute for the pipeline): the batch is refused on the host, the exemptions come in their
    # own phase — one pipeline (2 requests) more.
    inventory, names = six_hosts(tmp_path / "gen")
    with running_lab(tmp_path / "lab", inventory, faults="[hosts.sql000-05]\nclock_skew_s = -270\n") as lab:
        before = totals(lab.inspect())
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        after = totals(lab.inspect())
        assert {n: after[n] - before[n] for n in names} == {n: 11 if n == "sql000-05" else 9 for n in names}
        assert exemptions(lab.inspect()["sql000-05"])


def test_bfe_or_mpssvc_stopped_blocks_a_fresh_host(tmp_path: Path) -> None:
    with running_lab(tmp_path) as lab:
        host_powershell(lab, "app01", "Stop-Service -Name MpsSvc")
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1 and list(report["failed_hosts"]) == ["app01"], report
        line = report["failed_hosts"]["app01"]
        assert "MpsSvc is Stopped" in line and "nothing was changed on this host" in line, line
        hosts = lab.inspect()
        assert changing_calls(hosts["app01"]) == []
        assert exemptions(hosts["sql01"])
        host_powershell(lab, "app01", "Start-Service -Name MpsSvc; Stop-Service -Name BFE")
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1 and "BFE is Stopped" in report["failed_hosts"]["app01"], report
        assert changing_calls(lab.inspect()["app01"]) == []




# IKEEXT stopped (not disabled) is no error by itself (it is trigger-started); event 5453 while it is still
# stopped is. A legacy rule of app01's own (Request/Request toward sql01) makes a connection negotiate.
EVENT_5453 = """
[hosts.app01]
ikeext = "stopped"
[hosts.app01.audit]
ipsec_main_mode = "success_and_failure"
[[hosts.app01.preexisting.rules]]
name = "legacy-request"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.20"]
"""
CONNECT = ("$c = New-Object -TypeName System.Net.Sockets.TcpClient; "
           "$a = $c.BeginConnect('10.10.1.20', 445, $null, $null); [void]$a.AsyncWaitHandle.WaitOne(3000)")


def test_event_5453_while_ikeext_is_stopped_blocks_a_fresh_host(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults=EVENT_5453) as lab:
        host_powershell(lab, "app01", CONNECT)  # fails: IKEEXT is not started (event 5453 on app01)
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1 and list(report["failed_hosts"]) == ["app01"], report
        line = report["failed_hosts"]["app01"]
        assert "event 5453" in line and "nothing was changed on this host" in line, line
        hosts = lab.inspect()
        assert changing_calls(hosts["app01"]) == []
        assert exemptions(hosts["sql01"])
