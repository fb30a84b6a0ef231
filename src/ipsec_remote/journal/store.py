"""The journal: SQLite (WAL) beside the inventory, one transaction per recorded step (DESIGN §6).

It holds runs, the per-host snapshot taken before the first change ever made to a host, every step sent,
each pair's verification, promotion waves and armed reverts. A run killed at any point leaves a
consistent journal (each step commits on its own; an unfinished run stays 'running' and is marked
'interrupted' by the next run). Secrets never reach it: parameters are stored as plan JSON, where a
pre-shared key is only a reference to its environment variable.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import IpsecRemoteError
from ..model.calls import CmdletCall

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running', summary TEXT);
CREATE TABLE IF NOT EXISTS snapshots (
    host TEXT PRIMARY KEY, run_id INTEGER NOT NULL, taken_at TEXT NOT NULL, owned TEXT NOT NULL,
    settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, host TEXT NOT NULL, phase TEXT NOT NULL,
    cmdlet TEXT NOT NULL, params TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
    verified INTEGER NOT NULL, detail TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pair_security (
    a TEXT NOT NULL, b TEXT NOT NULL, inbound TEXT NOT NULL, outbound TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS waves (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, number INTEGER NOT NULL, pairs TEXT NOT NULL,
    status TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reverts (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, wave_id INTEGER, host TEXT NOT NULL,
    task_name TEXT NOT NULL, deadline TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL);
-- promote asks for each pair's latest verification, and every apply adds a row per pair: without this, each
-- question read the whole table (21,000 pairs after two applies: 6 s, growing with every run). Also created
-- in an older journal when it is opened; an older version reading the file ignores it.
CREATE INDEX IF NOT EXISTS verifications_by_pair ON verifications (a, b);
-- A run's steps (history, its summary) without reading every run's.
CREATE INDEX IF NOT EXISTS steps_by_run ON steps (run_id);
"""


# Columns added after the first release: ALTER TABLE ADD COLUMN on open, never a change to what exists,
# so an older journal keeps working and an older version still reads a newer journal.
ADDED_COLUMNS = (("runs", "os_user", "TEXT"),)


def os_user() -> str:
    """Who ran the command (the OS account), for history."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Verification:
    a: str
    b: str
    verified: bool
    detail: dict[str, Any]
    at: str


SCHEMA_VERSION = 1  # PRAGMA user_version; a journal from a newer ipsec-remote is refused, never rewritten
APPLICATION_ID = 0x69707372  # PRAGMA application_id: "ipsr" marks the file as an ipsec-remote journal
# An unmarked database is adopted as an earlier release's journal when it has the tables every release wrote
# first (runs and steps; the others are created if missing); anything else is another program's.
ADOPTABLE = frozenset({"runs", "steps"})


class JournalError(IpsecRemoteError):
    """The journal cannot be used as it is: one line naming the file and what to do."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"journal {path}: {problem}; {fix}")


def _aside(path: Path) -> str:
    return (f"move it aside (mv '{path}' '{path}.bad') and run again: the journal is rebuilt from the hosts "
            "(promotions are recorded on them)")


class Journal:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """``read_only``: a command that changes nothing (plan, doctor) does not create a missing journal
        — it reads an empty one in memory, so the next changing run still sees the journal as missing."""
        self.path = path
        self.created = False  # True for a new (or lost) journal: it is rebuilt from the hosts
        self._lock = threading.RLock()
        in_memory = read_only and not path.exists()
        if not in_memory:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
        try:
            self._db = sqlite3.connect(":memory:" if in_memory else path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(path, f"cannot be opened ({exc})", "check the file and its folder") from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JournalError(path, f"is damaged or not an SQLite database ({exc})", _aside(path)) from None
        except JournalError:
            self._db.close()
            raise
        if not in_memory:
            os.chmod(path, 0o600)

    def _open(self) -> None:
        db, path = self._db, self.path
        app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables and not tables >= ADOPTABLE):
            raise JournalError(path, "is not an ipsec-remote journal (another program's database)",
                               "point ipsec-remote at its own state folder or move the file aside")
        if version > SCHEMA_VERSION:
            raise JournalError(path, f"was written by a newer ipsec-remote (schema {version}; this version reads "
                                     f"up to {SCHEMA_VERSION})", "upgrade ipsec-remote, or move it aside")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(str(check))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        self._add_columns()
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.created = not tables  # (with WAL, a journal's rows may all still be in its -wal file)

    def _add_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                try:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it in between
                    if "duplicate column" not in str(exc):
                        raise

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # Hosts are worked on from several threads sharing this connection: one transaction at a time.
        with self._lock, self._damaged():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _damaged(self) -> Iterator[None]:
        """SQLite errors after opening (a file damaged under us, a full disk) as one journal line."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise JournalError(self.path, f"cannot be written or read ({exc})", _aside(self.path)) from None

    # -- runs -----------------------------------------------------------------------------------------
    def begin_run(self, command: str) -> int:
        with self._tx() as db:
            db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cur = db.execute("INSERT INTO runs (command, started_at, os_user) VALUES (?, ?, ?)",
                             (command, now_iso(), os_user()))
            return int(cur.lastrowid or 0)

    def close_stale_runs(self) -> int:
        """Runs still 'running' while this process holds the run lock died without finishing."""
        with self._tx() as db:
            return int(db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'").rowcount)

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                       (now_iso(), status, json.dumps(summary), run_id))

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._damaged():
            return list(self._db.execute(sql, args).fetchall())

    def runs(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, command, started_at, finished_at, status FROM runs ORDER BY id")
        return [dict(zip(("id", "command", "started_at", "finished_at", "status"), r, strict=True)) for r in rows]

    def run_summary(self, run_id: int) -> dict[str, Any]:
        """Steps of a run per host: calls that succeeded and failed (what an interrupted run did)."""
        rows = self._query("SELECT host, ok, COUNT(*) FROM steps WHERE run_id = ? GROUP BY host, ok", (run_id,))
        out: dict[str, Any] = {}
        for host, ok, count in rows:
            out.setdefault(host, {"ok": 0, "failed": 0})["ok" if ok else "failed"] += int(count)
        return out

    # -- snapshots ------------------------------------------------------------------------------------
    def snapshot_once(self, run_id: int, host: str, owned: list[dict[str, Any]], settings: dict[str, Any]) -> bool:
        """Record the host's state before our first change ever; later calls keep the first one."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO snapshots (host, run_id, taken_at, owned, settings) VALUES (?, ?, ?, ?, ?)",
                (host, run_id, now_iso(), json.dumps(owned), json.dumps(settings)))
            return cur.rowcount == 1

    def remember_settings(self, run_id: int, host: str, values: dict[str, Any], owned: list[dict[str, Any]]
                          ) -> dict[str, Any]:
        """Record host settings (e.g. audit policy) before our first change to each; a key recorded earlier
        keeps its first value. Creates the host's snapshot with ``owned`` if it has none yet (the caller
        read ``owned`` before any change). Returns the values recorded now."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO snapshots (host, run_id, taken_at, owned, settings) VALUES (?,?,?,?,?)",
                       (host, run_id, now_iso(), json.dumps(owned), "{}"))
            row = db.execute("SELECT settings FROM snapshots WHERE host = ?", (host,)).fetchone()
            settings = json.loads(row[0])
            new = {k: v for k, v in values.items() if k not in settings}
            if new:
                db.execute("UPDATE snapshots SET settings = ? WHERE host = ?",
                           (json.dumps({**settings, **new}), host))
            return new

    def forget_settings(self, host: str, keys: list[str]) -> None:
        """Drop settings that were restored (a later apply records them afresh)."""
        with self._tx() as db:
            row = db.execute("SELECT settings FROM snapshots WHERE host = ?", (host,)).fetchone()
            if row is not None:
                settings = {k: v for k, v in json.loads(row[0]).items() if k not in keys}
                db.execute("UPDATE snapshots SET settings = ? WHERE host = ?", (json.dumps(settings), host))

    def snapshot(self, host: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        rows = self._query("SELECT owned, settings FROM snapshots WHERE host = ?", (host,))
        row = rows[0] if rows else None
        return (json.loads(row[0]), json.loads(row[1])) if row else None

    # -- steps ----------------------------------------------------------------------------------------
    def record_step(self, run_id: int, host: str, phase: str, call: CmdletCall, ok: bool,
                    error: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO steps (run_id, host, phase, cmdlet, params, ok, error, at) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, host, phase, call.cmdlet, json.dumps(call.to_json()["params"]), int(ok), error, now_iso()))

    def steps(self, run_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run_id, host, phase, cmdlet, params, ok, error FROM steps"
        rows = self._query(sql + (" WHERE run_id = ?" if run_id else "") + " ORDER BY id",
                           (run_id,) if run_id else ())
        return [{"run_id": r[0], "host": r[1], "phase": r[2], "cmdlet": r[3], "params": json.loads(r[4]),
                 "ok": bool(r[5]), "error": r[6]} for r in rows]

    # -- verification and pair security ---------------------------------------------------------------
    def record_verification(self, run_id: int, a: str, b: str, verified: bool, detail: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO verifications (run_id, a, b, verified, detail, at) VALUES (?,?,?,?,?,?)",
                       (run_id, a, b, int(verified), json.dumps(detail), now_iso()))

    def latest_verification(self, a: str, b: str) -> Verification | None:
        rows = self._query(
            "SELECT verified, detail, at FROM verifications WHERE a = ? AND b = ? ORDER BY id DESC LIMIT 1", (a, b))
        row = rows[0] if rows else None
        return Verification(a, b, bool(row[0]), json.loads(row[1]), row[2]) if row else None

    def set_pair_security(self, a: str, b: str, inbound: str, outbound: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO pair_security (a, b, inbound, outbound, at) VALUES (?,?,?,?,?) "
                       "ON CONFLICT(a, b) DO UPDATE SET inbound = excluded.inbound, "
                       "outbound = excluded.outbound, at = excluded.at", (a, b, inbound, outbound, now_iso()))

    def pair_security(self) -> dict[tuple[str, str], tuple[str, str]]:
        rows = self._query("SELECT a, b, inbound, outbound FROM pair_security")
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def clear_pair_security(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM pair_security")

    def drop_pair_security(self, a: str, b: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM pair_security WHERE a = ? AND b = ?", (a, b))

    # -- promotion ------------------------------------------------------------------------------------
    def record_wave(self, run_id: int, number: int, pairs: list[tuple[str, str]], status: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO waves (run_id, number, pairs, status, at) VALUES (?,?,?,?,?)",
                             (run_id, number, json.dumps(pairs), status, now_iso()))
            return int(cur.lastrowid or 0)

    def update_wave(self, wave_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE waves SET status = ?, at = ? WHERE id = ?", (status, now_iso(), wave_id))

    def record_revert(self, run_id: int, wave_id: int | None, host: str, task_name: str, deadline: str,
                      status: str) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO reverts (run_id, wave_id, host, task_name, deadline, status, at) VALUES (?,?,?,?,?,?,?)",
                (run_id, wave_id, host, task_name, deadline, status, now_iso()))
            return int(cur.lastrowid or 0)

    def update_revert(self, revert_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE reverts SET status = ?, at = ? WHERE id = ?", (status, now_iso(), revert_id))

    def integrity_ok(self) -> bool:
        return bool(self._query("PRAGMA integrity_check")[0][0] == "ok")
