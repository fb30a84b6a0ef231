"""The rollout under every combination of the undocumented behaviours that matter (issue 10), end to end:
output objects with or without NetSecurity's type layer × main-mode SA deletion with or without cascade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Lab, changing_calls, running_lab

COMBINATIONS = [(t, c) for t in (False, True) for c in (False, True)]


def _faults(type_layer: bool, cascades: bool) -> str:
    return f"[assumptions]\ntype_layer = {str(type_layer).lower()}\nmm_sa_delete_cascades = {str(cascades).lower()}\n"


def _verified_pairs(doc: dict[str, Any]) -> list[bool]:
    pairs = doc["pairs"]
    assert pairs
    return [bool(p["verified"]) for p in pairs]


@pytest.mark.parametrize(("type_layer", "cascades"), COMBINATIONS,
                         ids=[f"type_layer={t}-cascade={c}" for t, c in COMBINATIONS])
def test_rollout_under_each_assumption(tmp_path: Path, type_layer: bool, cascades: bool) -> None:
    with running_lab(tmp_path, faults=_faults(type_layer, cascades)) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(applied)), applied
        before = {n: len(changing_calls(h)) for n, h in lab.inspect().items()}
        rc, again = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and again["summary"] == {"add": 0, "change": 0, "destroy": 0}, again
        assert {n: len(changing_calls(h)) for n, h in lab.inspect().items()} == before

        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(status)), status
        rc, promoted = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 0 and [w["status"] for w in promoted["waves"]] == ["confirmed"], promoted
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(status)), status
        assert all(p["inbound_security"] == "Require" for p in status["pairs"])
        _assert_reset_left_no_stale_sa(lab)

        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        hosts = lab.inspect()
        assert all(h["reachable_from_controller"] for h in hosts.values())
        for name in ("sql01", "app01"):
            owned = [o for store in hosts[name]["stores"].values() for objects in store.values() for o in objects
                     if o.get("Group") == "ipsec-remote"]
            assert owned == [], name


def _assert_reset_left_no_stale_sa(lab: Lab) -> None:
    """The wave reset the pair's SAs before proving it: each host holds one MM SA per peer and only QM SAs
    negotiated inside a live MM SA (none left over from before the reset)."""
    hosts = lab.inspect()
    removals = []
    for name in ("sql01", "app01"):
        mm_ids = {str(sa["Name"]) for sa in hosts[name]["main_mode_sas"]}
        assert mm_ids
        assert all(str(qm["MmSaId"]) in mm_ids for qm in hosts[name]["quick_mode_sas"]), hosts[name]
        removed = [c["cmdlet"] for c in hosts[name]["calls"] if c["cmdlet"].startswith("Remove-NetIPsec")]
        if removed:  # the peer's delete notification may have removed this host's copies first
            removals.append(removed)
    assert removals and all(r[0] == "Remove-NetIPsecQuickModeSA" for r in removals), removals


def test_pair_with_a_blocked_probe_port_proves_without_waiting_out_retransmissions(tmp_path: Path) -> None:
    # The inventory probes TCP 1433, which sql01 neither listens on nor lets in (firewall_allows): the SYN is
    # dropped. IKE still negotiates on it, so the pair is proven; the probe waits its bounded timeout only.
    faults = "[hosts.sql01]\nlistening_ports = [135, 445, 5985, 5986]\nfirewall_allows = [135, 445, 5985, 5986]\n"
    with running_lab(tmp_path, faults=faults) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(applied)), applied
        probes = [p for p in lab.inspect()["app01"]["probes"] if p["port"] == 1433]
        assert probes and all(p["via"] == "TcpClient" and p["outcome"] == "dropped" for p in probes)
        assert all(0 < p["waited_s"] <= 5 for p in probes), probes  # not Test-NetConnection's 21 s
