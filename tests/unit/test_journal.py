"""The journal: one transaction per step, interrupted runs marked, the first snapshot kept, no secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipsec_remote.journal.store import Journal
from ipsec_remote.model.calls import CmdletCall, SecretRef


def test_runs_steps_and_first_snapshot_only(tmp_path: Path) -> None:
    j = Journal(tmp_path / "state.db")
    run = j.begin_run("apply")
    assert j.snapshot_once(run, "sql01", [{"name": "x"}], {})
    assert not j.snapshot_once(run, "sql01", [{"name": "later"}], {})
    assert j.snapshot("sql01") == ([{"name": "x"}], {})
    j.record_step(run, "sql01", "exemptions", CmdletCall("New-NetIPsecRule", {"IPsecRuleName": "a"}), True)
    j.record_verification(run, "app01", "sql01", True, {"problems": []})
    j.set_pair_security("app01", "sql01", "Require", "Request")
    j.finish_run(run, "ok", {})
    assert [s["cmdlet"] for s in j.steps(run)] == ["New-NetIPsecRule"]
    assert j.latest_verification("app01", "sql01").verified  # type: ignore[union-attr]
    assert j.pair_security() == {("app01", "sql01"): ("Require", "Request")}
    assert oct(os.stat(tmp_path / "state.db").st_mode & 0o777) == "0o600"


def test_secret_parameters_are_stored_as_references(tmp_path: Path) -> None:
    os.environ["JOURNAL_TEST_PSK"] = "do-not-store-me"
    j = Journal(tmp_path / "state.db")
    run = j.begin_run("apply")
    call = CmdletCall("New-NetIPsecPhase1AuthSet", {"Name": "p1", "Proposal": [
        CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "PreSharedKey": SecretRef("JOURNAL_TEST_PSK")})]})
    j.record_step(run, "h", "sets", call, True)
    j.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"do-not-store-me" not in raw and b"JOURNAL_TEST_PSK" in raw


def test_killed_writer_leaves_a_consistent_journal(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    code = (
        "import sys\nfrom pathlib import Path\nfrom ipsec_remote.journal.store import Journal\n"
        "from ipsec_remote.model.calls import CmdletCall\n"
        f"j = Journal(Path({str(db)!r}))\nrun = j.begin_run('apply')\nprint('ready', flush=True)\n"
        "i = 0\nwhile True:\n"
        "    j.record_step(run, 'h', 'rules', CmdletCall('Set-NetIPsecRule', {'IPsecRuleName': str(i)}), True)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # let it commit a few hundred steps, then kill it mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    j = Journal(db)
    assert j.integrity_ok()
    steps = j.steps()
    assert len(steps) > 10
    assert [int(s["params"]["IPsecRuleName"]) for s in steps] == list(range(len(steps)))  # no torn step
    j.begin_run("apply")
    assert [r["status"] for r in j.runs()] == ["interrupted", "running"]


def _plan(j: Journal, sql: str, args: tuple[str, ...]) -> str:
    return " ".join(str(r[-1]) for r in j._query("EXPLAIN QUERY PLAN " + sql, args))


def test_latest_verification_is_looked_up_by_pair_not_by_scanning(tmp_path: Path) -> None:
    """promote asks once per pair; a table scan per question grew with pairs x runs."""
    j = Journal(tmp_path / "state.db")
    for run in (j.begin_run("apply"), j.begin_run("apply")):
        for i in range(50):
            j.record_verification(run, f"a{i}", f"b{i}", run == 2, {"run": run})
    plan = _plan(j, "SELECT verified, detail, at FROM verifications WHERE a = ? AND b = ? ORDER BY id DESC LIMIT 1",
                 ("a1", "b1"))
    assert "verifications_by_pair" in plan and "SCAN" not in plan
    latest = j.latest_verification("a7", "b7")
    assert latest is not None and latest.verified and latest.detail == {"run": 2}  # the newest row, as before
    assert j.latest_verification("b7", "a7") is None  # a pair is looked up as recorded


def test_an_older_journal_gains_the_indexes_when_opened(tmp_path: Path) -> None:
    j = Journal(tmp_path / "state.db")
    run = j.begin_run("apply")
    j.record_verification(run, "app01", "sql01", True, {})
    j._query("DROP INDEX verifications_by_pair")
    j._query("DROP INDEX steps_by_run")
    j.close()
    again = Journal(tmp_path / "state.db")
    names = {r[0] for r in again._query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"verifications_by_pair", "steps_by_run"} <= names
    assert again.latest_verification("app01", "sql01") is not None
