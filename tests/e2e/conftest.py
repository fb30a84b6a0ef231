"""End-to-end harness: a lab fleet started with the real CLI, driven with the real CLI, over real HTTPS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Verification polls fast and gives up soon in tests: a failing pair should cost seconds, not a minute.
FAST_PLAYBOOK = """
[verify]
timeout_s = 8
poll_interval_s = 0.5

[promote]
confirm_timeout_s = 20
revert_wait_s = 20
waves = [{ name = "canary", pairs = 1 }, { name = "rest", percent = 100 }]
"""


@dataclass
class Lab:
    dir: Path

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.toml"

    def cli(self, *args: str, timeout: float = 180, env_extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPSEC_REMOTE_LIVE")}
        env.update(env_extra or {})
        return subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=self.dir, text=True,
                              capture_output=True, timeout=timeout, env=env)

    def json(self, *args: str) -> tuple[int, Any]:
        proc = self.cli(*args, "--json")
        try:
            return proc.returncode, json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"{args}: not JSON (rc={proc.returncode}): {proc.stdout!r} {proc.stderr!r}") from None

    def inspect(self) -> dict[str, Any]:
        rc, doc = self.json("lab", "inspect", "inventory.toml")
        assert rc == 0, doc
        return doc["hosts"]  # type: ignore[no-any-return]

    def lab_file(self) -> dict[str, Any]:
        return json.loads((self.dir / ".ipsec-remote" / "lab.json").read_text())  # type: ignore[no-any-return]


@contextmanager
def running_lab(tmp_path: Path, inventory_text: str | None = None, faults: str | None = None,
                up_args: tuple[str, ...] = (), playbook: str | None = None) -> Iterator[Lab]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    lab = Lab(tmp_path)
    lab.inventory.write_text(inventory_text or (ROOT / "inventory.toml").read_text())
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "server-to-server.toml").write_text(playbook or FAST_PLAYBOOK)
    args = ["lab", "up", "inventory.toml", "--detach", *up_args]
    if faults is not None:
        (tmp_path / "faults.toml").write_text(faults)
        args += ["--faults", "faults.toml"]
    proc = lab.cli(*args, timeout=120)
    assert proc.returncode == 0, proc.stderr
    try:
        yield lab
    finally:
        lab.cli("lab", "down", "inventory.toml", timeout=60)
        shutil.rmtree(tmp_path / ".ipsec-remote", ignore_errors=True)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with running_lab(tmp_path) as running:
        yield running


CHANGING = ("New-", "Set-", "Remove-", "Rename-", "Copy-", "Enable-", "Disable-")


def changing_calls(host: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in host["calls"] if c["cmdlet"].startswith(CHANGING) and "Proposal" not in c["cmdlet"]]


def host_powershell(lab: Lab, host: str, script: str, **params: Any) -> list[Any]:
    """An administrator's own change on a lab host: ``script`` over WinRM (pypsrp, the lab's credentials and
    CA), not through ipsec-remote. Fails on any error record."""
    from urllib.parse import urlsplit

    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    info = lab.lab_file()
    entry = info["hosts"][host]
    url = urlsplit(entry["endpoint"])
    with WSMan(url.hostname or "127.0.0.1", port=url.port, username=entry["username"], password=entry["password"],
               ssl=True, auth="basic", cert_validation=info["ca_bundle"], connection_timeout=10,
               read_timeout=30, operation_timeout=20) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        if params:
            ps.add_parameters(params)
        output = ps.invoke()
        assert not ps.streams.error, [str(e) for e in ps.streams.error]
        return list(output)


def ready_to_promote(lab: Lab, isolation: bool = False) -> None:
    """What promote --to require asks for first: a successful drill on every host, and — for server
    isolation, once the CLI has ``observe`` — a recent observation of who talks to the hosts."""
    proc = lab.cli("doctor", "inventory.toml", "--lab", "--drill")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if isolation and lab.cli("observe", "--help").returncode == 0:
        proc = lab.cli("observe", "inventory.toml", "--lab", "--window", "1s")
        assert proc.returncode == 0, proc.stdout + proc.stderr


def creates(lab: Lab) -> dict[str, int]:
    """WSMan Create requests (RunspacePool opens) each host has received so far."""
    return {name: int(h["requests"].get("Create", 0)) for name, h in lab.inspect().items()}
