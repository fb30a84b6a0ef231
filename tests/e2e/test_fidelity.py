"""The rollout under every combination of the undocumented behaviours that matter (issue 10), end to end:
output objects with or without NetSecurity's type layer × main-mode SA deletion with or without cascade;
the pair's probe port is blocked on the peer, and still proves within the probe's own timeout."""

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
        _assert_probe_was_bounded(lab)
        before = {n: len(changing_calls(h)) for n, h in lab.inspect().items()}
        rc, again = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and again["summary"] == {"add": 0, "change": 0, "destroy": 0}, again
        assert {n: len(changing_calls(h)) for n, h in lab.inspect().items()} == before

        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(status)), status
        rc, drill = lab.json("doctor", "inventory.toml", "--lab", "--drill")  # the switch works on these hosts
        assert rc == 0, drill
        rc, promoted = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
        assert rc == 0 and [w["status"] for w in promoted["waves"]] == ["confirmed"], promoted
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and all(_verified_pairs(status)), status
        assert all(p["inbound_security"] == "Require" for p in status["pairs"])
        assert _sa_removals(lab) == []  # promote and status keep the SAs that carry traffic (zero drop)
        rc, rekeyed = lab.json("rekey", "inventory.toml", "--lab")  # rekey is what resets SAs now
        assert rc == 0, rekeyed
        _assert_reset_left_no_stale_sa(lab)

        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        hosts = lab.inspect()
        assert all(h["reachable_from_controller"] for h in hosts.values())
        for name in ("sql01", "app01"):
            owned = [o for store in hosts[name]["stores"].values() for objects in store.values() for o in objects
                     if o.get("Group") == "ipsec-remote"]
            assert owned == [], name


def _sa_removals(lab: Lab) -> list[str]:
    return [f"{n}: {c['cmdlet']}" for n, h in lab.inspect().items() for c in h["calls"]
            if c["cmdlet"].startswith("Remove-NetIPsec") and c["cmdlet"].endswith("SA")]


def _assert_reset_left_no_stale_sa(lab: Lab) -> None:
    """The rekey reset the pair's SAs (quick mode first) before proving it: each host holds one MM SA per peer
    and only QM SAs negotiated inside a live MM SA (none left over from before the reset)."""
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


def _assert_probe_was_bounded(lab: Lab) -> None:
    """The inventory probes TCP 1433, which sql01 neither listens on nor lets in (the lab's default ports):
    the SYN is dropped. IKE negotiated on it all the same (the pair is proven), and the probe was bounded, not
    Test-NetConnection's 21 s of retransmissions: it stopped once the pair's SA was listed, short of its own
    3 s bound (the lab without its latency model lists an SA at the first packet)."""
    probes = [p for p in lab.inspect()["app01"]["probes"] if p["port"] == 1433]
    assert probes and all(p["via"] == "TcpClient" and p["outcome"] == "dropped" for p in probes), probes
    assert all(0 <= p["waited_s"] < 3 for p in probes), probes
