"""README and --help promises about hosts, end to end over the lab (tests/PROMISES.md maps each to its test).

One three-host lab for the module (sql01, app01, web01; three pairs; waves of one pair each) runs a whole
life in order: plan → apply → a manual change on a host (drift) → status → apply repairs it → --pairs →
demotion → a three-wave promotion → rollback → a pair that proved at apply but not now. The inventory
leaves ``key_module`` out, so IKEv1 must be the default. Two more labs: a failed canary, and doctor's faults.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHANGING, ROOT, Lab, creates, host_powershell, ready_to_promote, running_lab

MANAGED = ("sql01", "app01", "web01")
PAIRS = (("app01", "sql01"), ("web01", "sql01"), ("web01", "app01"))
WEB01 = '[[hosts]]\nname = "web01"\naddress = "10.10.1.40"\ngroups = ["web"]\n\n'
MORE_PAIRS = "".join(f'\n[[pairs]]\na = "{a}"\nb = "{b}"\nprotocol = "Any"\nprobe_port = 1433\n' for a, b in PAIRS[1:])
INVENTORY = re.sub(r"\nkey_module = .*\n", "\n", (ROOT / "inventory.toml").read_text()).replace(
    "[[exemptions]]", WEB01 + "[[exemptions]]", 1) + MORE_PAIRS
WAVES = """
[verify]
timeout_s = 8
poll_interval_s = 0.5

[promote]
confirm_timeout_s = 20
revert_wait_s = 20
waves = [{ name = "canary", pairs = 1 }, { name = "second", pairs = 1 }, { name = "rest", percent = 100 }]
"""
REQUEST, REQUIRE = ("Request", "Request"), ("Require", "Request")


def rule_name(a: str, b: str) -> str:
    return f"ipsec-remote-pair-{a}-{b}"


def security(hosts: dict[str, Any], host: str, rule: str) -> tuple[str, str]:
    found = [r for r in hosts[host]["stores"]["PersistentStore"]["rules"] if r.get("Name") == rule]
    assert len(found) == 1, (host, rule, [r.get("Name") for r in hosts[host]["stores"]["PersistentStore"]["rules"]])
    return str(found[0]["InboundSecurity"]), str(found[0]["OutboundSecurity"])


def pair_security(lab: Lab) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Each pair's rule security as found on its two hosts."""
    hosts = lab.inspect()
    return {(a, b): {security(hosts, h, rule_name(a, b)) for h in (a, b)} for a, b in PAIRS}


def calls_during(lab: Lab, *args: str) -> tuple[int, Any, dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Run a command; also return the NetSecurity calls each host ran meanwhile and its RunspacePool opens."""
    before = {n: len(h["calls"]) for n, h in lab.inspect().items()}
    opened = creates(lab)
    rc, doc = lab.json(*args)
    after = lab.inspect()
    return (rc, doc, {n: h["calls"][before[n]:] for n, h in after.items()},
            {n: int(h["requests"].get("Create", 0)) - opened[n] for n, h in after.items()})


def apply_never_raises(lab: Lab) -> Any:
    """apply, checking on the hosts' own call logs that it set no rule to Require, and that the journal
    recorded exactly the changes the hosts ran."""
    rc, report, calls, _ = calls_during(lab, "apply", "inventory.toml", "--lab")
    raised = [(n, c) for n, cs in calls.items() for c in cs
              if "Require" in (c["params"].get("InboundSecurity"), c["params"].get("OutboundSecurity"))]
    assert not raised, raised
    assert rc == 0, report
    journal_matches_hosts(lab, report["run_id"], calls)
    return report


def identity(cmdlet: str, params: dict[str, Any]) -> tuple[str, str]:
    name = params.get("IPsecRuleName") or params.get("Name") or params.get("DisplayName")
    if isinstance(name, list) and len(name) == 1:
        name = name[0]  # -IPsecRuleName is String[]: one name or a one-element array select the same rule
    return cmdlet, str(name)


def journal_matches_hosts(lab: Lab, run_id: int, calls: dict[str, list[dict[str, Any]]]) -> None:
    """The steps the journal recorded for ``run_id``, per host and in order, are the changing calls each
    host's own log shows it ran during that run (nested proposal calls aside)."""
    (path,) = (lab.dir / ".ipsec-remote").glob("lab-state-*.db")
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT host, cmdlet, params, ok FROM steps WHERE run_id = ? ORDER BY id",
                          (run_id,)).fetchall()
    finally:
        db.close()
    for name in MANAGED:
        recorded = [identity(c, json.loads(p)) for h, c, p, ok in rows if h == name and ok]
        ran = [identity(c["cmdlet"], c["params"]) for c in calls[name]
               if c["cmdlet"].startswith(CHANGING) and "Proposal" not in c["cmdlet"] and c["cmdlet"][-2:] != "SA"]
        assert recorded == ran, (name, recorded, ran)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("promises"), INVENTORY, playbook=WAVES) as lab:
        yield lab


def test_1_plan_apply_converge_ikev1_and_one_pool_per_host(fleet: Lab) -> None:
    assert "key_module" not in fleet.inventory.read_text()
    assert fleet.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode").returncode == 3
    report = apply_never_raises(fleet)  # also: the journal's steps are what the hosts ran
    assert len(report["pairs"]) == 3 and all(p["verified"] for p in report["pairs"]), report["pairs"]
    assert report["summary"]["add"] > 0
    # IKEv1 is the default key module: every rule was created with it (the inventory names none).
    hosts = fleet.inspect()
    made = [c for n in MANAGED for c in hosts[n]["calls"] if c["cmdlet"] == "New-NetIPsecRule"
            and str(c["params"].get("IPsecRuleName", "")).startswith("ipsec-remote-pair-")]
    assert len(made) == 6 and {c["params"].get("KeyModule") for c in made} == {"IKEv1"}, made
    # Converged: plan --detailed-exitcode says so with 0.
    proc = fleet.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # One RunspacePool (one WSMan Create) per host per command.
    for command in (("plan", "inventory.toml", "--lab"), ("apply", "inventory.toml", "--lab"),
                    ("status", "inventory.toml", "--lab"), ("doctor", "inventory.toml", "--lab")):
        rc, doc, _, opened = calls_during(fleet, *command)
        assert rc == 0, (command, doc)
        assert {n: opened[n] for n in MANAGED} == {n: 1 for n in MANAGED}, (command, opened)


def test_2_a_manual_change_on_a_host_is_drift_that_apply_repairs(fleet: Lab) -> None:
    # An administrator narrows the pair rule on sql01 by hand (outside ipsec-remote).
    host_powershell(fleet, "sql01", "param([string]$Name) Set-NetIPsecRule -IPsecRuleName $Name "
                    "-RemoteAddress 10.10.1.99 -PolicyStore PersistentStore -ErrorAction Stop",
                    Name=rule_name("app01", "sql01"))
    rc, status = fleet.json("status", "inventory.toml", "--lab")
    assert rc == 1 and status["ok"] is False, status
    drift = status["hosts"]["sql01"]["drift"]
    assert drift and all(rule_name("app01", "sql01") in d for d in drift), drift
    assert status["hosts"]["app01"]["drift"] == [] and status["hosts"]["web01"]["drift"] == []
    report = apply_never_raises(fleet)
    assert report["summary"]["change"] >= 1, report["summary"]
    rc, status = fleet.json("status", "inventory.toml", "--lab")
    assert rc == 0 and all(h["drift"] == [] for h in status["hosts"].values()), status
    assert len(status["pairs"]) == 3 and all(p["verified"] for p in status["pairs"]), status["pairs"]


def test_3_pairs_selects_and_demotion_lowers(fleet: Lab) -> None:
    ready_to_promote(fleet)
    rc, report, _, opened = calls_during(fleet, "promote", "--to", "require", "-i", "inventory.toml", "--lab",
                                         "--pairs", "web01:app01")
    assert rc == 0, report
    assert [w["pairs"] for w in report["waves"]] == [["web01:app01"]], report["waves"]
    assert pair_security(fleet) == {PAIRS[0]: {REQUEST}, PAIRS[1]: {REQUEST}, PAIRS[2]: {REQUIRE}}
    # One pool per host for the command, plus the fresh session that proves each changed host's WinRM
    # path through the new policy (README, promotion step 3); sql01 was only read.
    assert {n: opened[n] for n in MANAGED} == {"sql01": 1, "app01": 2, "web01": 2}, opened
    # apply keeps what promote confirmed: it neither lowers nor raises anything.
    apply_never_raises(fleet)
    assert pair_security(fleet)[PAIRS[2]] == {REQUIRE}
    # Demotion: back to Request/Request, only where asked.
    rc, report = fleet.json("promote", "--to", "request", "-i", "inventory.toml", "--lab", "--pairs", "web01:app01")
    assert rc == 0, report
    assert pair_security(fleet) == {p: {REQUEST} for p in PAIRS}
    rc, status = fleet.json("status", "inventory.toml", "--lab")
    assert rc == 0 and {(p["inbound_security"], p["outbound_security"]) for p in status["pairs"]} == {REQUEST}


def test_4_three_waves_in_order_then_rollback(fleet: Lab) -> None:
    rc, report = fleet.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
    assert rc == 0, report
    assert [(w["name"], w["status"], len(w["pairs"])) for w in report["waves"]] == [
        ("canary", "confirmed", 1), ("second", "confirmed", 1), ("rest", "confirmed", 1)], report["waves"]
    assert [w["pairs"][0] for w in report["waves"]] == [f"{a}:{b}" for a, b in PAIRS]
    assert pair_security(fleet) == {p: {REQUIRE} for p in PAIRS}
    rc, rolled = fleet.json("rollback", "-i", "inventory.toml", "--lab")
    assert rc == 0, rolled
    hosts = fleet.inspect()
    for name in MANAGED:
        owned = [o for store in hosts[name]["stores"].values() for objs in store.values() for o in objs
                 if o.get("Group") == "ipsec-remote"]
        assert owned == [] and hosts[name]["scheduled_tasks"] == [], (name, owned)


def test_5_only_pairs_that_prove_now_are_promoted(fleet: Lab) -> None:
    """Eligible = proved by apply *and* proves at promotion time: a pair whose rule was deleted on one host
    after apply is skipped with the reason; the others are promoted."""
    apply_never_raises(fleet)
    ready_to_promote(fleet)
    host_powershell(fleet, "web01", "param([string]$Name) Remove-NetIPsecRule -IPsecRuleName $Name "
                    "-PolicyStore PersistentStore -ErrorAction Stop", Name=rule_name("web01", "sql01"))
    rc, report = fleet.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
    assert rc == 0, json.dumps(report, indent=1)
    assert list(report["skipped"]) == ["web01:sql01"], report["skipped"]
    assert report["skipped"]["web01:sql01"].startswith("does not verify now"), report["skipped"]
    promoted = sorted(p for w in report["waves"] for p in w["pairs"])
    assert promoted == ["app01:sql01", "web01:app01"], report["waves"]
    hosts = fleet.inspect()
    assert security(hosts, "sql01", rule_name("web01", "sql01")) == REQUEST
    assert fleet.json("rollback", "-i", "inventory.toml", "--lab")[0] == 0


def test_a_failed_canary_stops_later_waves(tmp_path: Path) -> None:
    """sql01's clock steps a minute ahead once its revert is armed: its task fires before the confirm, the
    canary (app01:sql01) is reverted, and no further wave starts — web01 is never changed nor armed.
    300 ms per request: the wave's change, proof and fresh sessions outlast the lab's once-a-second task tick,
    so the task has fired before the confirm (at 20 ms a fast proof round confirmed first in a full run: a
    disarm that wins that race is a confirmed wave, not what this test is about)."""
    faults = "rtt_ms = 300\n[hosts.sql01]\nclock_step_after_task_s = 60\n"
    with running_lab(tmp_path, INVENTORY, faults=faults, playbook=WAVES) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        # --skip-drill: a drill would register the task that consumes the one clock step.
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1, report
        assert [(w["name"], w["status"]) for w in report["waves"]] == [("canary", "reverted")], report["waves"]
        assert report["waves"][0]["pairs"] == ["app01:sql01"]
        hosts = lab.inspect()
        assert [c for c in hosts["web01"]["calls"] if c["cmdlet"] == "Set-NetIPsecRule"] == []
        assert pair_security(lab) == {p: {REQUEST} for p in PAIRS}
        assert all(not hosts[n]["scheduled_tasks"] for n in MANAGED)


DOCTOR_FAULTS = """
[hosts.sql01]
ikeext = "disabled"
local_ipsec_merge = false
[hosts.app01]
clock_skew_s = 600
[[hosts.app01.preexisting.rules]]
name = "legacy-require"
inbound_security = "Require"
outbound_security = "Request"
remote_address = ["10.10.1.20"]
[hosts.web01]
down = true
"""


@pytest.fixture(scope="module")
def doctor_findings(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """doctor --json on a lab where each fault --help names sits on a host: sql01's IKEEXT is disabled and
    a GPO turns local IPsec rules off; app01's clock is 10 minutes ahead, its firewall's Public profile is
    off and someone else's Require rule covers sql01; web01 does not answer."""
    with running_lab(tmp_path_factory.mktemp("doctor"), INVENTORY, faults=DOCTOR_FAULTS) as lab:
        host_powershell(lab, "app01", "Set-NetFirewallProfile -Name Public -Enabled False")
        rc, doc = lab.json("doctor", "inventory.toml", "--lab")
        assert rc == 1 and doc["ok"] is False, doc
        return [(f["host"], f["severity"], f["problem"]) for f in doc["findings"]]


def test_doctor_diagnoses_each_fault_it_claims(doctor_findings: list[tuple[str, str, str]]) -> None:
    """--help: "services, firewall, merge setting, clock, overlapping rules, WinRM" — each found by doctor
    on the host that has it."""
    found = doctor_findings

    def has(host: str | None, severity: str, text: str) -> bool:
        return any(host in (h, None) and s == severity and text in p for h, s, p in found)

    expected = [
        ("sql01", "error", "IKEEXT is Disabled"),  # services
        ("sql01", "error", "AllowLocalIPsecRules = False"),  # merge setting
        ("app01", "warning", "rule 'legacy-require'"),  # overlapping rules
        ("app01", "warning", "firewall profile Public is off"),  # firewall
        ("web01", "error", "WinRM: "),  # WinRM
    ]
    missing = [e for e in expected if not has(*e)]
    assert not missing, json.dumps([missing, sorted(found)], indent=1)
    # clock: 600 s, give or take the seconds between the two reads (which host: see the next test)
    skews = [int(m.group(1)) for _, s, p in found if s == "error" and (m := re.search(r"clock skew (\d+) s", p))]
    assert skews and all(abs(n - 600) <= 10 for n in skews), found
    # Each fault is reported on its own host only.
    assert not any(h != "sql01" and ("IKEEXT" in p or "AllowLocalIPsecRules" in p) for h, _, p in found), found
    assert not any(h != "app01" and ("legacy-require" in p or "firewall profile" in p) for h, _, p in found)


def test_doctor_blames_the_skewed_clock(doctor_findings: list[tuple[str, str, str]]) -> None:
    skewed = sorted({h for h, _, p in doctor_findings if "clock skew" in p})
    assert skewed == ["app01"], skewed


def test_server_isolation_is_promoted_once_every_pair_of_the_host_is(tmp_path: Path) -> None:
    """README: with server_isolation, each host's rule for all other inbound traffic is promoted once every
    pair of the host is — and the exemptions keep the controller's path and the DC reachable."""
    text = (ROOT / "inventory.toml").read_text().replace('[policy]\n', '[policy]\nserver_isolation = true\n', 1)
    with running_lab(tmp_path, text) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        hosts = lab.inspect()
        assert {security(hosts, n, "ipsec-remote-isolation") for n in ("sql01", "app01")} == {REQUEST}
        ready_to_promote(lab, isolation=True)
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        (wave,) = report["waves"]
        assert wave["status"] == "confirmed" and sorted(wave["isolation_hosts"]) == ["app01", "sql01"], wave
        hosts = lab.inspect()
        for name in ("sql01", "app01"):
            assert security(hosts, name, "ipsec-remote-isolation") == REQUIRE, name
            assert security(hosts, name, rule_name("app01", "sql01")) == REQUIRE, name
            assert hosts[name]["reachable_from_controller"] and not hosts[name]["scheduled_tasks"], name
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and status["pairs"][0]["verified"], status
