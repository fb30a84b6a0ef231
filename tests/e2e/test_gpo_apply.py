"""GPO mode end to end on the lab's domain (examples/three-tier-local.toml with its GPO): apply writes the one
shared GPO on the DC in one session and one Save, refreshes every host and proves every pair; status agrees;
rollback leaves neither the GPO nor any host's RSOP with our objects. Without edit rights nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import ROOT, Lab, running_lab

GPO = "corp.example.com\\IPsec Server Isolation"
INVENTORY = ((ROOT / "examples" / "three-tier-local.toml").read_text()
             .replace('ca_bundle = "corp-root-ca.pem"\n', "")
             .replace('store = "PersistentStore"', f"store = '{GPO}'\ngpo_writer = \"dc01\""))
LISTENERS = "".join(f"[hosts.{h}]\nlistening_ports = [135, 445, 5985, 5986, 1433, 5022]\n" for h in ("sql01", "sql02"))
MANAGED = ("web01", "web02", "web03", "sql01", "sql02")


def ours(objects: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [o["Name"] for kind in objects.values() for o in kind if o.get("Group") == "ipsec-remote"]


def gpo_doc(lab: Lab) -> dict[str, Any]:
    rc, doc = lab.json("lab", "inspect", "inventory.toml")
    assert rc == 0, doc
    return doc  # type: ignore[no-any-return]


def test_apply_status_rollback_through_the_gpo(tmp_path: Path) -> None:
    assert f"store = '{GPO}'" in INVENTORY
    with running_lab(tmp_path, INVENTORY, faults=LISTENERS) as lab:
        rc, plan = lab.json("plan", "inventory.toml", "--lab")  # the GPO read on the writer: all to add
        assert rc == 0 and plan["summary"]["add"] == 12 and plan["gpo"]["writer"] == "dc01", plan
        assert sorted(plan["hosts"]) == sorted(MANAGED) and all(h["calls"] == [] for h in plan["hosts"].values())
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        assert len(report["pairs"]) == 7 and all(p["verified"] for p in report["pairs"]), report["pairs"]
        doc = gpo_doc(lab)
        names = [o["name"] for o in doc["gpos"][GPO]["objects"]]
        assert len(names) == 12 and len(names) == len(set(names)), names
        assert doc["gpos"][GPO]["version"] == 1  # one Save-NetGPO
        for host in MANAGED:
            h = doc["hosts"][host]
            assert sorted(ours(h["stores"][GPO])) == sorted(names), host  # the applied copy (RSOP)
            assert ours(h["stores"]["PersistentStore"]) == [], host  # nothing written per host
            assert h["reachable_from_controller"], host
        sessions = [c for c in doc["hosts"]["dc01"]["calls"] if c["cmdlet"] in ("Open-NetGPO", "Save-NetGPO")]
        assert [c["cmdlet"] for c in sessions] == ["Open-NetGPO", "Save-NetGPO"]

        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0, status
        assert status["pairs"] and all(p["verified"] for p in status["pairs"])

        proc = lab.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode")
        assert proc.returncode == 0 and "No changes. The GPO matches the inventory." in proc.stdout, proc.stdout
        rc, again = lab.json("apply", "inventory.toml", "--lab")  # converged: no GPO edit, pairs proven
        assert rc == 0 and again["summary"] == {"add": 0, "change": 0, "destroy": 0}, again
        assert gpo_doc(lab)["gpos"][GPO]["version"] == 1

        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        doc = gpo_doc(lab)
        assert doc["gpos"][GPO]["objects"] == []
        for host in MANAGED:
            assert ours(doc["hosts"][host]["stores"][GPO]) == [], host
            assert doc["hosts"][host]["reachable_from_controller"], host


def test_without_edit_rights_on_the_gpo_nothing_changes(tmp_path: Path) -> None:
    faults = LISTENERS + f"[domain]\ndeny_gpo_edit = ['{GPO}']\n"
    with running_lab(tmp_path, INVENTORY, faults=faults) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1, report
        assert list(report["failed_hosts"]) == ["dc01"], report["failed_hosts"]
        reason = report["failed_hosts"]["dc01"]
        assert "\n" not in reason and "nothing changed" in reason and "permission to edit GPO" in reason, reason
        doc = gpo_doc(lab)
        assert doc["gpos"][GPO]["objects"] == [] and doc["gpos"][GPO]["version"] == 0
        for host in MANAGED:
            h = doc["hosts"][host]
            assert not [c for c in h["calls"] if c["cmdlet"].startswith(("New-", "Set-", "Remove-"))], host


def test_rollback_restores_the_gpo_as_it_was_before_the_first_apply(tmp_path: Path) -> None:
    # One of our objects was in the GPO before (an older rollout): apply replaces it, rollback brings it back.
    legacy = (f"[[hosts.web01.preexisting.rules]]\nname = \"ipsec-remote-legacy\"\ndisplay_name = \"legacy\"\n"
              f"group = \"ipsec-remote\"\npolicy_store = '{GPO}'\ninbound_security = \"Request\"\n"
              "outbound_security = \"Request\"\nremote_address = [\"10.20.9.9\"]\n")
    with running_lab(tmp_path, INVENTORY, faults=LISTENERS + legacy) as lab:
        assert [o["name"] for o in gpo_doc(lab)["gpos"][GPO]["objects"]] == ["ipsec-remote-legacy"]
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        names = [o["name"] for o in gpo_doc(lab)["gpos"][GPO]["objects"]]
        assert "ipsec-remote-legacy" not in names and len(names) == 12, names
        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        doc = gpo_doc(lab)
        assert [o["name"] for o in doc["gpos"][GPO]["objects"]] == ["ipsec-remote-legacy"]
        for host in MANAGED:
            assert ours(doc["hosts"][host]["stores"][GPO]) == ["ipsec-remote-legacy"], host
