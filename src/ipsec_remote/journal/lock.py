"""One run at a time per journal: an OS file lock beside it, holding who runs (pid, command, start time).

The lock is the operating system's (flock on POSIX, msvcrt.locking on Windows), so a run that is killed —
even with SIGKILL — releases it with its process. What it leaves is the holder record in the file: the next
run finds the lock free but the record still there, and reports that it took over a stale lock. A run that
finishes cleanly empties the record.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from ..errors import IpsecRemoteError
from .store import now_iso


class LockHeld(IpsecRemoteError):
    """Another run holds the journal (exit 1, nothing contacted)."""


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - the controller also runs on Windows workstations
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _holder(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    text = handle.read().strip()
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {"pid": "?", "command": "unknown (unreadable lock record)", "started_at": "?"}
    return found if isinstance(found, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    return f"pid {holder.get('pid', '?')}, '{holder.get('command', '?')}', started {holder.get('started_at', '?')}"


class RunLock:
    def __init__(self, journal: Path, command: str) -> None:
        self.path = lock_path(journal)
        self.command = command
        self.stale: dict[str, Any] | None = None  # the record a killed run left, once taken over
        self._handle: IO[str] | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        if not _try_lock(handle):
            holder = _holder(handle)
            handle.close()
            raise LockHeld(f"another run holds the journal {self.path.with_suffix('')}: {describe(holder)}; "
                           "wait for it to finish (a killed run's lock is taken over automatically)")
        previous = _holder(handle)
        self.stale = previous or None
        handle.seek(0)
        handle.truncate()
        # Windows' msvcrt lock covers byte 0 only; the record is written after a padding byte there.
        handle.write(" " + json.dumps({"pid": os.getpid(), "command": self.command, "started_at": now_iso()}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            handle.close()  # closing releases the OS lock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
