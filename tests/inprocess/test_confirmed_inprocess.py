"""The change behind the dead-man's switch (ops/confirmed.py) in-process, through promote: what the hosts
carry after a Ctrl-C before and after the change, an arm that fails on one host, a deadline too close to
confirm, and a demotion (a lowering change is kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote import interrupt
from ipsec_remote.ops.promote import PromoteReport, promote

from .harness import FAST_PLAYBOOK, InProcessLab, inprocess_lab

PAIR = "pair-app01-sql01"
HOSTS = ("app01", "sql01")


@pytest.fixture(autouse=True)
def _no_stop_left_behind() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def _promote(lab: InProcessLab, say: Any = None, to: str = "require", timeout_s: int = 20) -> PromoteReport:
    return promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), to, None, timeout_s, 4, say,
                   skip_drill=True, checks=False)


def _security(lab: InProcessLab) -> set[tuple[str, str]]:
    return {(r["InboundSecurity"], r["OutboundSecurity"]) for r in (lab.rule(h, PAIR) for h in HOSTS)}


def _tasks(lab: InProcessLab) -> dict[str, list[str]]:
    return {h: [str(t.get("name", t)) if isinstance(t, dict) else str(t) for t in lab.inspect()[h]["scheduled_tasks"]]
            for h in HOSTS}


def _waves_and_reverts(lab: InProcessLab) -> tuple[list[str], list[tuple[str, str]]]:
    journal = lab.journal()
    waves = [r[0] for r in journal._query("SELECT status FROM waves ORDER BY id")]
    reverts = [(r[0], r[1]) for r in journal._query("SELECT host, status FROM reverts ORDER BY host")]
    return waves, reverts


def test_a_stop_after_arming_removes_the_switch_and_changes_nothing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if str(message).startswith("wave 1: revert armed") and host == "sql01":
                interrupt.request()  # Ctrl-C once both hosts are armed, before the rules change

        report = _promote(lab, say)
        assert report.interrupted == "stopped by Ctrl-C before changing the rules of wave 1"
        [wave] = report.waves
        assert wave.status == "aborted" and sorted(d.host for d in wave.deadlines) == list(HOSTS)
        assert _security(lab) == {("Request", "Request")}  # nothing changed
        assert _tasks(lab) == {"app01": [], "sql01": []}  # and the switch is gone again
        assert report.armed_reverts == []
        assert _waves_and_reverts(lab) == (["aborted"], [("app01", "aborted"), ("sql01", "aborted")])
        assert lab.journal().pair_security() == {}
        assert lab.journal().runs()[-1]["status"] == "interrupted"


def test_a_stop_after_the_change_leaves_the_revert_armed_to_fire(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        armed: list[str] = []

        def say(host: str, message: str) -> None:
            if str(message).startswith("wave 1: revert armed"):
                armed.append(host)
            elif armed and str(message).startswith("proving"):
                interrupt.request()  # Ctrl-C while the changed rules are being proven

        report = _promote(lab, say)
        assert report.interrupted == ("stopped by Ctrl-C before confirming wave 1 (its revert stays armed and "
                                      "fires at the deadline)")
        [wave] = report.waves
        assert wave.status == "interrupted (changed, not confirmed)"
        assert _security(lab) == {("Require", "Request")}  # changed, not confirmed
        tasks = _tasks(lab)
        assert all(tasks[h] for h in HOSTS), tasks  # each host's revert still armed
        assert sorted(a["host"] for a in report.armed_reverts) == list(HOSTS)
        assert all(a["task_name"] and a["text"] for a in report.armed_reverts)
        assert report.to_json()["interrupted"] is True
        assert _waves_and_reverts(lab)[0] == ["interrupted"]
        assert lab.journal().pair_security() == {}  # never recorded as promoted
        for host in HOSTS:
            lab.fire_revert_now(host)
        assert _security(lab) == {("Request", "Request")}  # what the armed tasks restore


def test_a_host_that_cannot_be_armed_fails_the_wave_before_any_change(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if str(message).startswith("wave 1/1"):  # sql01 goes down between the proof and the arming
                lab.fleet.faults.hosts.setdefault("sql01", type(lab.fleet.faults.for_host("sql01"))()).down = True

        report = _promote(lab, say)
        assert not report.ok and report.interrupted is None
        [wave] = report.waves
        assert wave.status == "failed"
        assert len(wave.problems) == 1 and wave.problems[0].startswith("sql01: could not arm the revert (")
        assert wave.proofs == []  # nothing was changed, so nothing was proven
        assert "sql01" in report.failed_hosts
        app01 = lab.inspect()["app01"]
        assert app01["scheduled_tasks"] == []  # the host that was armed is disarmed again
        assert {(r["InboundSecurity"], r["OutboundSecurity"]) for r in app01["stores"]["PersistentStore"]["rules"]
                if PAIR in str(r.get("Name"))} == {("Request", "Request")}
        waves, reverts = _waves_and_reverts(lab)
        assert waves == ["aborted"] and reverts == [("app01", "aborted")]
        assert lab.journal().pair_security() == {}


def test_a_deadline_too_close_to_confirm_reverts_the_change(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        report = _promote(lab, timeout_s=1)  # the confirm needs 2 s of margin before the earliest deadline
        [wave] = report.waves
        assert wave.status == "reverted" and not report.ok
        assert "the earliest revert deadline came before the change could be confirmed" in wave.problems
        assert [p.verified for p in wave.proofs] == [True]  # the change itself proved
        assert _security(lab) == {("Request", "Request")}
        assert _tasks(lab) == {"app01": [], "sql01": []}
        assert _waves_and_reverts(lab)[0] == ["reverted"]
        assert lab.journal().pair_security() == {}


def test_a_confirmed_wave_reports_each_step_and_leaves_no_task(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        said: list[tuple[str, str]] = []
        report = _promote(lab, lambda h, m: said.append((h, str(m))))
        assert report.ok
        steps = [(h, m.split(",")[0]) for h, m in said if m.startswith("wave 1")]
        assert steps == [("fleet", "wave 1/1 (canary): 1 pair(s) on 2 host(s)"),
                         ("app01", "wave 1: revert armed"), ("sql01", "wave 1: revert armed"),
                         ("fleet", "wave 1: confirmed")]
        assert all(" 20 s left" in m or "19 s left" in m for h, m in said if "revert armed" in m)
        assert _waves_and_reverts(lab) == (["confirmed"], [("app01", "confirmed"), ("sql01", "confirmed")])
        assert _tasks(lab) == {"app01": [], "sql01": []}
        assert lab.journal().pair_security() == {("app01", "sql01"): ("Require", "Request")}


def test_a_demotion_is_kept_even_when_the_pair_does_not_prove(tmp_path: Path) -> None:
    quick = FAST_PLAYBOOK.replace("timeout_s = 4", "timeout_s = 1")  # the failing proof gives up sooner
    with inprocess_lab(tmp_path, playbook=quick) as lab:
        assert lab.apply().ok
        assert _promote(lab).ok

        def say(host: str, message: str) -> None:
            if str(message).startswith("wave 1: revert armed") and host == "sql01":
                lab.stop_ikeext("sql01")  # the pair cannot negotiate any more: its proof fails
                lab.drop_sas("sql01")

        report = _promote(lab, say, to="request")
        [wave] = report.waves
        assert [p.verified for p in wave.proofs] == [False]
        assert wave.status == "confirmed" and wave.problems == []  # lowering: only the management path counts
        assert _security(lab) == {("Request", "Request")}
        assert lab.journal().pair_security() == {("app01", "sql01"): ("Request", "Request")}


def test_a_host_out_of_reach_past_its_deadline_fails_the_wave_and_says_so(tmp_path: Path) -> None:
    book = FAST_PLAYBOOK.replace("timeout_s = 4", "timeout_s = 1").replace("revert_wait_s = 20", "revert_wait_s = 1")
    with inprocess_lab(tmp_path, playbook=book) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if str(message).startswith("wave 1: revert armed") and host == "sql01":
                lab.fleet.faults.hosts.setdefault("sql01", type(lab.fleet.faults.for_host("sql01"))()).down = True

        said: list[tuple[str, str]] = []
        report = _promote(lab, lambda h, m: (said.append((h, str(m))), say(h, str(m))), timeout_s=3)
        [wave] = report.waves
        assert wave.status == "failed"  # the controller cannot tell whether sql01's own revert ran
        assert "sql01: still unreachable 1 s after its deadline" in wave.problems
        assert ("fleet", "wave 1: waiting for the on-host revert of sql01") in said
        waves, reverts = _waves_and_reverts(lab)
        assert waves == ["failed"] and dict(reverts) == {"app01": "reverted-by-controller", "sql01": "unreachable"}
        assert lab.rule("app01", PAIR)["InboundSecurity"] == "Request"  # reverted at once where it answered
        assert lab.journal().pair_security() == {}
