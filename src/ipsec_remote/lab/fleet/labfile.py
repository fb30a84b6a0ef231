"""``.ipsec-remote/lab.json``: how other commands find a running lab (DESIGN §5 shape, extra keys allowed).

It holds the fleet's password and the control token, so it is written with mode 0600 from the start
(created with ``os.open(..., 0o600)``, never chmod-ed after the fact) and replaced atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAB_FILE = "lab.json"


@dataclass(frozen=True)
class LabFile:
    path: Path
    data: dict[str, Any]

    @property
    def pid(self) -> int:
        return int(self.data["pid"])

    @property
    def control_url(self) -> str:
        return str(self.data["control"]["url"])

    @property
    def control_token(self) -> str:
        return str(self.data["control"]["token"])


def lab_file_path(state_dir: Path) -> Path:
    return state_dir / LAB_FILE


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_lab_file(state_dir: Path, data: dict[str, Any]) -> Path:
    path = lab_file_path(state_dir)
    write_private(path, json.dumps(data, indent=2) + "\n")
    return path


def read_lab_file(state_dir: Path) -> LabFile | None:
    """The running lab's file, None when there is none. A damaged file reads as pid 0 (no lab): the next
    ``lab up`` rewrites it and ``lab down`` removes it."""
    path = lab_file_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        data = {"pid": 0, "hosts": {}}
    return LabFile(path, data)


def is_lab_process(pid: int) -> bool:
    """``pid`` is alive and runs ipsec-remote (a recycled pid must never be signalled by ``lab down``).

    Where /proc is missing (macOS) only liveness is checked.
    """
    if pid <= 0 or not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return b"ipsec_remote" in cmdline or b"ipsec-remote" in cmdline


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True
