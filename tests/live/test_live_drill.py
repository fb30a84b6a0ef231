"""doctor --drill's mechanism against a real Windows host, when one is given (same variables as
test_live_host.py); skipped otherwise.

It arms the harmless drill task (an empty rule list) exactly as a promotion arms its revert, waits for it to
fire, and checks what the lab can only model: that Task Scheduler runs the inline -EncodedCommand as
SYSTEM whatever the execution policy, that takeown/icacls leave C:\\ProgramData\\ipsec-remote owned by
Administrators with a SYSTEM + Administrators DACL (Get-Acl's Sddl as the controller parses it), that the task
removes itself, and how long powershell.exe takes to start. Nothing outside the drill task and that folder is
touched; the drill task and its marker are removed at the end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from ipsec_remote.journal.store import Journal
from ipsec_remote.ops.switch import Switch
from ipsec_remote.remote.deadman import DRILL_TASK, SYSTEM_SID, sddl_admin_only
from ipsec_remote.remote.sessions import open_fleet
from ipsec_remote.remote.transport import HostTarget

HOST = os.environ.get("IPSEC_REMOTE_LIVE_HOST")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (HOST and os.environ.get("IPSEC_REMOTE_LIVE_USER") and os.environ.get("IPSEC_REMOTE_LIVE_PASSWORD")),
    reason="set IPSEC_REMOTE_LIVE_HOST/_USER/_PASSWORD to run against a real Windows host")]


def test_drill_fires_inline_as_system_and_removes_itself(tmp_path: Path) -> None:
    assert HOST
    endpoint = HOST if HOST.startswith("http") else f"https://{HOST}:5986/wsman"
    target = HostTarget("live", endpoint, os.environ["IPSEC_REMOTE_LIVE_USER"],
                        SecretStr(os.environ["IPSEC_REMOTE_LIVE_PASSWORD"]),
                        os.environ.get("IPSEC_REMOTE_LIVE_AUTH", "negotiate"), os.environ.get("IPSEC_REMOTE_LIVE_CA"))
    journal = Journal(tmp_path / "state.db")
    fleet = open_fleet({"live": target}, 1)
    assert "live" in fleet.sessions, fleet.failed
    switch = Switch(fleet, {"live": target}, journal, journal.begin_run("live drill"), task=DRILL_TASK)
    try:
        assert switch.arm({"live": []}, 10) == {}
        report = switch.arm_reports["live"]
        assert sddl_admin_only(str(report["FolderSddl"]), folder=True), report["FolderSddl"]
        deadline = switch.armed["live"].deadline
        assert 0 < deadline.seconds_left <= 10, deadline
        started = time.monotonic()
        outcome = switch.wait_for_tasks(["live"], 120)["live"]
        print(f"drill on {HOST}: {outcome.status} {outcome.detail}; execution policy {report.get('Effective')} "
              f"(MachinePolicy {report.get('MachinePolicy')}); done {time.monotonic() - started:.1f} s after the "
              f"deadline; host offset {deadline.to_json()['host_utc_offset']}")
        assert outcome.status == "reverted-by-task", outcome
        assert outcome.marker is not None and outcome.marker.trusted and outcome.marker.ran_as == SYSTEM_SID
    finally:
        switch.disarm(["live"])
        fleet.close()
        journal.close()
