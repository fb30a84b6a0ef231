"""Secrets never appear: the lab password (Basic over HTTPS), a password in the environment and a
pre-shared key are searched for in every output a representative set of commands produces — stdout and
stderr at ``--log-level debug`` (console and JSON log formats, alternately), the journal's bytes (WAL included),
every file under ``.ipsec-remote/`` but ``lab.json`` (which by contract holds the lab's password), and an
exported plan. Base64 forms (an Authorization header) are searched for too."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from .helpers import ROOT, running_lab

PSK = "Zq8psk-never-shown-7Hk"
ENV_PASSWORD = "Env-Pa55word-never-shown"
INVENTORY = (ROOT / "inventory.toml").read_text().replace(
    'method = "kerberos"',
    'method = "psk"\nallow_psk_for_testing = true\npsk_env = "IPSEC_REMOTE_TEST_PSK"')

COMMANDS: list[tuple[str, ...]] = [
    ("plan", "inventory.toml", "--lab", "--json"),
    ("plan", "inventory.toml", "--offline", "--json"),
    ("plan", "inventory.toml", "--offline", "--show-powershell", "--export", "exported-plan.ps1"),
    ("doctor", "inventory.toml", "--lab", "--drill"),  # promote --to require needs the drill
    ("doctor", "inventory.toml", "--lab", "--json"),
    ("apply", "inventory.toml", "--lab"),
    ("apply", "inventory.toml", "--lab", "--json"),
    ("status", "inventory.toml", "--lab"),
    ("status", "inventory.toml", "--lab", "--json"),
    ("plan", "inventory.toml", "--lab", "--show-powershell"),
    ("promote", "--to", "require", "-i", "inventory.toml", "--lab"),
    ("promote", "--to", "request", "-i", "inventory.toml", "--lab", "--json"),
    ("rollback", "-i", "inventory.toml", "--lab"),
    ("apply", "inventory.toml", "--lab", "--json"),
    ("rollback", "-i", "inventory.toml", "--lab", "--json"),
]


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, secret.encode("utf-16-le"), base64.b64encode(raw), base64.b64encode(b"LAB\\admin:" + raw)]


def test_no_secret_in_any_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPSEC_REMOTE_TEST_PSK", PSK)
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", ENV_PASSWORD)
    # A short HTTP 500 burst on sql01: the retry path logs too, and is scanned with the rest.
    with running_lab(tmp_path, INVENTORY, faults="[hosts.sql01]\nwinrm_errors = 2\n") as lab:
        lab_password = {h["password"] for h in lab.lab_file()["hosts"].values()}
        assert all(len(p) >= 8 for p in lab_password)
        secrets = {s: forms(s) for s in (PSK, ENV_PASSWORD, *lab_password)}
        outputs: dict[str, bytes] = {}
        for i, command in enumerate(COMMANDS):
            for fmt in (("console", "json")[i % 2],):
                proc = lab.cli("--log-level", "debug", "--log-format", fmt, *command)
                assert proc.returncode == 0, (command, proc.stdout[-1000:], proc.stderr[-1000:])
                outputs[f"{i} {fmt} {' '.join(command)}: stdout"] = proc.stdout.encode()
                outputs[f"{i} {fmt} {' '.join(command)}: stderr"] = proc.stderr.encode()
        assert any(b"app01" in v for k, v in outputs.items() if k.endswith("stderr")), "no stderr to scan"
        assert any(b'"level": "info"' in v for k, v in outputs.items() if k.endswith("stderr")), \
            "no JSON log events to scan"
        assert any(b"retrying" in v for k, v in outputs.items() if k.endswith("stderr")), "no retry logged"
        # The PSK did reach the hosts (as a parameter value, where it belongs): the scan below is not vacuous.
        calls = json.dumps(lab.inspect())
        assert PSK in calls
        files = [p for p in (lab.dir / ".ipsec-remote").iterdir() if p.is_file() and p.name != "lab.json"]
        files.append(lab.dir / "exported-plan.ps1")
        assert any(p.suffix == ".db" for p in files), files
        for path in files:
            outputs[str(path)] = path.read_bytes()
        leaks = [(where, secret) for where, data in outputs.items() for secret, encodings in secrets.items()
                 if any(e in data for e in encodings)]
        assert not leaks, leaks
        # The export names the key's environment variable instead.
        assert "$env:IPSEC_REMOTE_TEST_PSK" in (lab.dir / "exported-plan.ps1").read_text()
