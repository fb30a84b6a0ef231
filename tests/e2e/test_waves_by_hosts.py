"""Waves bounded by hosts (playbook max_hosts): a promote wave never touches more hosts than its bound."""

from __future__ import annotations

from pathlib import Path

from .conftest import FAST_PLAYBOOK, ROOT, running_lab

PLAYBOOK = FAST_PLAYBOOK.replace('waves = [{ name = "canary", pairs = 1 }, { name = "rest", percent = 100 }]',
                                 'waves = [{ name = "canary", pairs = 1 }, '
                                 '{ name = "rest", percent = 100, max_hosts = 3 }]')


def three_tier() -> str:
    text = (ROOT / "examples" / "three-tier-local.toml").read_text()
    text = text.replace('method = "certificate"', 'method = "kerberos"').replace('ca_bundle = "corp-root-ca.pem"\n', "")
    return text.replace("store = 'corp.example.com\\IPsec Server Isolation'", 'store = "PersistentStore"')


def test_no_wave_touches_more_than_max_hosts(tmp_path: Path) -> None:
    assert PLAYBOOK != FAST_PLAYBOOK
    with running_lab(tmp_path, three_tier(), playbook=PLAYBOOK) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, applied
        rc, report = lab.json("promote", "--to", "require", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 0, report
        waves = report["waves"]
        assert len(waves) > 2 and all(w["status"] == "confirmed" for w in waves), waves
        promoted = [p for w in waves for p in w["pairs"]]
        assert sorted(promoted) == sorted(f"{p['a']}:{p['b']}" for p in applied["pairs"])  # each pair once
        for wave in waves[1:]:
            hosts = {h for p in wave["pairs"] for h in p.split(":")}
            armed = {d["host"] for d in wave["deadlines"]}  # the reverts the hosts themselves reported
            assert armed and armed <= hosts and len(hosts) <= 3, wave
        # the hosts agree: every pair's rule is at Require on both ends
        hosts = lab.inspect()
        for pair in promoted:
            a, b = pair.split(":")
            for name in (a, b):
                rules = hosts[name]["stores"]["PersistentStore"]["rules"]
                rule = next(r for r in rules if r["Name"] == f"ipsec-remote-pair-{a}-{b}")
                assert rule["InboundSecurity"] == "Require", (name, rule)
