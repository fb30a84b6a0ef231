"""``ipsec-remote history``: the runs the journal recorded, as a table or one JSON document.

The journal is the real fleet's (``state.db``) or, with ``--lab``, the lab fleet's. After ``lab down`` the
last lab's journal is read (each lab fleet has its own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError, IpsecRemoteError
from ..journal.history import HistoryError, latest_lab_journal, open_readonly, read_history
from ..remote.connect import journal_path, lab_file, state_dir


def find_journal(inventory: Path, lab: bool) -> Path:
    if not inventory.is_file():
        raise InputError(str(inventory), "", "cannot read: no such file")
    if lab and not lab_file(inventory).is_file():
        last = latest_lab_journal(state_dir(inventory))
        if last is not None:
            typer.echo(f"ipsec-remote: no lab is running; reading the last lab fleet's journal ({last.name})",
                       err=True)
            return last
    return journal_path(inventory, lab)


def show(inventory: Path, lab: bool, json_out: bool, run_id: int | None) -> None:
    path = find_journal(inventory, lab)
    try:
        db = open_readonly(path)
        runs = read_history(db, run_id) if db is not None else []
    except HistoryError as exc:
        raise IpsecRemoteError(str(exc)) from None
    if run_id is not None and not runs:
        raise InputError("--run", str(run_id), f"no such run in {path}")
    if json_out:
        typer.echo(json.dumps({"journal": str(path), "runs": runs}, indent=2))
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    if db is None:
        console.print(f"No runs recorded yet ({path} does not exist).")
    elif run_id is not None:
        _print_run(runs[0], console)
    else:
        _print_runs(runs, path, console)


def _hosts_text(hosts: dict[str, Any]) -> str:
    failed = [h for h, v in hosts.items() if v["outcome"] == "failed"]
    text = f"{len(hosts) - len(failed)} ok"
    return text + (f", {len(failed)} failed ({', '.join(failed[:3])}{'…' if len(failed) > 3 else ''})"
                   if failed else "")


def _reverts_text(reverts: list[dict[str, Any]]) -> str:
    if not reverts:
        return ""
    armed = sum(1 for r in reverts if r["armed"])
    fired = sum(1 for r in reverts if r["fired"])
    return f"{len(reverts)} ({armed} still armed, {fired} fired)"


def _print_runs(runs: list[dict[str, Any]], path: Path, console: Console) -> None:
    table = Table(title=f"Runs in {path}")
    for col in ("run", "started (UTC)", "command", "who", "result", "hosts", "pairs", "waves", "reverts"):
        table.add_column(col)
    for r in runs:
        pairs = r["pairs"]
        waves = ", ".join(f"{w['number']}:{w['status']}" for w in r["waves"])
        started = str(r["started_at"] or "")[:19].replace("T", " ")
        table.add_row(str(r["id"]), started, str(r["command"]), str(r["user"] or "?"), str(r["result"]),
                      _hosts_text(r["hosts"]) if r["hosts"] else "",
                      f"{pairs['verified']} ✓ {pairs['failed']} ✗" if any(pairs.values()) else "", waves,
                      _reverts_text(r["reverts"]))
    console.print(table)
    if not runs:
        console.print("No runs recorded yet.")


def _print_run(r: dict[str, Any], console: Console) -> None:
    console.print(f"Run {r['id']}: ipsec-remote {r['command']} by {r['user'] or '?'}, "
                  f"{r['started_at']} → {r['finished_at'] or 'not finished'}: {r['result']}")
    if r["summary"]:
        console.print(f"  summary: {json.dumps(r['summary'])}")
    if r["hosts"]:
        table = Table(title="Hosts")
        for col in ("host", "outcome", "steps", "failed", "error"):
            table.add_column(col)
        for host, h in r["hosts"].items():
            table.add_row(host, h["outcome"], str(h["steps"]), str(h["failed_steps"]), str(h["error"] or ""))
        console.print(table)
    if r.get("proofs"):
        table = Table(title="Pair proofs")
        for col in ("pair", "verified", "at", "problems"):
            table.add_column(col)
        for p in r["proofs"]:
            table.add_row(f"{p['a']} <-> {p['b']}", "✓" if p["verified"] else "✗", str(p["at"]),
                          "\n".join(p["problems"]))
        console.print(table)
    for w in r["waves"]:
        pairs = ", ".join(":".join(p) if isinstance(p, list) else str(p) for p in w["pairs"] or [])
        console.print(f"  wave {w['number']}: {w['status']} ({pairs})")
    for v in r["reverts"]:
        state = "STILL ARMED" if v["armed"] else "fired on the host" if v["fired"] else v["status"]
        console.print(f"  revert on {v['host']} (wave {v['wave']}, deadline {v['deadline']}): {state}")
    for s in r.get("failed_steps") or []:
        console.print(f"  ✗ {s['host']} {s['phase']} {s['cmdlet']}: {s['error']}")
