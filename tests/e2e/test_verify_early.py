"""The proof over real HTTPS with the lab's latency model on: IKE takes time to negotiate, and the pair's
probe port (TCP 1433) is dropped by sql01's firewall in both directions, so every probe's connect times
out. A pair probe stops at its SA; when negotiation outlasts the probe's 3 s bound the pair is proven in a
later round, and when it outlasts the pair's timeout it is not proven at all (no false verify)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import running_lab

LATENCY = """
[latency]
enabled = true
pool_open_s = 0.05
cim_call_s = 0.01
task_start_s = 0.1
ike_negotiation_s = {seconds}
"""


def _pair_probes(hosts: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The lab's record of ``name``'s probes toward its peer, one per verification round."""
    return [p for p in hosts[name]["probes"] if p["via"] == "TcpClient" and p["port"] == 1433]


@pytest.mark.parametrize(("negotiation_s", "rounds"), [(0.5, "one"), (4.5, "several")])
def test_apply_proves_the_pair_when_ike_takes_time(tmp_path: Path, negotiation_s: float, rounds: str) -> None:
    with running_lab(tmp_path, faults=LATENCY.format(seconds=negotiation_s)) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and [p["verified"] for p in applied["pairs"]] == [True], applied
        hosts = lab.inspect()
        for name in ("app01", "sql01"):
            probes = _pair_probes(hosts, name)
            assert probes and all(p["outcome"] == "dropped" for p in probes), probes
            if rounds == "one":
                # One round: each end stopped at its SA, short of the 3 s its dropped connect would have held it.
                assert len(probes) == 1 and probes[0]["waited_s"] < 3.0, probes
            else:
                # The first round looked until its bound and found no SA; a later round found it and stopped.
                assert len(probes) > 1 and probes[-1]["waited_s"] < probes[0]["waited_s"], probes


def test_negotiation_longer_than_the_timeout_is_not_verified(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults=LATENCY.format(seconds=60)) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        (pair,) = applied["pairs"]
        assert rc != 0 and not pair["verified"], applied
        assert any("no quick-mode SA" in p for p in pair["problems"]), pair

