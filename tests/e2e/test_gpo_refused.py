"""A GPO store (``policy.store = 'domain\\GPO'``) is refused by every command not yet built for it (all but
``plan``, ``apply``, ``status``, ``promote``, ``doctor`` and ``rollback``):
one line naming the file and ``policy.store``, exit 2, and not one WinRM request reaches any host."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.model.gpo import GPO_READY

from .conftest import ROOT, running_lab

GPO = "corp.example.com\\IPsec Server Isolation"
INVENTORY = ((ROOT / "examples" / "three-tier-local.toml").read_text()
             .replace('method = "certificate"', 'method = "kerberos"').replace('ca_bundle = "corp-root-ca.pem"\n', "")
             .replace('store = "PersistentStore"', f"store = '{GPO}'\ngpo_writer = \"dc01\""))

COMMANDS = {
    "plan --offline": ("plan", "inventory.toml", "--offline"),
    "plan": ("plan", "inventory.toml", "--lab"),
    "apply": ("apply", "inventory.toml", "--lab"),
    "status": ("status", "inventory.toml", "--lab"),
    "promote --to require": ("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill"),
    "rekey": ("rekey", "inventory.toml", "--lab"),
    "rollback": ("rollback", "-i", "inventory.toml", "--lab"),
    "doctor": ("doctor", "inventory.toml", "--lab"),
    "doctor --drill": ("doctor", "inventory.toml", "--lab", "--drill"),
}


def test_commands_not_built_for_a_gpo_refuse_it_before_contacting_anyone(tmp_path: Path) -> None:
    assert f"store = '{GPO}'" in INVENTORY
    refused = {name: args for name, args in COMMANDS.items() if name not in GPO_READY}
    assert refused
    with running_lab(tmp_path, INVENTORY) as lab:
        for name, args in refused.items():
            proc = lab.cli(*args)
            lines = proc.stderr.strip("\n").split("\n")
            assert proc.returncode == 2, (name, proc.returncode, proc.stdout, proc.stderr)
            assert len(lines) == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
            assert lines[0].startswith("inventory.toml: policy.store: "), (name, lines[0])
            assert f"'{name}' does not support a GPO store" in lines[0], (name, lines[0])
        rc, doc = lab.json("lab", "inspect", "inventory.toml")
        assert rc == 0, doc
        # The lab's domain holds the inventory's GPO once, linked to the managed hosts; nothing wrote to it.
        assert doc["gpos"][GPO]["linked_to"] == ["web01", "web02", "web03", "sql01", "sql02"]
        assert doc["gpos"][GPO]["objects"] == []
        hosts = doc["hosts"]
        assert hosts
        assert {n: h["requests"].get("total", 0) for n, h in hosts.items()} == dict.fromkeys(hosts, 0)
        assert not (tmp_path / ".ipsec-remote" / "state.db").exists()
