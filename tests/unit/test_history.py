"""history reads the journal read-only, and tolerates older and newer journal schemas."""

from __future__ import annotations

import getpass
import sqlite3
from pathlib import Path

import pytest

from ipsec_remote.journal.history import HistoryError, open_readonly, read_history
from ipsec_remote.journal.store import Journal
from ipsec_remote.model.calls import CmdletCall

# The first release's runs table (no os_user) and no waves/reverts tables at all.
OLD_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running', summary TEXT);
CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, host TEXT NOT NULL, phase TEXT NOT NULL,
    cmdlet TEXT NOT NULL, params TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT, at TEXT NOT NULL);
INSERT INTO runs VALUES (1, 'apply', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'failed',
    '{"add": 3, "change": 0, "destroy": 0}');
INSERT INTO steps VALUES (1, 1, 'sql01', 'exemptions', 'New-NetIPsecRule', '{}', 1, NULL, 't');
INSERT INTO steps VALUES (2, 1, 'app01', 'exemptions', 'New-NetIPsecRule', '{}', 0, 'Access is denied', 't');
"""


def old_journal(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.commit()
    db.close()
    return path


def test_an_old_journal_reads_without_the_tables_and_columns_it_lacks(tmp_path: Path) -> None:
    path = old_journal(tmp_path / "state.db")
    db = open_readonly(path)
    assert db is not None
    (run,) = read_history(db)
    assert (run["command"], run["user"], run["result"]) == ("apply", None, "failed")
    assert run["hosts"]["app01"] == {"steps": 1, "failed_steps": 1, "error": "Access is denied", "outcome": "failed"}
    assert run["hosts"]["sql01"]["outcome"] == "ok"
    assert run["waves"] == [] and run["reverts"] == [] and run["pairs"] == {"verified": 0, "failed": 0}


def test_opening_an_old_journal_adds_who_and_keeps_its_runs(tmp_path: Path) -> None:
    path = old_journal(tmp_path / "state.db")
    j = Journal(path)  # the additive migration: ALTER TABLE runs ADD COLUMN os_user
    run = j.begin_run("promote --to require")
    wave = j.record_wave(run, 1, [("app01", "sql01")], "arming")
    j.record_revert(run, wave, "sql01", "ipsec-remote-revert", "2026-01-01T00:05:00Z", "armed")
    j.record_revert(run, wave, "app01", "ipsec-remote-revert", "2026-01-01T00:05:00Z", "reverted-by-task")
    j.record_verification(run, "app01", "sql01", True, {"problems": []})
    j.record_verification(run, "app01", "sql01", False, {"problems": ["app01: no quick-mode SA"]})
    j.update_wave(wave, "reverted")
    j.record_step(run, "sql01", "promote-wave-1", CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": "r"}), True)
    j.close()
    Journal(path).close()  # opening again does not add the column twice
    db = open_readonly(path)
    assert db is not None
    old, new = read_history(db)
    assert old["user"] is None and new["user"] == getpass.getuser()
    assert new["result"] == "running" and new["finished_at"] is None  # killed mid-run: still visible
    assert new["waves"][0]["status"] == "reverted" and new["waves"][0]["pairs"] == [["app01", "sql01"]]
    assert {(r["host"], r["armed"], r["fired"]) for r in new["reverts"]} == {("sql01", True, False),
                                                                            ("app01", False, True)}
    assert new["pairs"] == {"verified": 0, "failed": 1}  # the last proof of a pair is its outcome
    (detail,) = read_history(db, new["id"])
    assert [p["problems"] for p in detail["proofs"]] == [[], ["app01: no quick-mode SA"]]


def test_a_newer_journal_with_extra_tables_and_columns_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    j = Journal(path)
    run = j.begin_run("apply")
    j.finish_run(run, "ok", {"add": 1})
    j.close()
    db = sqlite3.connect(path)
    db.executescript("ALTER TABLE runs ADD COLUMN limit_hosts TEXT; CREATE TABLE rekeys (id INTEGER PRIMARY KEY);")
    db.close()
    ro = open_readonly(path)
    assert ro is not None
    (entry,) = read_history(ro)
    assert (entry["command"], entry["result"], entry["summary"]) == ("apply", "ok", {"add": 1})


def test_history_never_creates_or_writes_a_journal(tmp_path: Path) -> None:
    assert open_readonly(tmp_path / "state.db") is None
    assert not (tmp_path / "state.db").exists()
    path = old_journal(tmp_path / "state.db")
    db = open_readonly(path)
    assert db is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM runs")


def test_a_damaged_journal_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="cannot be read"):
        open_readonly(path)
