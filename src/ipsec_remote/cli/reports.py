"""``--report`` / ``--junit`` on apply, status and promote: the options, the early check, the writing.

Kept apart from ``app.py`` so the commands only gain two options and two lines each.
"""

from __future__ import annotations

import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..journal.store import os_user
from ..report.document import build, inventory_context
from ..report.files import check_destinations, write_reports

ReportOpt = Annotated[Path | None, typer.Option(
    "--report", help="Also write the result as one self-contained HTML page (FILE.html) or JSON (FILE.json).")]
JunitOpt = Annotated[Path | None, typer.Option(
    "--junit", help="Also write JUnit XML for CI: a testcase per pair, a failure per unverified pair.")]


def check(report: Path | None, junit: Path | None) -> None:
    """Before anything is contacted: a destination that cannot be written is an input error (exit 2)."""
    check_destinations(report, junit)


def write(command: str, result: dict[str, Any], inv: Any, inventory: Path, lab: bool, report: Path | None,
          junit: Path | None, exit_code: int) -> None:
    if report is None and junit is None:
        return
    meta = {
        "command": command,
        "command_line": " ".join(["ipsec-remote", *sys.argv[1:]]) if sys.argv[1:] else f"ipsec-remote {command}",
        "inventory": str(inventory),
        "lab": lab,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "user": os_user(),
        "controller_host": socket.gethostname(),
        "version": __version__,
        "run_id": result.get("run_id"),
        "exit_code": exit_code,
        "summary": result.get("summary"),
    }
    write_reports(build(command, result, inventory_context(inv), meta), report, junit)
