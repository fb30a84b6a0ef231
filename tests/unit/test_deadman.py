"""Pure pieces of the dead-man's switch: the inline command, the armed data, host deadlines, marker trust."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from datetime import timedelta

import pytest

from ipsec_remote.ops.switch import _judge
from ipsec_remote.remote import deadman
from ipsec_remote.remote.deadman import (
    data_file,
    deadline_of,
    host_time,
    inline_command,
    marker_of,
    revert_line,
    sddl_admin_only,
)

PROTECTED = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
FILE = "O:SYG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)"
USER = "S-1-5-21-1-2-3-1001"


@pytest.mark.parametrize(("sddl", "folder", "trusted"), [
    (PROTECTED, True, True),
    (FILE, False, True),
    (FILE, True, False),  # a folder must not inherit: someone above could grant more
    ("O:" + USER + "G:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", True, False),  # owned by a user
    ("O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)", True, False),  # users may read
    ("O:BAG:SYD:PAI(A;OICI;FA;;;SY)(D;OICI;FA;;;BU)", True, True),  # a deny grants nothing
    ("O:BAG:SYD:P", True, False),  # empty DACL: nothing to judge
    ("O:BAG:SYD:NO_ACCESS_CONTROL", True, False),  # null DACL: everyone
    ("", True, False),
])
def test_admin_only_security_descriptors(sddl: str, folder: bool, trusted: bool) -> None:
    assert sddl_admin_only(sddl, folder) is trusted


def test_a_marker_is_trusted_only_from_a_protected_folder_and_file() -> None:
    text = 'ran=x\nstatus=ok\nrestored=2\nfailed=\nuser="nt authority\\system","S-1-5-18"'
    marker = marker_of(text, FILE, PROTECTED)
    assert marker is not None and marker.trusted and marker.ran_as == "S-1-5-18" and marker.status == "ok"
    assert not marker_of(text, "O:" + USER + "G:SYD:AI(A;ID;FA;;;SY)", PROTECTED).trusted  # type: ignore[union-attr]
    assert not marker_of(text, FILE, FILE).trusted  # type: ignore[union-attr]
    assert marker_of("", FILE, PROTECTED) is None


def test_data_and_its_digest_are_the_bytes_the_host_writes() -> None:
    lines = [revert_line("ipsec-remote-pair-a-b", "Request", "Request", "lab.local\\IPsec GPO")]
    text, digest = data_file(lines)
    assert text == "ipsec-remote-pair-a-b|Request|Request|lab.local%5CIPsec%20GPO\r\n"
    assert digest == hashlib.sha256(text.encode("ascii")).hexdigest().upper()
    # Any text travels as plain ASCII, one line per rule, four fields: decoding gives it back exactly.
    hostile = "O'Brien | $(x) `y` \r\nline2 \u2018q\u2019 é 中文 🔐 %41"
    line = revert_line("r", "Require", "Request", "lab.local\\" + hostile)
    assert line.isascii() and "\n" not in line and line.count("|") == 3
    assert urllib.parse.unquote(line.split("|")[3]) == "lab.local\\" + hostile


def test_the_inline_command_carries_only_plain_tokens() -> None:
    _, digest = data_file([])
    encoded = inline_command("ipsec-remote-revert", digest)
    text = base64.b64decode(encoded).decode("utf-16-le")
    assert text.startswith("& {\n") and "param(" in text
    assert text.rstrip().endswith(f"}} -TaskName 'ipsec-remote-revert' -ExpectedDigest '{digest}'")
    for name, value in (("x'; Remove-Item C:\\ -Recurse; '", digest), ("ipsec-remote-revert", "abc")):
        with pytest.raises(ValueError):
            inline_command(name, value)


def test_the_command_line_limit_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    _, digest = data_file([])
    monkeypatch.setattr(deadman, "script_text", lambda _name: "#" * 13000)
    with pytest.raises(ValueError, match="at most 32766"):
        inline_command("ipsec-remote-revert", digest)


def test_deadlines_come_from_the_host_clock_and_zone() -> None:
    d = deadline_of("sql01", "2026-11-26T22:02:00.0000000-08:00", "2026-11-26T22:00:00.5000000-08:00")
    assert d is not None and d.seconds_left == pytest.approx(119.5)
    assert d.utc.isoformat() == "2026-11-27T06:02:00+00:00"
    assert d.to_json()["host_utc_offset"] == "UTC-08:00" and "22:02:00 host time" in d.describe()
    # An Unspecified DateTime (no offset) is host-local: placed in the zone of the host's own 'now'.
    local = host_time("2026-11-27T11:32:00", host_time("2026-11-27T11:30:00+05:30"))
    assert local is not None and local.utcoffset() == timedelta(hours=5, minutes=30)
    assert host_time("2026-11-27T06:00:00Z") == host_time("2026-11-27T06:00:00+00:00")
    assert host_time("2026-11-27T06:00:00Z").tzinfo is not None  # type: ignore[union-attr]
    assert host_time("not a time") is None and deadline_of("h", "", "2026-11-27T06:00:00Z") is None


def test_one_look_at_a_task_decides_only_when_it_is_done() -> None:
    marker = 'status=ok\nrestored=1\nuser="nt authority\\system","S-1-5-18"'
    running = {"TaskPresent": True, "State": "Running", "LastTaskResult": 0x41301}
    assert _judge(running) is None
    assert _judge({"TaskPresent": True, "State": "Ready", "LastTaskResult": 0x41303}) is None
    failed = _judge({"TaskPresent": True, "State": "Ready", "LastTaskResult": 1})
    assert failed is not None and failed.status == "revert-failed" and not failed.ok
    done = _judge({"TaskPresent": False, "Marker": marker, "MarkerSddl": FILE, "FolderSddl": PROTECTED})
    assert done is not None and done.status == "reverted-by-task" and done.ok
    faked = _judge({"TaskPresent": False, "Marker": marker, "MarkerSddl": "O:" + USER + "G:SYD:AI(A;ID;FA;;;SY)",
                    "FolderSddl": PROTECTED})
    assert faked is not None and faked.status == "not-run" and "not trusted" in faked.detail
    gone = _judge({"TaskPresent": False})
    assert gone is not None and gone.status == "not-run"
