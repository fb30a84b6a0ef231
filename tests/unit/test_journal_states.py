"""A journal that cannot be used gets one line naming the file and what to do; one run at a time per
journal, and a killed run's lock is taken over (issue 12: the hosts are the source of truth; one run)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipsec_remote.journal.lock import LockHeld, RunLock
from ipsec_remote.journal.store import SCHEMA_VERSION, Journal, JournalError


def test_a_corrupted_journal_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(JournalError) as info:
        Journal(path)
    line = str(info.value)
    assert "\n" not in line and str(path) in line and "damaged" in line and "move it aside" in line


def test_a_journal_damaged_after_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    j = Journal(path)
    run = j.begin_run("apply")
    for i in range(300):
        j.set_pair_security(f"a{i}", "b", "Require", "Request")
    j.finish_run(run, "ok", {})
    j.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    data[4096 + 100: 4096 * 3] = b"\xff" * (4096 * 3 - 4096 - 100)  # wreck pages past the first
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="damaged"):
        j = Journal(path)
        j.pair_security()


def test_a_foreign_database_is_not_taken_for_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="is not an ipsec-remote journal") as info:
        Journal(path)
    assert str(path) in str(info.value)
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["photos"]  # left untouched


def test_a_newer_schema_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match=r"newer ipsec-remote \(schema 2; this version reads up to 1\)"):
        Journal(path)


def test_a_journal_of_the_previous_release_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    j = Journal(path)
    j.set_pair_security("app01", "sql01", "Require", "Request")
    j.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 0")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    again = Journal(path)
    assert not again.created and again.pair_security() == {("app01", "sql01"): ("Require", "Request")}


def test_a_new_journal_says_so_and_read_only_commands_do_not_create_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    peek = Journal(path, read_only=True)
    assert peek.created and peek.pair_security() == {}
    assert not path.exists()
    assert Journal(path).created
    assert not Journal(path).created


HOLDER = """
import sys, time
from pathlib import Path
from ipsec_remote.journal.lock import RunLock
lock = RunLock(Path(sys.argv[1]), "apply").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = _holder(path)
    try:
        with pytest.raises(LockHeld) as info:
            RunLock(path, "rollback").acquire()
        line = str(info.value)
        assert f"pid {proc.pid}, 'apply', started 20" in line and str(path) in line and "\n" not in line
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_killed_runs_lock_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = _holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    lock = RunLock(path, "apply").acquire()
    try:
        assert lock.stale is not None and lock.stale["pid"] == proc.pid and lock.stale["command"] == "apply"
    finally:
        lock.release()
    again = RunLock(path, "apply").acquire()  # released cleanly: nothing stale the next time
    assert again.stale is None
    again.release()


def test_the_lock_is_released_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with RunLock(path, "apply"):
        time.sleep(0)
    with RunLock(path, "status") as second:
        assert second.stale is None
