"""What the journal remembers, read-only: runs (command, who, when, result), per-host outcome, pair proofs,
promotion waves, and armed and fired reverts — for ``ipsec-remote history``.

The journal is opened read-only (``mode=ro``: history never creates, migrates or locks it for writing)
and every query names only the tables and columns that exist, so a journal written by an older version,
or one a newer version extended, reads the same way. Secrets never reach the journal; nothing here adds any.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A revert whose status says the on-host task ran by itself (the controller could not confirm in time).
FIRED_STATUSES = {"reverted-by-task", "fired"}
ARMED_STATUSES = {"armed"}


class HistoryError(Exception):
    """The journal exists but cannot be read (damaged, not SQLite)."""


def open_readonly(path: Path) -> sqlite3.Connection | None:
    """The journal at ``path`` opened read-only, or None when no run was ever recorded there."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{path}: cannot be read as a journal ({exc})") from None
    return db


def latest_lab_journal(state_dir: Path) -> Path | None:
    """The most recently written lab journal (one per lab fleet), for history after ``lab down``."""
    found = sorted(state_dir.glob("lab-state-*.db"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}  # table: our constant names


def _select(db: sqlite3.Connection, table: str, wanted: Iterable[str], where: str = "",
            args: tuple[Any, ...] = (), order: str = "id") -> list[dict[str, Any]]:
    """Rows as dicts with every wanted key; a column the table lacks reads as None, a missing table as []."""
    have = _columns(db, table)
    if not have:
        return []
    wanted = list(wanted)
    present = [c for c in wanted if c in have]
    if not present:
        return []
    sql = f"SELECT {', '.join(present)} FROM {table}"
    if where:
        sql += f" WHERE {where}"
    if order in have:
        sql += f" ORDER BY {order}"
    rows = db.execute(sql, args).fetchall()
    return [{c: dict(zip(present, row, strict=True)).get(c) for c in wanted} for row in rows]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_history(db: sqlite3.Connection, run_id: int | None = None) -> list[dict[str, Any]]:
    """Every run (or the one ``run_id``), oldest first, with what happened per host, pair, wave and revert."""
    try:
        return _read(db, run_id)
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"the journal cannot be read ({exc})") from None


def _read(db: sqlite3.Connection, run_id: int | None) -> list[dict[str, Any]]:
    where, args = ("id = ?", (run_id,)) if run_id is not None else ("", ())
    runs = _select(db, "runs", ("id", "command", "os_user", "started_at", "finished_at", "status", "summary"),
                   where, args)
    detailed = run_id is not None
    out = []
    for run in runs:
        rid = run["id"]
        steps = _select(db, "steps", ("host", "phase", "cmdlet", "ok", "error", "at"), "run_id = ?", (rid,))
        proofs = _select(db, "verifications", ("a", "b", "verified", "detail", "at"), "run_id = ?", (rid,))
        waves = _select(db, "waves", ("id", "number", "pairs", "status", "at"), "run_id = ?", (rid,))
        reverts = _select(db, "reverts", ("wave_id", "host", "task_name", "deadline", "status", "at"),
                          "run_id = ?", (rid,))
        summary = _json(run["summary"])
        entry: dict[str, Any] = {
            "id": rid, "command": run["command"], "user": run["os_user"], "started_at": run["started_at"],
            "finished_at": run["finished_at"], "result": run["status"], "summary": summary,
            "hosts": _host_outcomes(steps, summary, reverts),
            "pairs": _pair_counts(proofs),
            "waves": [{"number": w["number"], "pairs": _json(w["pairs"]), "status": w["status"], "at": w["at"]}
                      for w in waves],
            "reverts": _reverts(reverts, {w["id"]: w["number"] for w in waves}),
        }
        if detailed:
            entry["proofs"] = [{"a": p["a"], "b": p["b"], "verified": bool(p["verified"]),
                                "problems": (_json(p["detail"]) or {}).get("problems", [])
                                if isinstance(_json(p["detail"]), dict) else [], "at": p["at"]} for p in proofs]
            entry["failed_steps"] = [{"host": s["host"], "phase": s["phase"], "cmdlet": s["cmdlet"],
                                      "error": s["error"], "at": s["at"]} for s in steps if not s["ok"]]
        out.append(entry)
    return out


def _host_outcomes(steps: list[dict[str, Any]], summary: Any, reverts: list[dict[str, Any]]) -> dict[str, Any]:
    hosts: dict[str, dict[str, Any]] = {}
    for s in steps:
        h = hosts.setdefault(str(s["host"]), {"steps": 0, "failed_steps": 0, "error": None})
        h["steps"] += 1
        if not s["ok"]:
            h["failed_steps"] += 1
            h["error"] = h["error"] or s["error"]
    failed = summary.get("failed_hosts") if isinstance(summary, dict) else None
    for host, reason in (failed or {}).items():
        h = hosts.setdefault(str(host), {"steps": 0, "failed_steps": 0, "error": None})
        h["error"] = h["error"] or reason
    for r in reverts:
        hosts.setdefault(str(r["host"]), {"steps": 0, "failed_steps": 0, "error": None})
    for h in hosts.values():
        h["outcome"] = "failed" if h["failed_steps"] or h["error"] else "ok"
    return dict(sorted(hosts.items()))


def _pair_counts(proofs: list[dict[str, Any]]) -> dict[str, int]:
    latest: dict[frozenset[str], bool] = {}
    for p in proofs:  # a promote proves a pair again after the change: the last proof is the outcome
        latest[frozenset((str(p["a"]), str(p["b"])))] = bool(p["verified"])
    return {"verified": sum(latest.values()), "failed": sum(1 for v in latest.values() if not v)}


def _reverts(reverts: list[dict[str, Any]], wave_numbers: dict[Any, Any]) -> list[dict[str, Any]]:
    return [{"host": r["host"], "wave": wave_numbers.get(r["wave_id"]), "task": r["task_name"],
             "deadline": r["deadline"], "status": r["status"],
             "armed": r["status"] in ARMED_STATUSES, "fired": r["status"] in FIRED_STATUSES, "at": r["at"]}
            for r in reverts]
