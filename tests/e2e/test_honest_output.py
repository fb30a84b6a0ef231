"""Honest output (issue 12): summaries count what was done, each host's own failure reason reaches the pair
table, promote with nothing eligible fails and says why, and the JSON of every command uses the same names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import Lab, running_lab


def owned_count(host: dict[str, Any]) -> int:
    return sum(1 for objects in host["stores"]["PersistentStore"].values() for o in objects
               if o.get("Group") == "ipsec-remote")


def test_the_summary_counts_what_was_done_not_what_was_planned(tmp_path: Path) -> None:
    # app01's endpoint drops every request after its 4th (session 2, the read with the preflight and the
    # fresh exemptions 2): its first batch of rules never reaches it.
    with running_lab(tmp_path, faults="[hosts.app01]\ndrop_after_calls = 4\n") as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1 and "app01" in report["failed_hosts"]
        hosts = lab.inspect()
        created = owned_count(hosts["sql01"]) + owned_count(hosts["app01"])
        assert report["summary"]["add"] == created < report["planned"]["add"], (report["summary"], created)
        assert report["not_done"] == {"app01": report["planned"]["add"] - created}
        assert report["hosts"]["app01"]["done"] == owned_count(hosts["app01"])
    with running_lab(tmp_path / "again", faults="[hosts.app01]\ndrop_after_calls = 4\n") as lab:
        proc = lab.cli("apply", "inventory.toml", "--lab")
        assert proc.returncode == 1
        assert "Applied: 9 added, 0 changed, 0 destroyed" in proc.stdout, proc.stdout
        assert "app01: 5 planned change(s) not applied" in proc.stdout, proc.stdout


def test_each_hosts_own_reason_reaches_the_pair_table(lab: Lab) -> None:
    path = lab.dir / ".ipsec-remote" / "lab.json"
    doc = json.loads(path.read_text())
    doc["hosts"]["app01"]["password"] = "wrong"
    path.write_text(json.dumps(doc))
    rc, report = lab.json("apply", "inventory.toml", "--lab")
    assert rc == 1
    (pair,) = report["pairs"]
    assert "app01: the host refused the credentials (auth basic)" in pair["problems"], pair["problems"]
    assert not any("not reachable" in p for p in pair["problems"]), pair["problems"]


def test_promote_with_nothing_eligible_fails_and_says_why(lab: Lab) -> None:
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
    assert rc == 1 and report["ok"] is False and report["waves"] == []
    assert report["nothing_eligible"] == ("no pair is eligible for Require/Request: app01:sql01: "
                                          "not verified by apply yet")
    proc = lab.cli("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
    assert proc.returncode == 1 and "Nothing promoted: no pair is eligible" in proc.stdout
    # Already where it should be is not a failure.
    assert lab.cli("promote", "--to", "request", "-i", "inventory.toml", "--lab").returncode == 0


PAIR_KEYS = {"a", "b", "verified", "main_mode_sa", "quick_mode_sa", "inbound_security", "outbound_security",
             "sa", "stale_sa", "problems"}


def test_json_names_are_the_same_in_every_command(lab: Lab) -> None:
    docs = {}
    for name, args in (("apply", ("apply", "inventory.toml")), ("status", ("status", "inventory.toml")),
                       ("rekey", ("rekey", "inventory.toml")),
                       ("promote", ("promote", "--to", "require", "-i", "inventory.toml", "--skip-drill")),
                       ("rollback", ("rollback", "-i", "inventory.toml"))):
        rc, docs[name] = lab.json(*args, "--lab")
        assert rc == 0, (name, docs[name])
    for name, doc in docs.items():
        assert {"ok", "failed_hosts"} <= set(doc), name
        if name != "status":
            assert isinstance(doc["run_id"], int) and "interrupted" in doc and "armed_reverts" in doc, name
    for name in ("apply", "status", "rekey"):
        assert docs[name]["pairs"] and all(set(p) == PAIR_KEYS for p in docs[name]["pairs"]), name
    # DESIGN §5 keys stay as they were.
    assert set(docs["apply"]["summary"]) == {"add", "change", "destroy"}
    assert {"reachable", "drift"} <= set(docs["status"]["hosts"]["sql01"])
    assert {"removed", "remaining", "unreachable_after"} <= set(docs["rollback"])
