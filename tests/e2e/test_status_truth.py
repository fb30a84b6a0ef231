"""status tells the truth (issue 12): verified only with the inventory's objects on both hosts, at the
journal's security, proven by traffic over SAs that use the inventory's proposals (never by deleting SAs, which
under Require drops packets); drift or a host down makes ``ok`` false and exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import ROOT, Lab, running_lab


def test_status_after_rollback_shows_no_pair_verified(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
    assert rc == 0, rolled
    # The lab keeps SAs negotiated before the rules went away (Windows documents nothing either way).
    hosts = lab.inspect()
    assert hosts["sql01"]["main_mode_sas"] or hosts["app01"]["main_mode_sas"]
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 1 and status["ok"] is False, status
    assert status["pairs"] and not any(p["verified"] for p in status["pairs"])
    (pair,) = status["pairs"]
    assert "app01: rule ipsec-remote-pair-app01-sql01 is missing" in pair["problems"], pair["problems"]
    assert all(h["drift"] for h in status["hosts"].values())


def test_drift_makes_status_fail(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 0 and status["ok"], status
    # The inventory now wants a DNS exemption the hosts do not have: drift on both.
    text = lab.inventory.read_text()
    lab.inventory.write_text(text + '\n[[exemptions]]\nname = "dns01"\naddress = "10.10.1.53"\nrole = "dns"\n')
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 1 and status["ok"] is False, status
    assert status["hosts"]["sql01"]["drift"] == ["exemption ipsec-remote-exempt-dns: missing"]
    assert status["pairs"][0]["verified"]  # the pair itself still holds: drift alone fails status
    proc = lab.cli("status", "inventory.toml", "--lab")
    assert proc.returncode == 1 and "2 host(s) with drift" in proc.stdout


def test_a_host_that_is_down_shows_its_reason_not_no_drift(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 1 and status["ok"] is False
        app = status["hosts"]["app01"]
        assert app["reachable"] is False and app["drift_known"] is False and "cannot connect" in app["error"]
        assert "app01" in status["failed_hosts"]
        (pair,) = status["pairs"]
        assert any(p.startswith("app01: cannot connect to ") for p in pair["problems"]), pair["problems"]
        proc = lab.cli("status", "inventory.toml", "--lab")
        lines = proc.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("│ app01 │"))
        block = " ".join(lines[start:next(i for i in range(start, len(lines)) if lines[i].startswith("└"))])
        assert "none" not in block and "cannot connect" in block and "unknown" in block, proc.stdout


def _sa_removals(lab: Lab) -> int:
    return sum(1 for h in lab.inspect().values() for c in h["calls"]
               if c["cmdlet"] in ("Remove-NetIPsecMainModeSA", "Remove-NetIPsecQuickModeSA"))


def test_status_verifies_a_promoted_pair_without_deleting_an_sa(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
    assert rc == 0, report
    before = _sa_removals(lab)
    rc, status = lab.json("status", "inventory.toml", "--lab")
    assert rc == 0 and status["ok"], status
    (pair,) = status["pairs"]
    assert pair["verified"] and (pair["inbound_security"], pair["outbound_security"]) == ("Require", "Request")
    assert _sa_removals(lab) == before  # the SAs carrying the pair's traffic were read, not dropped


def test_status_on_a_required_fleet_drops_no_member_packet(tmp_path: Path) -> None:
    # Member traffic every 100 ms; dropping the SAs under Require would lose packets until IKE renegotiates
    # (300 ms here).
    faults = "[traffic]\nbetween_members_interval_ms = 100\nnegotiation_ms = 300\n"
    with running_lab(tmp_path, faults=faults) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 0, report
        before = _traffic(lab)
        for _ in range(3):
            rc, status = lab.json("status", "inventory.toml", "--lab")
            assert rc == 0 and status["ok"], status
        after = _traffic(lab)
        assert after["sent"] > before["sent"]  # members kept talking while status ran
        assert after["dropped_between_members"] - before["dropped_between_members"] == 0, after


def _traffic(lab: Lab) -> dict[str, Any]:
    rc, doc = lab.json("lab", "inspect", "inventory.toml")
    assert rc == 0, doc
    return doc["traffic"]  # type: ignore[no-any-return]


def test_status_flags_a_rule_below_the_journals_security(tmp_path: Path) -> None:
    with running_lab(tmp_path, (ROOT / "inventory.toml").read_text()) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                          "--skip-drill")
        assert rc == 0, report
        # Someone puts sql01's rule back to Request by hand (through our own batch script, as an admin would).
        _set_rule(lab, "sql01", "Request")
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 1
        (pair,) = status["pairs"]
        assert not pair["verified"]
        assert ("sql01: rule ipsec-remote-pair-app01-sql01 is Request/Request, the journal says Require/Request"
                in pair["problems"]), pair["problems"]


def _set_rule(lab: Lab, host: str, security: str) -> None:
    from ipsec_remote.model.inventory import load_inventory
    from ipsec_remote.remote.connect import targets_for
    from ipsec_remote.remote.transport import HostSession

    target = targets_for(load_inventory(lab.inventory), lab.inventory, True)[host]
    call = {"cmdlet": "Set-NetIPsecRule", "params": {"IPsecRuleName": "ipsec-remote-pair-app01-sql01",
                                                     "InboundSecurity": security, "OutboundSecurity": "Request",
                                                     "PolicyStore": "PersistentStore"}}
    with HostSession(target) as session:
        out = session.run("invoke_batch", {"Calls": [call]}, retry=False)
    assert out.objects and out.objects[0]["ok"], out
