"""Reports and history end to end: a lab fleet, the real CLI, the files a person and a CI server read."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from report.chromium import load
from report.junit_schema import violations

from .conftest import Lab


def total_requests(lab: Lab) -> int:
    return sum(h["requests"]["total"] for h in lab.inspect().values())


def test_reports_then_history_of_the_lab_fleet(lab: Lab, tmp_path: Path) -> None:
    before = total_requests(lab)
    proc = lab.cli("status", "inventory.toml", "--lab", "--report", "nowhere/r.html")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "--report: nowhere/r.html: folder nowhere does not exist"
    proc = lab.cli("apply", "inventory.toml", "--lab", "--junit", "r.txt")
    assert proc.returncode == 2 and "must end in .xml" in proc.stderr
    assert total_requests(lab) == before  # refused before any host was contacted

    assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
    assert lab.cli("doctor", "inventory.toml", "--lab", "--drill").returncode == 0  # promote needs a drill
    rc, promoted = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--junit", "p.xml")
    assert rc == 0, promoted
    assert violations((lab.dir / "p.xml").read_text()) == []

    proc = lab.cli("status", "inventory.toml", "--lab", "--report", "r.html", "--junit", "r.xml")
    assert proc.returncode == 0, proc.stderr
    rc, status = lab.json("status", "inventory.toml", "--lab", "--report", "r.json")
    assert rc == 0
    doc = json.loads((lab.dir / "r.json").read_text())
    assert doc["source"]["pairs"] == status["pairs"] and status["pairs"]
    assert [(p["a"], p["b"], p["state"]) for p in doc["pairs"]] == [("app01", "sql01", "verified-require")]

    html = (lab.dir / "r.html").read_text()
    assert 'id="pair-app01--sql01" data-state="verified-require"' in html
    assert "app01 ↔ sql01" in html and "verified, Require" in html
    xml = (lab.dir / "r.xml").read_text()
    assert violations(xml) == []
    assert xml.count("<testcase ") == 1 and "<failure" not in xml

    rc, history = lab.json("history", "inventory.toml", "--lab")
    assert rc == 0, history
    runs = history["runs"]
    assert [(r["command"], r["result"]) for r in runs] == [
        ("apply", "ok"), ("doctor --drill", "ok"), ("promote --to require", "ok")]
    assert all(r["user"] == getpass.getuser() and r["started_at"] and r["finished_at"] for r in runs)
    apply_run, _drill_run, promote_run = runs
    assert set(apply_run["hosts"]) == {"app01", "sql01"}
    assert all(h["outcome"] == "ok" and h["steps"] > 0 for h in apply_run["hosts"].values())
    assert apply_run["pairs"] == {"verified": 1, "failed": 0}
    assert [w["status"] for w in promote_run["waves"]] == ["confirmed"]
    assert promote_run["reverts"] and not any(r["armed"] or r["fired"] for r in promote_run["reverts"])
    rc, one = lab.json("history", "inventory.toml", "--lab", "--run", str(promote_run["id"]))
    assert rc == 0 and [p["verified"] for p in one["runs"][0]["proofs"]] == [True, True]
    assert lab.cli("history", "inventory.toml", "--lab", "--run", "99").returncode == 2

    # Last: the page as a person sees it (skips with the reason where Chromium is not installed).
    loaded = load(lab.dir / "r.html", tmp_path)
    assert loaded.console == [], loaded.console
    assert 'data-state="verified-require"' in loaded.dom
