"""--limit end to end: only the hosts named are contacted; pairs with one end outside are left alone and listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import ROOT, running_lab

THREE_HOSTS = (ROOT / "inventory.toml").read_text() + """
[[hosts]]
name = "web01"
address = "10.10.1.40"
groups = ["web"]

[[pairs]]
a = "web01"
b = "app01"
protocol = "Any"
probe_port = 443
"""


def rule_names(host: dict[str, Any]) -> set[str]:
    return {str(r.get("Name")) for r in host["stores"]["PersistentStore"]["rules"]}


def requests(hosts: dict[str, Any]) -> dict[str, int]:
    return {n: int(h["requests"]["total"]) for n, h in hosts.items()}


def test_apply_promote_rollback_with_limit(tmp_path: Path) -> None:
    with running_lab(tmp_path, THREE_HOSTS) as lab:
        assert requests(lab.inspect()) == {"sql01": 0, "app01": 0, "web01": 0, "dc01": 0}
        rc, report = lab.json("apply", "--lab", "--limit", "sql01")
        assert rc == 0, report
        hosts = lab.inspect()
        assert {n: c for n, c in requests(hosts).items() if n != "sql01"} == {"app01": 0, "web01": 0, "dc01": 0}
        assert hosts["sql01"]["calls"] and not hosts["app01"]["calls"] and not hosts["web01"]["calls"]
        assert "ipsec-remote-pair-app01-sql01" not in rule_names(hosts["sql01"])  # the skipped pair: left alone
        assert report["limit"] == {"hosts": ["sql01"], "skipped_pairs": [
            {"a": "app01", "b": "sql01", "outside": ["app01"],
             "reason": "app01 outside --limit: the pair needs both ends"}]}
        assert report["pairs"] == []
        text = lab.cli("apply", "--lab", "--limit", "sql01")
        assert text.returncode == 0 and "skipped app01:sql01: app01 outside --limit" in text.stdout, text.stdout

        # Two hosts: their pair is applied and proven, the pair with web01 is left alone on app01.
        rc, report = lab.json("apply", "-i", "inventory.toml", "--lab", "--limit", "app01,group:sql")
        assert rc == 0, report
        assert [(p["a"], p["b"], p["verified"]) for p in report["pairs"]] == [("app01", "sql01", True)]
        assert [(p["a"], p["b"]) for p in report["limit"]["skipped_pairs"]] == [("web01", "app01")]
        hosts = lab.inspect()
        assert requests(hosts)["web01"] == 0
        assert "ipsec-remote-pair-web01-app01" not in rule_names(hosts["app01"])
        assert "ipsec-remote-pair-app01-sql01" in rule_names(hosts["app01"])
        # status with the same limit agrees with apply: the rule apply left alone is not drift.
        rc, seen = lab.json("status", "--lab", "--limit", "app01,sql01")
        assert rc == 0, seen
        assert {h: d["drift"] for h, d in seen["hosts"].items()} == {"app01": [], "sql01": []}, seen["hosts"]
        assert [(p["a"], p["b"], p["verified"]) for p in seen["pairs"]] == [("app01", "sql01", True)]

        # promote: only the pair inside the limit; the one with an end outside is skipped and said so.
        rc, promoted = lab.json("promote", "--to", "require", "inventory.toml", "--lab", "--limit", "app01,sql01",
                                "--skip-drill")
        assert rc == 0, promoted
        assert [w["pairs"] for w in promoted["waves"]] == [["app01:sql01"]]
        assert [(p["a"], p["b"]) for p in promoted["limit"]["skipped_pairs"]] == [("web01", "app01")]
        assert requests(lab.inspect())["web01"] == 0

        # rollback of one end of a pair at Require would cut it: refused, one line, nothing contacted.
        before = requests(lab.inspect())
        proc = lab.cli("rollback", "--lab", "--limit", "sql01")
        assert proc.returncode == 2 and "app01:sql01 is at Require/Request" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert requests(lab.inspect()) == before

        rc, rolled = lab.json("rollback", "--lab", "--limit", "app01,sql01")
        assert rc == 0, rolled
        hosts = lab.inspect()
        assert requests(hosts)["web01"] == 0
        assert not any(n.startswith("ipsec-remote") for h in ("app01", "sql01") for n in rule_names(hosts[h]))
        assert "keeps its end" in rolled["limit"]["skipped_pairs"][0]["reason"]


def test_limit_and_inventory_input_errors(tmp_path: Path) -> None:
    with running_lab(tmp_path, THREE_HOSTS) as lab:
        for args, expected in [
            (("apply", "--lab", "--limit", "sql1"), "--limit: [0]: 'sql1' is neither a host nor a group of the "
                                                    "inventory (did you mean 'sql01'?)"),
            (("status", "--lab", "--limit", "sql01,"), "--limit: [1]: is empty"),
            (("apply", "inventory.toml", "-i", "other.toml", "--lab"), "-i/--inventory: 'other.toml' and the "
                                                                       "positional inventory"),
        ]:
            proc = lab.cli(*args)
            assert proc.returncode == 2, (args, proc.stderr)
            (line,) = proc.stderr.strip().splitlines()
            assert expected in line, (args, line)
        assert requests(lab.inspect()) == {"sql01": 0, "app01": 0, "web01": 0, "dc01": 0}
        # the same file both ways is fine; a bare group name limits to its hosts
        _, doc = lab.json("status", "inventory.toml", "-i", "inventory.toml", "--lab", "--limit", "web",
                          "--forks", "2")
        assert list(doc["hosts"]) == ["web01"] and doc["pairs"] == [], doc
        assert requests(lab.inspect())["sql01"] == 0
