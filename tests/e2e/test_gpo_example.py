"""examples/three-tier.toml on the lab as its header says: lab up --detach, then apply, status, doctor
--drill, promote --to require, status and rollback with --lab each exit 0; every pair verified at each step,
every host reachable; after rollback neither the GPO nor any host's RSOP holds one of our objects."""

from __future__ import annotations

from pathlib import Path

from .conftest import ROOT, running_lab

GPO = "corp.example.com\\IPsec Server Isolation"
EXAMPLE = (ROOT / "examples" / "three-tier.toml").read_text()
MANAGED = ("web01", "web02", "web03", "sql01", "sql02")


def test_the_gpo_example_end_to_end(tmp_path: Path) -> None:
    assert f"store = '{GPO}'" in EXAMPLE and 'gpo_writer = "dc01"' in EXAMPLE
    # The example as shipped, the default playbook's waves (canary, quarter, rest) and no faults.
    with running_lab(tmp_path, EXAMPLE, playbook=(ROOT / "playbooks" / "server-to-server.toml").read_text()) as lab:
        promoted = False
        for args in (("apply", "inventory.toml"), ("status", "inventory.toml"),
                     ("doctor", "inventory.toml", "--drill"), ("promote", "--to", "require", "-i", "inventory.toml"),
                     ("status", "inventory.toml"), ("rollback", "-i", "inventory.toml")):
            rc, doc = lab.json(*args, "--lab")
            assert rc == 0, (args, doc)
            if args[0] in ("apply", "status"):
                assert len(doc["pairs"]) == 7 and all(p["verified"] for p in doc["pairs"]), (args, doc["pairs"])
            if args[0] == "promote":
                assert [w["status"] for w in doc["waves"]] == ["confirmed"] * 3, doc["waves"]
                assert all(p["verified"] for w in doc["waves"] for p in w["proofs"])
                promoted = True
            if args[0] == "status":
                assert {p["inbound_security"] for p in doc["pairs"]} == {"Require" if promoted else "Request"}
                assert all(doc["hosts"][h]["reachable"] for h in MANAGED), doc["hosts"]
            hosts = lab.inspect()
            assert all(hosts[h]["reachable_from_controller"] for h in MANAGED), args
        rc, doc = lab.json("lab", "inspect", "inventory.toml")
        assert doc["gpos"][GPO]["objects"] == []
        for host in MANAGED:
            rsop = doc["hosts"][host]["stores"][GPO]
            assert [o for kind in rsop.values() for o in kind if o.get("Group") == "ipsec-remote"] == [], host
            assert doc["hosts"][host]["scheduled_tasks"] == []
