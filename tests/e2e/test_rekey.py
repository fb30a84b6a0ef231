"""Rekey (issue 12): after a promotion, changed quick-mode proposals are proven — apply drops the SAs
that use old proposals on both ends behind the dead-man's switch; ``rekey`` does it on demand. At Require the
switch is promote's (ops/confirmed.py): a drilled host is needed, as for promote."""

from __future__ import annotations

import sqlite3

from .conftest import Lab

OLD = '{ encapsulation = "ESP", encryption = "AES256", esp_hash = "SHA256" }'
NEW = '{ encapsulation = "ESP", encryption = "AES128", esp_hash = "SHA256" }'


def _cmdlets(host: dict[str, object]) -> list[str]:
    return [str(c["cmdlet"]) for c in host["calls"]]  # type: ignore[index, union-attr]


def test_apply_rekeys_a_promoted_pair_whose_proposals_changed(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    # promote, and the rekey at Require, run the dead-man's switch only on drilled hosts.
    assert lab.cli("doctor", "inventory.toml", "--lab", "--drill").returncode == 0
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab")
    assert rc == 0, report
    text = lab.inventory.read_text()
    assert OLD in text
    lab.inventory.write_text(text.replace(OLD, NEW))
    marks = {n: len(_cmdlets(h)) for n, h in lab.inspect().items()}

    rc, report = lab.json("apply", "inventory.toml", "--lab")
    assert rc == 0, report
    assert report["summary"] == {"add": 0, "change": 2, "destroy": 0}  # the quick-mode set on each host
    assert report["rekeyed"] == ["app01:sql01"]
    (pair,) = report["pairs"]
    qm = pair["sa"]["qm"]
    assert pair["verified"] and (qm["cipher"], qm["integrity"]) == ("AES128", "SHA256"), pair
    assert (pair["inbound_security"], pair["outbound_security"]) == ("Require", "Request")
    hosts = lab.inspect()
    for name in ("sql01", "app01"):
        assert hosts[name]["scheduled_tasks"] == []  # the switch is gone again
        rule = next(r for r in hosts[name]["stores"]["PersistentStore"]["rules"]
                    if r["Name"] == "ipsec-remote-pair-app01-sql01")
        assert rule["InboundSecurity"] == "Require"
    assert any("Remove-NetIPsecMainModeSA" in _cmdlets(hosts[n])[marks[n]:] for n in ("sql01", "app01"))
    # The lab logs NetSecurity cmdlets only; the switch shows in the journal, with the deadline each host
    # computed when it registered its task (arm_revert's output), confirmed once the pair proved again.
    (db,) = (lab.dir / ".ipsec-remote").glob("lab-state-*.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT host, deadline, status FROM reverts WHERE run_id = ?",
                            (report["run_id"],)).fetchall()
    assert sorted(r[0] for r in rows) == ["app01", "sql01"] and all(r[1] and r[2] == "confirmed" for r in rows)

    rc, again = lab.json("apply", "inventory.toml", "--lab")
    assert rc == 0 and again["rekeyed"] == [] and again["summary"] == {"add": 0, "change": 0, "destroy": 0}


def test_rekey_on_demand(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    before = {n: _cmdlets(h).count("Remove-NetIPsecMainModeSA") for n, h in lab.inspect().items()}
    rc, report = lab.json("rekey", "inventory.toml", "--lab", "--pairs", "sql01:app01")
    assert rc == 0, report
    (pair,) = report["pairs"]
    assert pair["verified"] and (pair["a"], pair["b"]) == ("app01", "sql01")
    assert report["reverted"] == [] and report["ok"]
    after = {n: _cmdlets(h).count("Remove-NetIPsecMainModeSA") for n, h in lab.inspect().items()}
    assert sum(after.values()) > sum(before.values())
    proc = lab.cli("rekey", "inventory.toml", "--lab", "--pairs", "app01:dc01")
    assert proc.returncode == 2 and "--pairs: app01:dc01: is not a pair of the inventory" in proc.stderr


def test_rekey_at_require_needs_a_drill_like_promote(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
    assert rc == 0, report
    marks = {n: _cmdlets(h).count("Remove-NetIPsecMainModeSA") for n, h in lab.inspect().items()}
    rc, report = lab.json("rekey", "inventory.toml", "--lab")
    assert rc == 1 and report["pairs"] == [], report
    assert any(p.startswith("app01:sql01 at Require was not rekeyed: ") and "doctor --drill" in p
               for p in report["problems"]), report["problems"]
    assert {n: _cmdlets(h).count("Remove-NetIPsecMainModeSA") for n, h in lab.inspect().items()} == marks

    rc, report = lab.json("rekey", "inventory.toml", "--lab", "--skip-drill")
    assert rc == 0, report
    (pair,) = report["pairs"]
    assert pair["verified"] and pair["inbound_security"] == "Require"
    hosts = lab.inspect()
    assert all(not hosts[n]["scheduled_tasks"] for n in ("sql01", "app01"))
    (db,) = (lab.dir / ".ipsec-remote").glob("lab-state-*.db")
    with sqlite3.connect(db) as conn:
        waves = conn.execute("SELECT status FROM waves WHERE run_id = ?", (report["run_id"],)).fetchall()
        reverts = conn.execute("SELECT host, deadline, status FROM reverts WHERE run_id = ?",
                               (report["run_id"],)).fetchall()
    assert waves == [("confirmed",)]
    assert sorted(r[0] for r in reverts) == ["app01", "sql01"] and all(r[1] and r[2] == "confirmed" for r in reverts)

    # apply never skips the drill: the stale pair at Require is left as it was, and the pair says why.
    lab.inventory.write_text(lab.inventory.read_text().replace(OLD, NEW))
    rc, report = lab.json("apply", "inventory.toml", "--lab")
    assert rc == 1 and report["rekeyed"] == [], report
    (pair,) = report["pairs"]
    assert not pair["verified"] and pair["stale_sa"], pair
    assert any("was not rekeyed" in p and "doctor --drill" in p for p in pair["problems"]), pair["problems"]
    hosts = lab.inspect()
    assert all(not hosts[n]["scheduled_tasks"] for n in ("sql01", "app01"))
