"""What the controller sends to and reads from a dead-man's switch on a host (remote/powershell/
{arm_revert,revert_task,check_revert,disarm_revert}.ps1): the task's inline command, the armed data and its
digest, host clocks and deadlines, markers and the security descriptors that decide whether to trust them.

Pure functions; the orchestration lives in ops/switch.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .transport import script_text

REVERT_TASK = "ipsec-remote-revert"
DRILL_TASK = "ipsec-remote-drill"
SYSTEM_SID = "S-1-5-18"
# CreateProcessW: lpCommandLine is at most 32,767 characters including the terminating null
# (learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw). Task
# Scheduler starts an exec action as "<path>" <arguments>; the Task Scheduler schema sets no other limit.
MAX_COMMAND_LINE = 32767 - 1
MAX_PATH = 260  # %SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe is a path: at most this long
EXE_SWITCHES = "-NoProfile -NonInteractive -WindowStyle Hidden -EncodedCommand "
SCHED_S_TASK_RUNNING, SCHED_S_TASK_HAS_NOT_RUN = 0x41301, 0x41303
_TOKEN = re.compile(r"^[A-Za-z0-9-]+$")
_DIGEST = re.compile(r"^[0-9A-F]{64}$")


# GPO mode's deadline action (revert_task.ps1): a computer-policy refresh instead of rules to restore.
REFRESH_LINE = "gpupdate-computer"


def revert_line(rule: str, inbound: str, outbound: str, store: str) -> str:
    """One rule to restore: its four fields percent-encoded (UTF-8, every byte but letters, digits and
    ``-_.~``) and joined with '|', so any name or GPO store — quotes, '|', line breaks, any script — travels
    as plain ASCII data; revert_task.ps1 decodes each field with [uri]::UnescapeDataString."""
    return "|".join(urllib.parse.quote(value, safe="", encoding="utf-8") for value in (rule, inbound, outbound,
                                                                                        store))


def data_file(lines: list[str]) -> tuple[str, str]:
    """(file text, SHA256 in upper-case hex). arm_revert.ps1 writes the text as ASCII without a newline of its
    own (Set-Content -NoNewline -Encoding Ascii), so the file's bytes are exactly these."""
    text = "".join(line + "\r\n" for line in lines)
    return text, hashlib.sha256(text.encode("ascii")).hexdigest().upper()


def inline_command(task_name: str, digest: str) -> str:
    """The task's -EncodedCommand: revert_task.ps1 as a script block called with the task name and the data
    digest. Only these two values are spliced in, and both are checked to be plain tokens (letters, digits,
    dashes; upper-case hex), so nothing from the inventory ever becomes script text."""
    if not _TOKEN.match(task_name) or not _DIGEST.match(digest):
        raise ValueError("the task name and digest must be plain tokens")
    text = f"& {{\n{script_text('revert_task')}\n}} -TaskName '{task_name}' -ExpectedDigest '{digest}'\n"
    # about_PowerShell_exe: -EncodedCommand takes the base-64 string of the command's UTF-16LE bytes.
    encoded = base64.b64encode(text.encode("utf-16-le")).decode("ascii")
    length = len('"" ') + MAX_PATH + len(EXE_SWITCHES) + len(encoded)
    if length > MAX_COMMAND_LINE:
        raise ValueError(f"the task's command line could be {length} characters (at most {MAX_COMMAND_LINE})")
    return encoded


# --- clocks ------------------------------------------------------------------------------------------------
def host_time(text: Any, reference: datetime | None = None) -> datetime | None:
    """A host's DateTime.ToString('o'): with an offset (Local/Utc kinds) it stands alone; without one
    (Unspecified) it is host-local wall-clock time, placed in ``reference``'s offset."""
    if not text:
        return None
    value = str(text).strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)?$", value)
    if match is None:
        return None
    frac = (match.group(2) or ".0")[1:7].ljust(6, "0")
    parsed = datetime.fromisoformat(f"{match.group(1)}.{frac}{match.group(3) or ''}")
    if parsed.tzinfo is None:
        if reference is None or reference.tzinfo is None:
            return None
        parsed = parsed.replace(tzinfo=reference.tzinfo)
    return parsed


def fmt_offset(value: datetime) -> str:
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass
class Deadline:
    """When a host's task fires, as the host reports it: its local time (its clock, its time zone) and UTC,
    and the seconds left on its own clock when it reported."""

    host: str
    local: datetime
    seconds_left: float

    @property
    def utc(self) -> datetime:
        return self.local.astimezone(timezone.utc)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "deadline_host": self.local.isoformat(timespec="seconds"),
                "host_utc_offset": fmt_offset(self.local), "deadline_utc": self.utc.isoformat(timespec="seconds"),
                "seconds_left": round(self.seconds_left, 1)}

    def describe(self) -> str:
        return (f"{self.host}: fires at {self.local.strftime('%Y-%m-%d %H:%M:%S')} host time "
                f"({fmt_offset(self.local)}), {self.utc.strftime('%H:%M:%S')} UTC, "
                f"{max(0, round(self.seconds_left))} s left")


def deadline_of(host: str, deadline: Any, host_now: Any) -> Deadline | None:
    now = host_time(host_now)
    at = host_time(deadline, now)
    if now is None or at is None:
        return None
    return Deadline(host, at, (at - now).total_seconds())


# --- markers and trust -------------------------------------------------------------------------------------
def sddl_admin_only(sddl: str, folder: bool) -> bool:
    """Owned by SYSTEM or Administrators and no allow ACE for anyone else; a folder's DACL also protected
    (inheritance off). Security Descriptor String Format: O:owner G:group D:flags(ace)..., ACE strings
    type;flags;rights;;;sid (SY = LocalSystem, BA = BUILTIN\\Administrators)."""
    match = re.match(r"^O:(?P<owner>[^:]+?)G:[^:]*?D:(?P<flags>[A-Z_]*)(?P<aces>(\([^)]*\))*)(S:.*)?$", sddl or "")
    if match is None or match.group("owner") not in ("SY", "BA"):
        return False
    if folder and "P" not in match.group("flags"):
        return False
    aces = re.findall(r"\(([^)]*)\)", match.group("aces"))
    if not aces:
        return False
    for ace in aces:
        fields = ace.split(";")
        if len(fields) < 6:
            return False
        if fields[0] != "D" and fields[5] not in ("SY", "BA"):
            return False
    return True


@dataclass
class Marker:
    """What a revert task's run left: its fields, and whether it came from the protected folder."""

    fields: dict[str, str]
    trusted: bool

    @property
    def status(self) -> str:
        return self.fields.get("status", "")

    @property
    def ran_as(self) -> str:
        found = re.search(r"S-1-[0-9-]+", self.fields.get("user", ""))
        return found.group(0) if found else ""

    def describe(self) -> str:
        failed = ", ".join(urllib.parse.unquote(f) for f in self.fields.get("failed", "").split(",") if f)
        return f"status {self.status or '?'}, {self.fields.get('restored', '?')} rule(s) restored" + (
            f", failed: {failed}" if failed else "")


def marker_of(text: Any, marker_sddl: Any, folder_sddl: Any) -> Marker | None:
    """The marker a result carries, or None when there is none. A marker is trusted only when the folder and
    the marker file are SYSTEM/Administrators-only (a local user can write a marker anywhere else)."""
    if not text:
        return None
    fields: dict[str, str] = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    trusted = sddl_admin_only(str(folder_sddl or ""), folder=True) and sddl_admin_only(str(marker_sddl or ""),
                                                                                          folder=False)
    return Marker(fields, trusted)


def task_result_text(code: Any) -> str:
    if code is None:
        return "no result"
    value = int(code) & 0xFFFFFFFF
    names = {0: "0 (success)", SCHED_S_TASK_RUNNING: "0x41301 (running)", SCHED_S_TASK_HAS_NOT_RUN:
             "0x41303 (has not run)", 0x41306: "0x41306 (terminated)", 1: "1 (the command failed)"}
    return names.get(value, f"0x{value:x}")
