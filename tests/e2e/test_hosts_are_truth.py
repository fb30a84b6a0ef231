"""The hosts are the source of truth (issue 12): a lost journal is rebuilt from them, rollback brings back
what our group held before the first apply, and names taken outside our group are refused before any
change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Lab, changing_calls, running_lab

# Whether NetSecurity's cmdlet-style names (Name, Group, …) exist on the objects is undocumented (the lab's
# [assumptions] type_layer): read_names.ps1 and invoke_batch.ps1's -Absent guard read CIM properties, so the
# marks and the name-clash guard must hold under both.
TYPE_LAYER = pytest.mark.parametrize("type_layer", [False, True], ids=["bare-cim", "type-layer"])


def _assumptions(type_layer: bool) -> str:
    return f"[assumptions]\ntype_layer = {str(type_layer).lower()}\n"


def pair_rule(host: dict[str, Any]) -> dict[str, Any]:
    rules = host["stores"]["PersistentStore"]["rules"]
    return next(r for r in rules if str(r.get("Name")) == "ipsec-remote-pair-app01-sql01")


@TYPE_LAYER
def test_a_deleted_journal_after_promotion_keeps_require(tmp_path: Path, type_layer: bool) -> None:
    with running_lab(tmp_path, faults=_assumptions(type_layer)) as lab:
        _deleted_journal_keeps_require(lab)


def _deleted_journal_keeps_require(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
    assert rc == 0, report
    hosts = lab.inspect()
    assert all(pair_rule(hosts[n])["Description"].startswith("ipsec-remote: promoted to Require/Request")
               for n in ("sql01", "app01"))
    for db in (lab.dir / ".ipsec-remote").glob("lab-state-*.db*"):
        db.unlink()
    proc = lab.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # read-only: nothing to change, nothing written
    before = {n: len(changing_calls(h)) for n, h in lab.inspect().items()}
    proc = lab.cli("apply", "inventory.toml", "--lab")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "promotion(s) rebuilt from the marks on the hosts: app01:sql01 Require/Request" in proc.stderr
    assert "was missing" in proc.stderr
    hosts = lab.inspect()
    assert all(pair_rule(hosts[n])["InboundSecurity"] == "Require" for n in ("sql01", "app01"))
    assert {n: len(changing_calls(h)) for n, h in hosts.items()} == before
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 0 and status["pairs"][0]["inbound_security"] == "Require", status


def test_a_reverted_promotion_is_not_rebuilt_from_its_stale_mark(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults="rtt_ms = 100\n") as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
        assert rc == 0, report
        rc, report = lab.json("promote", "--to", "request", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        hosts = lab.inspect()
        assert all(pair_rule(hosts[n])["Description"] in ("", None) for n in ("sql01", "app01"))
        for db in (lab.dir / ".ipsec-remote").glob("lab-state-*.db*"):
            db.unlink()
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and report["journal_notes"] and report["pairs"][0]["inbound_security"] == "Request"


PREEXISTING = """
[[hosts.sql01.preexisting.rules]]
name = "ipsec-remote-exempt-dc"
display_name = "legacy DC exemption"
group = "ipsec-remote"
inbound_security = "None"
outbound_security = "None"
remote_address = ["10.10.1.6"]

[[hosts.sql01.preexisting.rules]]
name = "ipsec-remote-legacy"
display_name = "legacy"
group = "ipsec-remote"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.77"]
"""


def test_rollback_brings_back_what_our_group_held_before(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults=PREEXISTING) as lab:
        pristine = lab.inspect()
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        # apply changed the legacy DC exemption in place and removed the object it does not want.
        assert report["hosts"]["sql01"]["changes"] == 8 and report["summary"]["destroy"] == 1
        assert not report["journal_notes"]  # a first apply: nothing to rebuild
        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        assert rolled["removed"] == {"sql01": 6, "app01": 7}  # objects, not calls
        assert rolled["restored"] == {"sql01": 2, "app01": 0}
        assert rolled["summary"] == {"destroy": 13, "restore": 2}
        hosts = lab.inspect()
        for name in ("sql01", "app01"):
            assert hosts[name]["stores"] == pristine[name]["stores"], name
        rc, again = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0 and not any(again["removed"].values()) and not any(again["restored"].values())


CLASH = """
[[hosts.app01.preexisting.rules]]
name = "ipsec-remote-pair-app01-sql01"
display_name = "someone else's rule"
group = "legacy"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.20"]
"""


@TYPE_LAYER
def test_a_name_clash_is_refused_before_any_change(tmp_path: Path, type_layer: bool) -> None:
    with running_lab(tmp_path, faults=_assumptions(type_layer) + CLASH) as lab:
        proc = lab.cli("plan", "inventory.toml", "--lab")
        assert proc.returncode == 1
        assert ("app01: not planned: name clash in PersistentStore: rule 'ipsec-remote-pair-app01-sql01' "
                "(group 'legacy')") in proc.stderr, proc.stderr
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1
        hosts = lab.inspect()
        assert changing_calls(hosts["app01"]) == []  # not even the exemptions
        assert "name clash" in report["failed_hosts"]["app01"]
        (pair,) = report["pairs"]
        assert any(p.startswith("app01: name clash") for p in pair["problems"]), pair["problems"]
        assert not any("not reachable" in p for p in pair["problems"])
