"""Journal records of the dead-man's switch kept beside the core tables: each host's drills, and what became
of the reverts armed by the latest promotion (the ``reverts`` rows store.py writes).

A drill is ``doctor --drill``: a harmless task armed through the same mechanism as a revert; ``promote``
needs a successful one per host. Revert outcomes: armed, confirmed, aborted, reverted-by-controller,
reverted-before-confirm (the task fired before the controller confirmed), reverted-by-task, revert-failed,
unreachable, not-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .store import Journal, now_iso

DRILLS = """
CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY, run_id INTEGER, host TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL,
    at TEXT NOT NULL);
"""
CONFIRMED_OR_PENDING = ("armed", "confirmed", "aborted")


@dataclass(frozen=True)
class Drill:
    host: str
    ok: bool
    detail: dict[str, Any]
    at: str


def _ensure(journal: Journal) -> None:
    # The journal package's own connection: this module is part of the journal, kept apart from store.py.
    with journal._lock:
        journal._db.executescript(DRILLS)


def record_drill(journal: Journal, run_id: int, host: str, ok: bool, detail: dict[str, Any]) -> None:
    _ensure(journal)
    with journal._tx() as db:
        db.execute("INSERT INTO drills (run_id, host, ok, detail, at) VALUES (?,?,?,?,?)",
                   (run_id, host, int(ok), json.dumps(detail), now_iso()))


def latest_drills(journal: Journal) -> dict[str, Drill]:
    """Each host's most recent drill."""
    _ensure(journal)
    rows = journal._query(
        "SELECT host, ok, detail, at FROM drills WHERE id IN (SELECT MAX(id) FROM drills GROUP BY host)")
    return {r[0]: Drill(r[0], bool(r[1]), json.loads(r[2]), r[3]) for r in rows}


def last_successful_drills(journal: Journal) -> dict[str, str]:
    """host -> when its last successful drill ran."""
    _ensure(journal)
    rows = journal._query("SELECT host, MAX(at) FROM drills WHERE ok = 1 GROUP BY host")
    return {r[0]: r[1] for r in rows}


def latest_promotion_reverts(journal: Journal) -> list[dict[str, Any]]:
    """What became of each revert the latest promotion run armed, wave by wave (confirmed ones left out)."""
    rows = journal._query(
        "SELECT w.number, r.host, r.status, r.deadline, r.at, r.run_id FROM reverts r "
        "LEFT JOIN waves w ON w.id = r.wave_id WHERE r.run_id = (SELECT MAX(run_id) FROM reverts "
        "WHERE wave_id IS NOT NULL) AND r.wave_id IS NOT NULL ORDER BY r.id")
    return [{"wave": r[0], "host": r[1], "status": r[2], "deadline_utc": r[3], "at": r[4], "run": r[5]}
            for r in rows if r[2] not in ("confirmed",)]
