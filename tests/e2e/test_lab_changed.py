"""lab up on an inventory that changed since its lab started says what changed."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.cli.labdiff import lab_changes
from ipsec_remote.lab.fleet.spec import load_fleet_spec

from .conftest import ROOT, running_lab


def test_lab_up_again_names_the_changes(tmp_path: Path) -> None:
    with running_lab(tmp_path) as lab:
        same = lab.cli("lab", "up", "inventory.toml", "--detach")
        assert same.returncode == 1 and "a lab is already running" in same.stderr
        text = lab.inventory.read_text()
        lab.inventory.write_text(text.replace('address = "10.10.1.30"', 'address = "10.10.1.31"')
                                 + '\n[[hosts]]\nname = "web01"\naddress = "10.10.1.40"\n')
        changed = lab.cli("lab", "up", "inventory.toml", "--detach")
        assert changed.returncode == 1
        assert changed.stderr.strip() == (
            "ipsec-remote: inventory.toml changed since its lab started (pid "
            f"{lab.lab_file()['pid']}): added web01; app01 10.10.1.30 → 10.10.1.31; run 'ipsec-remote lab down', "
            "then 'lab up' again")


def test_only_what_the_lab_is_built_from_counts(tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text((ROOT / "inventory.toml").read_text())
    spec = load_fleet_spec(path)
    lab = {"controller_address": "10.10.1.100",
           "hosts": {h.name: {"address": h.address, "role": h.role, "endpoint": "https://127.0.0.1:1/wsman"}
                     for h in spec.hosts}}
    assert lab_changes(spec, lab) == []
    path.write_text(path.read_text().replace("probe_port = 1433", "probe_port = 1434"))
    assert lab_changes(load_fleet_spec(path), lab) == []  # a pair edit needs no new lab
    path.write_text(path.read_text().replace('role = "domain_controller"', 'role = "dns"')
                    .replace('address = "10.10.1.100"', 'address = "10.10.1.101"'))
    assert lab_changes(load_fleet_spec(path), lab) == ["dc01 role domain_controller → dns",
                                                      "controller 10.10.1.100 → 10.10.1.101"]
