"""Promotion's proofs are journalled: the run's verifications hold the proof before any change and then each
wave's proof of its own pairs (in place, under the new policy), as ``history --run`` shows them."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.journal.history import open_readonly, read_history
from ipsec_remote.ops.promote import promote

from .harness import TRIO, inprocess_lab


def test_each_wave_s_proofs_are_journalled_per_pair(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4, None,
                         skip_drill=True)
        assert report.ok, report.to_json()
        assert [(w.number, w.pairs) for w in report.waves] == [
            (1, [("app01", "sql01")]), (2, [("web01", "app01"), ("web01", "sql01")])]
        db = open_readonly(lab.dir / "state.db")
        assert db is not None
        try:
            (run,) = read_history(db, report.run_id)
        finally:
            db.close()
        proofs = [(p["a"], p["b"], p["verified"], p["problems"]) for p in run["proofs"]]
        every = [("app01", "sql01"), ("web01", "app01"), ("web01", "sql01")]
        assert proofs == (
            [(a, b, True, []) for a, b in every]  # the pairs verify now, before anything changes
            + [("app01", "sql01", True, [])]  # wave 1 (canary), proven under Require
            + [("web01", "app01", True, []), ("web01", "sql01", True, [])])  # wave 2
        assert [(w["number"], w["status"]) for w in run["waves"]] == [(1, "confirmed"), (2, "confirmed")]
