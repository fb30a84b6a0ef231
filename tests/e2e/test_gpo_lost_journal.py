"""A journal lost in GPO mode (deleted after apply and promote --to require): the GPO's own objects show the
promoted pairs (their own rules), so the journal's promotions are rebuilt from them and every command says
so; apply never lowers a promoted pair back to Request, plan shows no change, and rollback — without the
snapshot taken before the first apply — says in one line what it removes and what it cannot restore."""

from __future__ import annotations

from pathlib import Path

from .conftest import Lab, running_lab
from .test_gpo_apply import GPO, INVENTORY, LISTENERS, MANAGED, gpo_doc
from .test_gpo_promote import promoted_rules, rsop_rules


def lose_journal(lab: Lab) -> None:
    dbs = list((lab.dir / ".ipsec-remote").glob("lab-state-*.db*"))
    assert dbs
    for db in dbs:
        db.unlink()


def test_a_lost_journal_is_rebuilt_from_the_gpo_and_keeps_require(tmp_path: Path) -> None:
    with running_lab(tmp_path, INVENTORY, faults=LISTENERS) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 0 and all(w["status"] == "confirmed" for w in report["waves"]), report
        doc = gpo_doc(lab)
        held, version = promoted_rules(doc["gpos"][GPO]["objects"]), doc["gpos"][GPO]["version"]
        assert len(held) == 14, held
        lose_journal(lab)

        proc = lab.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode")  # read-only: no change
        assert proc.returncode == 0 and "No changes" in proc.stdout, proc.stdout + proc.stderr
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0, status
        assert status["journal_notes"] and "rebuilt from the GPO" in status["journal_notes"][0], status
        assert len(status["pairs"]) == 7 and all(p["verified"] for p in status["pairs"]), status["pairs"]
        assert {(p["inbound_security"], p["outbound_security"]) for p in status["pairs"]} == {("Require", "Request")}
        assert status["hosts"]["dc01"]["drift"] == [], status["hosts"]["dc01"]

        lose_journal(lab)  # apply first this time: it must not lower a promoted pair back to Request
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0 and applied["summary"] == {"add": 0, "change": 0, "destroy": 0}, applied
        assert applied["journal_notes"] and "rebuilt from the GPO" in applied["journal_notes"][0], applied
        doc = gpo_doc(lab)
        assert doc["gpos"][GPO]["version"] == version and promoted_rules(doc["gpos"][GPO]["objects"]) == held

        rc, demoted = lab.json("promote", "--to", "request", "-i", "inventory.toml", "--lab", "--pairs",
                               "web01:sql01")
        assert rc == 0 and [w["status"] for w in demoted["waves"]] == ["confirmed"], demoted
        assert len(promoted_rules(gpo_doc(lab)["gpos"][GPO]["objects"])) == 12

        lose_journal(lab)  # no snapshot of the GPO from before the first apply: rollback says what it can do
        rc, rolled = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, rolled
        notes = rolled["journal_notes"]
        assert len(notes) == 1 and "no snapshot" in notes[0] and "cannot be restored" in notes[0], notes
        doc = gpo_doc(lab)
        assert doc["gpos"][GPO]["objects"] == []
        for host in MANAGED:
            assert rsop_rules(doc["hosts"][host]) == [] and doc["hosts"][host]["reachable_from_controller"], host
