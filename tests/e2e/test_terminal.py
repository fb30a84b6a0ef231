"""On a terminal (a pty here): apply/promote/rollback show the plan and ask; 'no' sends nothing; --yes and
piped runs never ask; the live progress display draws on the terminal, plain lines when piped."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from .conftest import Lab, changing_calls

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """The CLI on a pseudo-terminal: stdin, stdout and stderr are all the pty, as in a console."""

    def __init__(self, lab: Lab, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPSEC_REMOTE_LIVE")}
        env.update({"COLUMNS": "160", "TERM": "xterm"})
        self.proc = subprocess.Popen([sys.executable, "-m", "ipsec_remote", *args], cwd=lab.dir, stdin=slave,
                                     stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.text = ""

    def read_until(self, needle: str, timeout: float = 120) -> bool:
        end = time.monotonic() + timeout
        while needle not in ANSI.sub("", self.text) and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the pty
                    break
                if not chunk:
                    break
                self.text += chunk.decode("utf-8", "replace")
            elif self.proc.poll() is not None and not ready:
                break
        return needle in ANSI.sub("", self.text)

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout: float = 180) -> int:
        self.read_until("\x00never\x00", timeout=0.1)
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.read_until("\x00never\x00", timeout=1)
        self.read_until("\x00never\x00", timeout=0.5)
        os.close(self.master)
        return self.proc.wait(timeout=10)

    @property
    def plain(self) -> str:
        return ANSI.sub("", self.text)


def test_apply_asks_on_a_terminal_and_no_sends_nothing(lab: Lab) -> None:
    term = Terminal(lab, "apply", "inventory.toml", "--lab")
    assert term.read_until("Apply these changes? [yes/no]:"), term.plain
    assert "Plan: 14 to add" in term.plain and "ipsec-remote-pair-app01-sql01" in term.plain, term.plain
    term.send("no")
    assert term.finish() == 1
    assert "cancelled: nothing was sent to any host" in term.plain, term.plain
    hosts = lab.inspect()
    assert all(changing_calls(hosts[n]) == [] for n in ("sql01", "app01"))

    term = Terminal(lab, "apply", "inventory.toml", "--lab")
    assert term.read_until("Apply these changes? [yes/no]:"), term.plain
    term.send("yes")
    assert term.finish() == 0, term.plain
    assert "all 1 pair(s) verified" in term.plain, term.plain
    assert changing_calls(lab.inspect()["sql01"])

    # Nothing to change: no question, the pairs are proven again; the live display drew on the terminal.
    term = Terminal(lab, "apply", "inventory.toml", "--lab")
    assert term.finish() == 0, term.plain
    assert "[yes/no]" not in term.plain
    assert "hosts 2/2 ok, 0 failed" in term.plain and "now: " in term.plain, term.plain


def test_promote_and_rollback_ask_and_yes_skips(lab: Lab) -> None:
    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0  # piped: never asks
    before = {n: len(changing_calls(h)) for n, h in lab.inspect().items()}
    term = Terminal(lab, "promote", "--to", "require", "inventory.toml", "--lab", "--skip-drill")
    assert term.read_until("Promote these pairs? [yes/no]:"), term.plain
    assert "wave 1 (canary): app01:sql01 — 2 host(s): app01, sql01" in term.plain, term.plain
    term.send("")  # just Enter: no
    assert term.finish() == 1
    term = Terminal(lab, "rollback", "inventory.toml", "--lab")
    assert term.read_until("Roll these hosts back? [yes/no]:"), term.plain
    assert "ipsec-remote-pair-app01-sql01" in term.plain and "to destroy" in term.plain, term.plain
    term.send("n")
    assert term.finish() == 1
    assert {n: len(changing_calls(h)) for n, h in lab.inspect().items()} == before

    term = Terminal(lab, "promote", "--to", "require", "inventory.toml", "--lab", "--skip-drill", "--yes")
    assert term.finish() == 0, term.plain
    assert "[yes/no]" not in term.plain and "wave 1/1 canary (2 hosts)" in term.plain, term.plain


def test_piped_output_never_asks_and_is_never_silent_long(lab: Lab) -> None:
    # stdin is a terminal but stderr is piped: the question could not be seen, so it is not asked.
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "ipsec_remote", "apply", "inventory.toml", "--lab"], cwd=lab.dir,
                          stdin=slave, capture_output=True, text=True, timeout=180)
    os.close(slave)
    os.close(master)
    assert proc.returncode == 0 and "[yes/no]" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(re.fullmatch(r"  fleet: proving 1 pair\(s\): .*", line) for line in lines), lines
    assert any(line == "  app01: pair app01 <-> sql01 verified" for line in lines), lines
