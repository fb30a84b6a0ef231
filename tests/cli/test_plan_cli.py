"""The CLI contract for plan and for bad input, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=cwd, text=True, capture_output=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_offline_plan_json_orders_exemptions_before_sets_and_rules() -> None:
    proc = run("plan", "inventory.toml", "--offline", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    sql = doc["hosts"]["sql01"]
    assert sql["address"] == "10.10.1.20"
    calls = sql["calls"]
    names = [c["cmdlet"] for c in calls]
    first_set = names.index("New-NetIPsecMainModeCryptoSet")
    exemptions = [c for c in calls[:first_set] if c["cmdlet"] == "New-NetIPsecRule"]
    assert [e["params"]["RemoteAddress"] for e in exemptions] == [["10.10.1.5"], ["10.10.1.100"]]
    assert all((e["params"]["InboundSecurity"], e["params"]["OutboundSecurity"]) == ("None", "None")
               for e in exemptions)
    assert names[first_set:] == ["New-NetIPsecMainModeCryptoSet", "New-NetIPsecQuickModeCryptoSet",
                                 "New-NetIPsecPhase1AuthSet", "New-NetIPsecMainModeRule", "New-NetIPsecRule"]
    rule = calls[-1]["params"]
    assert (rule["Mode"], rule["InboundSecurity"], rule["OutboundSecurity"], rule["RemoteAddress"]) == (
        "Transport", "Request", "Request", ["10.10.1.30"])
    proposal = calls[first_set + 1]["params"]["Proposal"][0]
    assert proposal == {"cmdlet": "New-NetIPsecQuickModeCryptoProposal",
                        "params": {"Encapsulation": "ESP", "Encryption": "AES256", "ESPHash": "SHA256"}}
    assert doc["summary"] == {"add": 14, "change": 0, "destroy": 0}


def test_detailed_exitcode_and_human_text() -> None:
    proc = run("plan", "--offline", "--detailed-exitcode")
    assert proc.returncode == 3
    assert "Plan: 14 to add, 0 to change, 0 to destroy." in proc.stdout
    assert "+ exemption     ipsec-remote-exempt-dc" in proc.stdout


def test_export_is_a_standalone_script_with_safe_quoting(tmp_path: Path) -> None:
    out = tmp_path / "plan.ps1"
    proc = run("plan", "--offline", "--export", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "$ErrorActionPreference = 'Stop'" in text
    assert "-DisplayName 'ipsec-remote: exempt the controller''s WinRM path'" in text
    assert "-Proposal (New-NetIPsecAuthProposal -Machine -Kerberos -ErrorAction Stop)" in text


def test_psk_never_appears_in_plan_output(tmp_path: Path) -> None:
    inv = (ROOT / "inventory.toml").read_text().replace(
        'method = "kerberos"', 'method = "psk"\npsk_env = "LAB_PSK"\nallow_psk_for_testing = true')
    path = tmp_path / "inventory.toml"
    path.write_text(inv)
    secret = "correct-horse-battery-staple"
    for args in (["--json"], ["--show-powershell"]):
        proc = run("plan", str(path), "--offline", *args, env={"LAB_PSK": secret})
        assert proc.returncode == 0, proc.stderr
        assert secret not in proc.stdout + proc.stderr
    assert "$env:LAB_PSK" in proc.stdout


BAD_INVOCATIONS = [
    (["plan", "--offline", "--bogus"], "No such option: --bogus"),
    (["promote", "--to", "sometimes"], "'sometimes' is not one of require, request"),
    (["plan", "missing.toml", "--offline"], "missing.toml: cannot read"),
    (["apply", "--forks", "0"], "--forks"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_INVOCATIONS)
def test_bad_invocation_is_one_line_exit_2(args: list[str], fragment: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_inventory_is_one_located_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text((ROOT / "inventory.toml").read_text().replace('b = "sql01"', 'b = "sqll01"'))
    proc = run("plan", str(path), "--offline", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"{path}: pairs[0].b: unknown host 'sqll01' (did you mean 'sql01'?)"


def test_help_lists_the_whole_contract() -> None:
    proc = run("--help")
    for command in ("plan", "apply", "status", "promote", "rollback", "doctor", "lab"):
        assert f"  {command} " in proc.stdout


@pytest.mark.parametrize(("proposal", "key"), [
    ('{ encapsulation = "ESP", encryption = "AES256", esp_hash = "SHA384" }', "esp_hash"),
    ('{ encapsulation = "AH", ah_hash = "SHA384" }', "ah_hash"),
])
def test_sha384_quick_mode_integrity_is_one_located_line(tmp_path: Path, proposal: str, key: str) -> None:
    inv = (ROOT / "inventory.toml").read_text().replace(
        '{ encapsulation = "ESP", encryption = "AES256", esp_hash = "SHA256" }', proposal)
    assert proposal in inv
    (tmp_path / "inventory.toml").write_text(inv)
    proc = run("plan", "inventory.toml", "--offline", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"crypto.quick_mode.proposals[0].{key}" in lines[0], proc.stderr
    assert "SHA384 is not an IPsec (AH/ESP) integrity algorithm" in lines[0] and "Traceback" not in proc.stderr
