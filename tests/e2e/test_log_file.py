"""--log-file: every event as a JSON line (structlog), never a secret."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import running_lab


def test_log_file_has_the_events_as_json_lines_and_no_secret(tmp_path: Path) -> None:
    with running_lab(tmp_path) as lab:
        password = lab.lab_file()["hosts"]["sql01"]["password"]
        assert len(password) >= 8
        proc = lab.cli("--log-file", "run.log", "--log-level", "debug", "apply", "inventory.toml", "--lab")
        assert proc.returncode == 0, proc.stderr
        text = (lab.dir / "run.log").read_text(encoding="utf-8")
        assert password not in text and password not in proc.stderr + proc.stdout
        events = [json.loads(line) for line in text.splitlines()]
        assert events and all({"event", "level", "timestamp"} <= set(e) for e in events)
        assert any(e.get("kind") == "pair_proven" and e.get("host") == "app01" and e.get("a") == "app01"
                   for e in events), events
        assert any(e["event"].startswith("exemptions:") and e.get("host") == "sql01" for e in events)
        assert events[-1]["event"] == "command finished" and events[-1]["exit_code"] == 0
        assert (lab.dir / "run.log").stat().st_mode & 0o077 == 0  # not readable by others

        # the environment variable does the same, --json runs log too, and the file is appended to
        proc = lab.cli("status", "inventory.toml", "--lab", "--json",
                       env_extra={"IPSEC_REMOTE_LOG_FILE": "run.log"})
        assert proc.returncode == 0, proc.stderr
        again = (lab.dir / "run.log").read_text(encoding="utf-8").splitlines()
        assert len(again) > len(events) and json.loads(again[-1])["argv"][0] == "status"
        assert password not in "\n".join(again)

        proc = lab.cli("--log-file", "no/such/dir/x.log", "apply", "inventory.toml", "--lab")
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == ["--log-file: no/such/dir/x.log: cannot write: No such file or "
                                                    "directory"], proc.stderr
