"""rollback's order and bookkeeping in-process (demote everywhere, then remove), a Ctrl-C before it, --limit's
journal, and the read-only previews (``plan`` against hosts, ``rollback --plan``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsec_remote import interrupt
from ipsec_remote.journal.store import Journal
from ipsec_remote.ops.apply import remote_plan
from ipsec_remote.ops.promote import promote
from ipsec_remote.ops.rollback import rollback, rollback_plan
from ipsec_remote.plan.limit import parse_limit

from .harness import TRIO, InProcessLab, inprocess_lab


@pytest.fixture(autouse=True)
def _no_stop_left_behind() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def _promote_all(lab: InProcessLab) -> None:
    assert promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                   skip_drill=True, checks=False).ok


def _run_row(lab: InProcessLab, run_id: int) -> tuple[str, dict[str, object]]:
    [(status, summary)] = lab.journal()._query("SELECT status, summary FROM runs WHERE id = ?", (run_id,))
    return status, json.loads(summary)


def test_rollback_demotes_every_host_before_removing_anything_and_journals_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        _promote_all(lab)
        report = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert report.ok, report.to_json()
        steps = lab.journal().steps(report.run_id)
        phases = [s["phase"] for s in steps]
        demoted = [(s["host"], s["cmdlet"], s["params"]["InboundSecurity"], s["ok"]) for s in steps
                   if s["phase"] == "rollback-demote"]
        assert sorted(demoted) == [("app01", "Set-NetIPsecRule", "Request", True),
                                   ("sql01", "Set-NetIPsecRule", "Request", True)]
        assert phases.index("rollback") > max(i for i, p in enumerate(phases) if p == "rollback-demote")
        removals = [s for s in steps if s["phase"] == "rollback"]
        assert removals and all(s["ok"] and s["cmdlet"].startswith("Remove-") for s in removals)
        assert report.calls == {h: len([s for s in removals if s["host"] == h]) for h in ("app01", "sql01")}
        assert report.calls == report.removed == {"app01": 7, "sql01": 7}
        doc = report.to_json()
        assert (doc["calls"], doc["failed_hosts"], doc["interrupted"]) == ({"app01": 7, "sql01": 7}, {}, False)
        assert _run_row(lab, report.run_id) == ("ok", doc)


def test_a_stop_before_the_rollback_changes_nothing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        before = {h: s["stores"] for h, s in lab.inspect().items()}
        interrupt.request()
        report = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert report.interrupted == "stopped by Ctrl-C before the rollback"
        assert not report.ok and report.removed == {} and report.calls == {}
        assert {h: s["stores"] for h, s in lab.inspect().items()} == before
        status, summary = _run_row(lab, report.run_id)
        assert status == "interrupted" and summary["interrupted"] is True and summary["failed_hosts"] == {}


def test_rollback_with_limit_forgets_only_the_promotions_inside_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        _promote_all(lab)
        limit = parse_limit("app01,sql01", lab.inv)
        targets = {h: t for h, t in lab.targets.items() if h in limit.hosts}
        report = rollback(lab.inv, targets, lab.journal(), 4, limit)
        assert report.failed_hosts == {} and sorted(report.removed) == ["app01", "sql01"]
        assert lab.journal().pair_security() == {("web01", "app01"): ("Require", "Request"),
                                                 ("web01", "sql01"): ("Require", "Request")}
        assert lab.inspect()["web01"]["stores"]["PersistentStore"]["rules"]  # outside the limit: untouched


def test_the_rollback_plan_reads_and_changes_nothing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        assert not lab.apply().ok  # sql01 only
        before = lab.inspect()["sql01"]["stores"]
        plan, failed = rollback_plan(lab.inv, lab.targets, lab.journal(), 4)
        assert list(failed) == ["app01"] and "cannot connect" in failed["app01"]
        [sql01] = plan.hosts
        assert sql01.host == "sql01" and sql01.changes
        assert all(c.action == "destroy" for c in sql01.changes)
        assert plan.summary == {"add": 0, "change": 0, "destroy": len(sql01.changes)}
        assert lab.inspect()["sql01"]["stores"] == before


def test_the_plan_against_hosts_reads_them_and_names_the_unreachable(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, faults="[hosts.web01]\ndown = true\n") as lab:
        before = {h: s["stores"] for h, s in lab.inspect().items()}
        plan, failed = remote_plan(lab.inv, lab.targets, lab.journal(), 4)
        assert list(failed) == ["web01"] and "cannot connect" in failed["web01"]
        assert sorted(h.host for h in plan.hosts) == ["app01", "sql01"]
        assert all(c.action == "create" for h in plan.hosts for c in h.changes)
        assert not [c for c in lab.inspect()["sql01"]["calls"] if not c["cmdlet"].startswith("Get-")]
        assert {h: s["stores"] for h, s in lab.inspect().items()} == before  # a read-only plan
        limited, _ = remote_plan(lab.inv, lab.targets, lab.journal(), 4, parse_limit("app01,sql01", lab.inv))
        names = {c.name for h in limited.hosts for c in h.changes}
        assert "ipsec-remote-pair-app01-sql01" in names
        assert not [n for n in names if "web01" in n]  # the pairs crossing the limit are left alone
        assert lab.apply().ok is False  # web01 still down
        again, _ = remote_plan(lab.inv, lab.targets, lab.journal(), 4)
        assert sum(len(h.changes) for h in again.hosts) < sum(len(h.changes) for h in plan.hosts)


def test_the_plan_against_hosts_keeps_a_promotion_the_journal_lost(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        _promote_all(lab)
        lost = Journal(tmp_path / "elsewhere" / "state.db")  # a fresh journal: the hosts' marks tell
        lab.journals.append(lost)
        plan, failed = remote_plan(lab.inv, lab.targets, lost, 4)
        assert failed == {} and [h.changes for h in plan.hosts] == [(), ()]  # Require is kept, not lowered
