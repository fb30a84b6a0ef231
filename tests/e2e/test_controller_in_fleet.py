"""The controller runs on a managed host (app01's address): its WinRM path stays exempt on both ends, the
fresh-session proof and the dead-man's switch still hold, under either lab assumption about traffic to a
host's own address."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FAST_PLAYBOOK, ROOT, running_lab

APP01 = "10.10.1.30"
# Outbound Require and server isolation: the app01 host's own rules would cover its WinRM connections to
# sql01 unless the product exempts them on app01 too.
STRICT = FAST_PLAYBOOK.replace("[promote]", '[promote]\noutbound = "Require"')


def inventory(skip_controller: bool = False) -> str:
    text = (ROOT / "inventory.toml").read_text().replace('address = "10.10.1.100"', f'address = "{APP01}"')
    text = text.replace('key_module = "IKEv1"', 'key_module = "IKEv1"\nserver_isolation = true')
    return ('test_only_skip_exemptions = ["controller"]\n' if skip_controller else "") + text


def reachable(lab: object) -> dict[str, bool]:
    hosts = lab.inspect()  # type: ignore[attr-defined]
    assert hosts
    return {name: bool(h["reachable_from_controller"]) for name, h in hosts.items()}


@pytest.mark.parametrize("own_address", ["loopback", "policy"])
def test_controller_on_app01_apply_promote_rollback(tmp_path: Path, own_address: str) -> None:
    faults = f'[assumptions]\nown_address_traffic = "{own_address}"\n'
    with running_lab(tmp_path, inventory(), faults=faults, playbook=STRICT) as lab:
        assert lab.lab_file()["controller_address"] == APP01
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        assert lab.cli("doctor", "inventory.toml", "--lab", "--drill").returncode == 0  # the switch fires here
        # Server isolation: promote needs a recent observation of the clear-text peers (issue 15).
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "2s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        assert [w["status"] for w in report["waves"]] == ["confirmed"]
        hosts = lab.inspect()
        rules = {r["Name"]: r for r in hosts["app01"]["stores"]["PersistentStore"]["rules"]}
        assert rules["ipsec-remote-pair-app01-sql01"]["OutboundSecurity"] == "Require"
        assert "ipsec-remote-exempt-controller-out" in rules
        assert all(reachable(lab).values())
        rc, report = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        assert all(reachable(lab).values())


def test_without_exemptions_the_controller_host_negotiates_ipsec_to_its_peer(tmp_path: Path) -> None:
    # From inside the fleet the lockout reasoning differs from an outside controller's: app01 holds the
    # pair's policy, so its WinRM connections to sql01 negotiate IPsec under Require instead of being
    # dropped as clear text (the lab decides it by negotiating app01 -> sql01:5986 with both hosts' rules).
    with running_lab(tmp_path, inventory(skip_controller=True), playbook=STRICT) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "2s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                              "--confirm-timeout", "6", "--skip-drill")
        assert rc == 0, report
        hosts = lab.inspect()
        assert all(h["controller_blocked_by"] is None for h in hosts.values())
        assert all(reachable(lab).values())
