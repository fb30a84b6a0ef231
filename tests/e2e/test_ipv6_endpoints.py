"""An IPv6 fleet whose hosts write SA endpoints in a form other than the inventory's (the lab's
``sa_endpoint_text = "full"``: 2001:db8:0:1:0:0:0:20 for 2001:db8:0:1::20). How Windows writes them is not
documented, so the product compares parsed addresses: apply proves the pair in its first round, and observe
counts the pair's traffic as protected."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ROOT, running_lab

V4_TO_V6 = {"10.10.1.100": "2001:db8:0:1::100", "10.10.1.20": "2001:db8:0:1::20",
            "10.10.1.30": "2001:db8:0:1::30", "10.10.1.5": "2001:db8:0:1::5"}
MEMBERS = """
[traffic]
between_members_interval_ms = 100
negotiation_ms = 300
"""


def ipv6_inventory() -> str:
    text = (ROOT / "inventory.toml").read_text()
    for v4, v6 in V4_TO_V6.items():
        text = text.replace(f'"{v4}"', f'"{v6}"')
    assert "10.10.1." not in text.split("[[pairs]]")[0].replace("# ", ""), "an IPv4 address left"
    return text


@pytest.mark.parametrize("text", ["compressed", "full"])
def test_ipv6_sa_endpoints_written_either_way_prove_and_count_as_protected(tmp_path: Path, text: str) -> None:
    faults = f'[assumptions]\nsa_endpoint_text = "{text}"\n' + MEMBERS
    with running_lab(tmp_path, ipv6_inventory(), faults) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, applied
        assert [p["verified"] for p in applied["pairs"]] == [True], applied["pairs"]
        rc, observed = lab.json("observe", "inventory.toml", "--lab", "--window", "3s")
        assert rc == 0, observed
        sql, app = observed["hosts"]["sql01"], observed["hosts"]["app01"]
        assert "2001:db8:0:1::30" in sql["protected_peers"], sql
        assert not [f for f in app["clear_text"] if f["remote_address"] == "2001:db8:0:1::20"], app
