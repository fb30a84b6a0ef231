"""Lockout rehearsals: a promotion that would cut the controller off, or Kerberos, is reverted.

These inventories use server isolation (a Require-inbound rule for any other peer once promoted) and a
test-only switch that leaves an exemption out — the mistakes the dead-man's switch exists for. Server
isolation needs an observation first; the operator who goes ahead anyway names the controller in
--accept-breaking, and the switch is what saves the hosts.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import ROOT, running_lab
from .test_promote_rollback import pair_rule


def inventory(skip: str) -> str:
    base = (ROOT / "inventory.toml").read_text()
    base = base.replace('key_module = "IKEv1"', 'key_module = "IKEv1"\nserver_isolation = true')
    return f'test_only_skip_exemptions = ["{skip}"]\n' + base


def isolation_rule(host: dict[str, object]) -> dict[str, object]:
    rules = host["stores"]["PersistentStore"]["rules"]  # type: ignore[index]
    return next(r for r in rules if str(r.get("Name")) == "ipsec-remote-isolation")  # type: ignore[union-attr]


def test_missing_controller_exemption_is_caught_by_the_observation(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory("controller")) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "1s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1, report
        held = [b for b in report["would_break"] if b["remote_address"] == "10.10.1.100"]
        assert sorted(b["host"] for b in held) == ["app01", "sql01"], report["would_break"]
        assert all(b["port"] == 5986 and b["direction"] == "inbound" for b in held)
        hosts = lab.inspect()
        for name in ("sql01", "app01"):
            assert hosts[name]["reachable_from_controller"], name
            assert isolation_rule(hosts[name])["InboundSecurity"] == "Request"


def test_missing_controller_exemption_is_reverted_by_the_on_host_task(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory("controller")) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0  # Request: nothing is cut yet
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "1s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab",
                              "--confirm-timeout", "6", "--skip-drill", "--accept-breaking", "10.10.1.100")
        assert rc == 1, report
        (wave,) = report["waves"]
        assert wave["status"] == "reverted"
        # The reason is the lockout itself: no new WinRM session reached either host through the new policy.
        assert {p.split(":")[0] for p in wave["problems"] if "new WinRM session through the new policy failed" in p
                } == {"sql01", "app01"}, wave["problems"]
        hosts = lab.inspect()
        for name in ("sql01", "app01"):
            assert hosts[name]["reachable_from_controller"], name
            assert isolation_rule(hosts[name])["InboundSecurity"] == "Request"
            assert pair_rule(hosts[name])["InboundSecurity"] == "Request"
            assert hosts[name]["scheduled_tasks"] == []
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and status["pairs"][0]["inbound_security"] == "Request"


def test_missing_dc_exemption_breaks_kerberos_and_is_reverted(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory("domain_controller")) as lab:
        book = lab.dir / "playbooks" / "server-to-server.toml"
        book.write_text(book.read_text().replace("[promote]", '[promote]\noutbound = "Require"'))
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        assert lab.cli("observe", "inventory.toml", "--lab", "--window", "1s").returncode == 0
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1, report
        (wave,) = report["waves"]
        assert wave["status"] == "reverted", wave
        assert any(not p["verified"] for p in wave["proofs"])
        # The reason is the one the rehearsal is about: the KDC on the DC is cut off behind the isolation rule.
        reasons = [why for p in wave["proofs"] for why in p["problems"]]
        assert any("domain controller dc01 10.10.1.5 does not answer on TCP 88" in why for why in reasons), reasons
        hosts = lab.inspect()
        for name in ("sql01", "app01"):
            assert hosts[name]["reachable_from_controller"]
            assert isolation_rule(hosts[name])["OutboundSecurity"] == "Request"
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0 and status["pairs"][0]["verified"]
