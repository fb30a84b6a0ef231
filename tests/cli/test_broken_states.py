"""Every command against broken inputs and states: one line on stderr, never a Python traceback (issue 12).

The states are local (a damaged, foreign or newer journal, a journal that is a folder, a run holding the
lock, a damaged lab.json, no lab, an export folder that does not exist, an inventory that is a folder):
nothing is contacted. Commands run through the CLI's ``main`` in this process — the same code path as the
installed script, minus an interpreter start per case.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ipsec_remote.cli.app import main

ROOT = Path(__file__).resolve().parents[2]

COMMANDS: dict[str, tuple[str, ...]] = {
    "plan": ("plan", "inventory.toml"),
    "apply": ("apply", "inventory.toml"),
    "status": ("status", "inventory.toml"),
    "promote": ("promote", "--to", "require", "-i", "inventory.toml"),
    "rollback": ("rollback", "-i", "inventory.toml"),
    "rekey": ("rekey", "inventory.toml"),
    "doctor": ("doctor", "inventory.toml"),
}
CHANGING = ("apply", "status", "promote", "rollback", "rekey")


def run(cwd: Path, args: tuple[str, ...]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd) if hasattr(contextlib, "chdir") else _chdir(cwd), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:  # contextlib.chdir is 3.11+
    import os

    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def one_line(name: str, rc: int, out: str, err: str, expect_rc: int, fragment: str) -> None:
    lines = err.strip("\n").split("\n")
    assert "Traceback" not in err and "Traceback" not in out, (name, err)
    assert len(lines) == 1 and lines[0], (name, err)
    assert fragment in lines[0], (name, fragment, lines[0])
    assert rc == expect_rc, (name, rc, err)
    assert out == "", (name, out)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "inventory.toml", tmp_path / "inventory.toml")
    (tmp_path / ".ipsec-remote").mkdir()
    monkeypatch.setenv("IPSEC_REMOTE_USER", "LAB\\admin")
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", "not-used-nothing-is-contacted")
    return tmp_path


def _corrupt(d: Path) -> None:
    (d / ".ipsec-remote" / "state.db").write_bytes(b"\x00garbage, not a database\x00" * 500)


def _foreign(d: Path) -> None:
    db = sqlite3.connect(d / ".ipsec-remote" / "state.db")
    db.execute("CREATE TABLE inventory_of_my_records (title TEXT)")
    db.commit()
    db.close()


def _newer(d: Path) -> None:
    db = sqlite3.connect(d / ".ipsec-remote" / "state.db")
    db.execute("PRAGMA application_id = 1768977266")  # 0x69707372, "ipsr"
    db.execute("PRAGMA user_version = 7")
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()


def _folder(d: Path) -> None:
    (d / ".ipsec-remote" / "state.db").mkdir()


JOURNAL_STATES: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupted journal": (_corrupt, "damaged or not an SQLite database"),
    "foreign database": (_foreign, "is not an ipsec-remote journal"),
    "newer schema": (_newer, "was written by a newer ipsec-remote"),
    "journal is a folder": (_folder, "state.db"),
}


@pytest.mark.parametrize("state", list(JOURNAL_STATES))
def test_every_command_against_a_journal_it_cannot_use(workdir: Path, state: str) -> None:
    make, fragment = JOURNAL_STATES[state]
    make(workdir)
    for name, args in COMMANDS.items():
        rc, out, err = run(workdir, args)
        one_line(f"{name} / {state}", rc, out, err, 1, fragment)
        assert str(workdir / ".ipsec-remote" / "state.db") in err, (name, err)


HOLDER = """
import sys, time
from pathlib import Path
from ipsec_remote.journal.lock import RunLock
held = RunLock(Path(sys.argv[1]), "promote --to require").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_every_changing_command_while_another_run_holds_the_journal(workdir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir / ".ipsec-remote" / "state.db")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        for name in CHANGING:
            rc, out, err = run(workdir, COMMANDS[name])
            one_line(f"{name} / locked", rc, out, err, 1, f"pid {proc.pid}, 'promote --to require', started ")
    finally:
        proc.kill()
        proc.wait(timeout=10)


LAB_STATES: dict[str, tuple[str | None, str]] = {
    "no lab running": (None, "no lab is running for this inventory"),
    "damaged lab.json": ("{ not json", "lab.json: unreadable"),
    "lab.json without the host": ('{"pid": 1, "hosts": {}}', "hosts.sql01: this host is not in the running lab"),
}


@pytest.mark.parametrize("state", list(LAB_STATES))
def test_every_command_with_lab_and_no_usable_lab(workdir: Path, state: str) -> None:
    text, fragment = LAB_STATES[state]
    if text is not None:
        (workdir / ".ipsec-remote" / "lab.json").write_text(text)
    for name, args in COMMANDS.items():
        rc, out, err = run(workdir, (*args, "--lab"))
        one_line(f"{name} / {state}", rc, out, err, 2, fragment)


def test_plan_export_into_a_missing_folder(workdir: Path) -> None:
    for extra in ((), ("--offline",)):
        rc, out, err = run(workdir, ("plan", "inventory.toml", *extra, "--export", "missing/plan.ps1"))
        one_line("plan --export", rc, out, err, 2, "--export: missing/plan.ps1: folder 'missing' does not exist")
    assert not (workdir / "missing").exists()


def test_every_command_given_a_folder_for_an_inventory(workdir: Path) -> None:
    (workdir / "folder.toml").mkdir()
    for name, args in COMMANDS.items():
        args = tuple("folder.toml" if a == "inventory.toml" else a for a in args)
        rc, out, err = run(workdir, args)
        one_line(f"{name} / folder", rc, out, err, 2, "folder.toml: cannot read")


def test_lab_commands_without_a_lab(workdir: Path) -> None:
    rc, out, err = run(workdir, ("lab", "inspect", "inventory.toml"))
    one_line("lab inspect", rc, out, err, 1, "no lab is running")
    (workdir / "faults.toml").write_text("[hosts.nobody]\ndown = true\n")
    rc, out, err = run(workdir, ("lab", "up", "inventory.toml", "--faults", "faults.toml"))
    one_line("lab up", rc, out, err, 2, "faults.toml: hosts.nobody: unknown host")
