"""Which hosts may be changed behind the dead-man's switch: those whose latest drill succeeded."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.journal.deadman import record_drill
from ipsec_remote.journal.store import Journal
from ipsec_remote.ops.confirmed import undrilled


def test_only_a_latest_successful_drill_counts(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state.db")
    run = journal.begin_run("doctor --drill")
    record_drill(journal, run, "ok01", True, {})
    record_drill(journal, run, "bad01", False, {"problem": "no task ran"})
    record_drill(journal, run, "bad02", False, {})
    record_drill(journal, run, "again01", True, {})
    record_drill(journal, run, "again01", False, {"problem": "drift"})
    record_drill(journal, run, "fixed01", False, {"problem": "x"})
    record_drill(journal, run, "fixed01", True, {})
    out = undrilled(journal, ["ok01", "bad01", "bad02", "again01", "fixed01", "none01", "ok01"])
    assert sorted(out) == ["again01", "bad01", "bad02", "none01"]
    assert out["none01"] == "no dead-man's switch drill yet: run 'ipsec-remote doctor --drill'"
    assert out["bad01"].startswith("its last drill (20") and out["bad01"].endswith(
        ") failed: no task ran; fix it and run 'ipsec-remote doctor --drill'")
    assert ") failed: ?; fix it" in out["bad02"]
    assert ") failed: drift; " in out["again01"]
    assert undrilled(journal, []) == {}
    journal.close()
