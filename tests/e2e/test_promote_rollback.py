"""promote behind the dead-man's switch, and rollback, end to end against the lab."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import Lab, changing_calls, running_lab


def owned(host: dict[str, Any]) -> list[str]:
    names = []
    for store in host["stores"].values():
        for objects in store.values():
            names += [str(o.get("Name") or o.get("IPsecRuleName")) for o in objects
                      if str(o.get("Group", "")) == "ipsec-remote"]
    return names


def pair_rule(host: dict[str, Any]) -> dict[str, Any]:
    rules = host["stores"]["PersistentStore"]["rules"]
    return next(r for r in rules if str(r.get("Name")) == "ipsec-remote-pair-app01-sql01")


def test_promote_to_require_then_rollback(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    # No drill yet: promote refuses both hosts, says why, and changes nothing.
    before = {n: len(changing_calls(h)) for n, h in lab.inspect().items()}
    rc, refused = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
    assert rc == 1 and sorted(refused["refused_hosts"]) == ["app01", "sql01"], refused
    assert all("doctor --drill" in why for why in refused["refused_hosts"].values())
    assert refused["waves"] == [] and {n: len(changing_calls(h)) for n, h in lab.inspect().items()} == before
    rc, doctor = lab.json("doctor", "inventory.toml", "--lab", "--drill")
    assert rc == 0, doctor
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
    assert rc == 0, report
    assert [w["status"] for w in report["waves"]] == ["confirmed"]
    rc, status = lab.json("status", "inventory.toml", "--lab")
    (pair,) = status["pairs"]
    assert rc == 0 and pair["verified"]
    assert (pair["inbound_security"], pair["outbound_security"]) == ("Require", "Request")
    hosts = lab.inspect()
    assert all(not h["scheduled_tasks"] for h in hosts.values())  # confirmed: the switch is gone
    assert all(pair_rule(hosts[n])["InboundSecurity"] == "Require" for n in ("sql01", "app01"))

    rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
    assert rc == 0, rolled
    hosts = lab.inspect()
    for name in ("sql01", "app01"):
        assert owned(hosts[name]) == []
        assert hosts[name]["scheduled_tasks"] == []
        assert hosts[name]["reachable_from_controller"]
    before = {n: len(changing_calls(h)) for n, h in hosts.items()}
    rc, again = lab.json("rollback", "-i", "inventory.toml", "--lab")
    assert rc == 0 and not any(again["removed"].values())
    assert {n: len(changing_calls(h)) for n, h in lab.inspect().items()} == before


def test_killed_controller_is_reverted_by_the_on_host_task(tmp_path: Path) -> None:
    # 500 ms per WinRM request keeps the window between change and confirm (proof, a fresh session's
    # opening, the confirm: ~7 requests) wide enough to hit with `lab inspect` polls on a loaded machine.
    with running_lab(tmp_path, faults="rtt_ms = 500\n") as lab:
        _kill_between_change_and_confirm(lab)


def _kill_between_change_and_confirm(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "ipsec_remote", "promote", "--to", "require", "-i",
                             "inventory.toml", "--lab", "--confirm-timeout", "8", "--skip-drill"],
                            cwd=lab.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Kill the controller as soon as the wave changed the rules but before it could confirm. The lab's control
    # endpoint is polled directly (a `lab inspect` CLI start-up per poll can outlast the window under load).
    from reliability.helpers import control_inspect

    deadline = time.monotonic() + 30
    changed = False
    while time.monotonic() < deadline and not changed and proc.poll() is None:
        hosts = control_inspect(lab)
        changed = all(pair_rule(hosts[n])["InboundSecurity"] == "Require" for n in ("sql01", "app01"))
        if not changed:
            time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert changed, "the wave never changed the rules"
    assert proc.returncode == -signal.SIGKILL, "promote finished before the kill: the window was missed"
    tasks_seen = lab.inspect()
    time.sleep(12)  # past the 8 s deadline: the scheduled task fires on the host itself
    hosts = lab.inspect()
    for name in ("sql01", "app01"):
        assert pair_rule(hosts[name])["InboundSecurity"] == "Request", name
        assert hosts[name]["scheduled_tasks"] == []
        assert hosts[name]["reachable_from_controller"]
    assert all(tasks_seen[n]["scheduled_tasks"] for n in ("sql01", "app01"))  # killed while armed
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 0 and status["pairs"][0]["inbound_security"] == "Request"
