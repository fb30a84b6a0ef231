"""Report files named on the command line: checked before any host is contacted, written after the run.

``--report FILE.html`` or ``FILE.json`` and ``--junit FILE.xml``. The renderers are pure; this module only
checks the destinations and writes (through a temporary file beside the target, so a reader never sees
half a report).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, IpsecRemoteError
from .html import render_html
from .junit import render_junit

REPORT_SUFFIXES = (".html", ".htm", ".json")


def check_destinations(report: Path | None, junit: Path | None) -> None:
    """One InputError line (exit 2) for a destination that cannot be written; nothing is contacted yet."""
    for option, path, suffixes in (("--report", report, REPORT_SUFFIXES), ("--junit", junit, (".xml",))):
        if path is None:
            continue
        if path.suffix.lower() not in suffixes:
            raise InputError(option, str(path), f"must end in {' or '.join(suffixes)}")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise InputError(option, str(path), f"folder {folder} does not exist")
        if path.is_dir():
            raise InputError(option, str(path), "is a folder")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise InputError(option, str(path), "cannot be written (permission denied)")
    if report is not None and junit is not None and report.resolve() == junit.resolve():
        raise InputError("--junit", str(junit), "is the same file as --report")


def render_report(path: Path, doc: Mapping[str, Any]) -> str:
    if path.suffix.lower() == ".json":
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"
    return render_html(doc)


def write_text(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise IpsecRemoteError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_reports(doc: Mapping[str, Any], report: Path | None, junit: Path | None) -> None:
    if report is not None:
        write_text(report, render_report(report, doc))
    if junit is not None:
        write_text(junit, render_junit(doc))
