"""promote proves every candidate pair again before any wave; the first proof round rides along the read."""

from __future__ import annotations

from pathlib import Path

from .conftest import ROOT, running_lab

THIRD_HOST = """
[[hosts]]
name = "web01"
address = "10.10.1.40"
groups = ["web"]

[[pairs]]
a = "web01"
b = "app01"
protocol = "Any"
probe_port = 443
"""


def test_a_pair_that_no_longer_verifies_is_skipped_and_the_others_promoted(tmp_path: Path) -> None:
    from ipsec_remote.model.desired import pair_rule_name
    from ipsec_remote.model.inventory import load_inventory
    from ipsec_remote.remote.connect import targets_for
    from ipsec_remote.remote.transport import HostSession

    with running_lab(tmp_path, (ROOT / "inventory.toml").read_text() + THIRD_HOST) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, applied
        # After apply, web01 loses its rule for the web01 <-> app01 pair: its traffic to app01 goes in clear
        # (app01 only requests), so that pair proves nothing any more; app01 <-> sql01 is untouched.
        rule = pair_rule_name("ipsec-remote", "web01", "app01")
        targets = targets_for(load_inventory(lab.inventory), lab.inventory, True)
        with HostSession(targets["web01"]) as session:
            out = session.run("invoke_batch", {"Calls": [{"cmdlet": "Remove-NetIPsecRule", "params": {
                "IPsecRuleName": rule, "PolicyStore": "PersistentStore"}}]})
            assert not out.errors, out.errors
        for host, peer in (("web01", "10.10.1.30"), ("app01", "10.10.1.40")):  # and the pair's SAs end
            with HostSession(targets[host]) as session:
                assert not session.run("reset_sas", {"Peers": [peer]}).errors
        before = lab.inspect()["sql01"]["requests"]
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        after = lab.inspect()["sql01"]["requests"]
        assert list(report["skipped"]) == ["web01:app01"], report
        assert report["skipped"]["web01:app01"].startswith("does not verify now"), report["skipped"]
        assert [(w["pairs"], w["status"]) for w in report["waves"]] == [(["app01:sql01"], "confirmed")], report
        # sql01's pipelines: the read with the preflight (doctor's checks, issue 14) and the first proof round
        # riding along, then the wave's arm, rule change, proof (SAs kept in place) and confirm (its fresh
        # session is a pool opening, no pipeline).
        assert after["Command"] - before["Command"] == 1 + 4, (before, after)
        assert after["Create"] - before["Create"] == 2, (before, after)  # its pool and the fresh session
