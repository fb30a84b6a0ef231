"""apply's rollout in-process: the phases in order with what each host reports, the journal of every call, a
second run that sends nothing, a playbook without the rules phase, the preflight failing a host, a name
clash, a Ctrl-C between the exemptions and the rules, and --limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote import interrupt
from ipsec_remote.ops.apply import ApplyReport, apply
from ipsec_remote.plan.limit import parse_limit

from .harness import FAST_PLAYBOOK, TRIO, InProcessLab, inprocess_lab

HOSTS = ["sql01", "app01"]


@pytest.fixture(autouse=True)
def _no_stop_left_behind() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def _apply(lab: InProcessLab, said: list[tuple[str, str]] | None = None, checks: bool = False,
           say: Any = None, **kw: Any) -> ApplyReport:
    def progress(host: str, message: Any) -> None:
        if said is not None:
            said.append((host, str(message)))
        if say is not None:
            say(host, str(message))

    return apply(lab.inv, lab.dir / "inventory.toml", kw.pop("playbook", None) or lab.playbook(),
                 kw.pop("targets", lab.targets), lab.journal(), 4, progress=progress, checks=checks, **kw)


def _run(lab: InProcessLab, run_id: int) -> tuple[str, dict[str, Any]]:
    [(status, summary)] = lab.journal()._query("SELECT status, summary FROM runs WHERE id = ?", (run_id,))
    return status, json.loads(summary)


def _rules(lab: InProcessLab, host: str) -> list[str]:
    return sorted(str(r["Name"]) for r in lab.inspect()[host]["stores"]["PersistentStore"]["rules"])


def test_apply_lays_exemptions_then_rules_then_proves_and_journals_each_call(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        said: list[tuple[str, str]] = []
        report = _apply(lab, said)
        assert report.ok, report.to_json()
        fleet = [m for h, m in said if h == "fleet"]
        assert fleet[:5] == ["connecting to 2 host(s)", "reading 2 host(s)", "read 2 of 2 hosts",
                             "exemptions: 0 host(s) to change", "rules: 2 host(s) to change"]
        assert fleet[5].startswith("proving 1 pair(s)")
        for host in HOSTS:
            mine = [m for h, m in said if h == host]
            assert mine[0] == "exemptions: 2 call(s) applied (fresh host)", mine
            assert mine[1] == "rules: 5 call(s) applied", mine
        assert report.fresh_exemptions == {"sql01": 2, "app01": 2}
        assert report.sent == {"sql01": 7, "app01": 7}
        steps = lab.journal().steps(report.run_id)
        for host in HOSTS:
            phases = [s["phase"] for s in steps if s["host"] == host]
            assert phases == ["exemptions"] * 2 + ["rules"] * 5
        assert steps and all(s["ok"] for s in steps)
        assert [s["cmdlet"] for s in steps if s["host"] == "sql01" and s["phase"] == "exemptions"] == [
            "New-NetIPsecRule", "New-NetIPsecRule"]
        status, summary = _run(lab, report.run_id)
        assert (status, summary) == ("ok", {"add": 14, "change": 0, "destroy": 0})
        # what the host held before: nothing of ours, and its IPsec auditing (apply turns failures on)
        assert lab.journal().snapshot("sql01") == ([], {"audit:ipsec_main_mode": "none",
                                                       "audit:ipsec_quick_mode": "none"})


def test_a_second_apply_sends_nothing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert _apply(lab).ok
        said: list[tuple[str, str]] = []
        again = _apply(lab, said)
        assert again.ok
        assert again.sent == {} and again.fresh_exemptions == {} and again.done == {}
        assert again.summary == again.planned == {"add": 0, "change": 0, "destroy": 0}
        assert ("fleet", "rules: 0 host(s) to change") in said
        assert not [m for h, m in said if h != "fleet" and "call(s) applied" in m]
        assert lab.journal().steps(again.run_id) == []
        assert [p.verified for p in again.pairs] == [True]


def test_a_playbook_without_the_rules_and_verify_phases_lays_exemptions_and_sets_only(tmp_path: Path) -> None:
    book = '[rollout]\nphases = ["exemptions", "sets"]\n' + FAST_PLAYBOOK
    with inprocess_lab(tmp_path, playbook=book) as lab:
        report = _apply(lab)
        assert report.ok and report.pairs == []  # nothing proven without the verify phase
        for host in HOSTS:
            assert not [r for r in _rules(lab, host) if "pair" in r]
            assert len([r for r in _rules(lab, host) if "exempt" in r]) == 2
            assert lab.inspect()[host]["stores"]["PersistentStore"]["main_mode_crypto_sets"]
        assert report.not_done() == {h: 2 for h in HOSTS}  # the main-mode rule and the pair rule wait
        assert lab.journal().latest_verification("app01", "sql01") is None
        # the next full apply finds our objects: no fresh-host exemptions, only what is missing is sent
        rest = _apply(lab, playbook=lab.playbook(FAST_PLAYBOOK))
        assert rest.ok and rest.fresh_exemptions == {}
        assert rest.summary == {"add": 4, "change": 0, "destroy": 0} and rest.sent == {h: 2 for h in HOSTS}
        assert [p.verified for p in rest.pairs] == [True]


def test_without_ipsec_auditing_apply_leaves_the_audit_policy_alone(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "inventory.toml").read_text()
    assert "enable_ipsec_audit" not in text
    with inprocess_lab(tmp_path, text.replace("[policy]\n", "[policy]\nenable_ipsec_audit = false\n")) as lab:
        assert lab.inv.policy.enable_ipsec_audit is False
        audit_before = {h: lab.inspect()[h]["audit"] for h in HOSTS}
        report = _apply(lab)
        assert report.ok and report.audit == {} and report.to_json()["audit"] == {}
        assert {h: lab.inspect()[h]["audit"] for h in HOSTS} == audit_before
        assert lab.journal().snapshot("sql01") == ([], {})


def test_the_preflight_fails_a_host_with_an_error_and_apply_leaves_it_alone(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults='[hosts.sql01]\nikeext = "disabled"\n') as lab:
        said: list[tuple[str, str]] = []
        report = _apply(lab, said, checks=True)
        assert not report.ok
        assert report.preflight is not None
        errors = [(f.host, f.problem) for f in report.preflight if f.severity == "error"]
        assert errors and all(h == "sql01" for h, _ in errors)
        assert list(report.failed_hosts) == ["sql01"]
        assert report.failed_hosts["sql01"].startswith("sql01: ") and "IKEEXT" in report.failed_hosts["sql01"]
        assert ("fleet", "preflight: the doctor's checks on 2 host(s)") in said
        assert any(h == "fleet" and m.startswith(f"preflight: {len(errors)} error(s), ") for h, m in said)
        assert any(h == "sql01" and m.startswith("failed: ") for h, m in said)
        assert _rules(lab, "sql01") == []  # nothing sent to the failed host
        assert _rules(lab, "app01")  # the other host went on
        assert report.to_json()["preflight"] == [f.to_json() for f in report.preflight]
        assert _run(lab, report.run_id)[0] == "failed"


def test_a_name_taken_outside_our_group_fails_that_host_only(tmp_path: Path) -> None:
    faults = """
[[hosts.sql01.preexisting.rules]]
name = "ipsec-remote-pair-app01-sql01"
display_name = "someone else's rule with our name"
group = "legacy"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.77"]
"""
    with inprocess_lab(tmp_path, faults=faults) as lab:
        before = lab.inspect()["sql01"]["stores"]
        report = _apply(lab)
        assert list(report.failed_hosts) == ["sql01"]
        assert "ipsec-remote-pair-app01-sql01" in report.failed_hosts["sql01"]
        assert lab.inspect()["sql01"]["stores"] == before  # not even the exemptions
        assert report.sent.get("sql01", 0) == 0 and "app01" in report.sent
        doc = report.to_json()  # refused before planning: in failed_hosts, not among the planned hosts
        assert doc["failed_hosts"] == report.failed_hosts and list(doc["hosts"]) == ["app01"]


def test_a_stop_after_the_exemptions_leaves_the_rules_undone(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        def say(host: str, message: str) -> None:
            if message == "exemptions: 0 host(s) to change":
                interrupt.request()  # Ctrl-C once every host has its exemptions

        report = _apply(lab, say=say)
        assert report.interrupted == "stopped by Ctrl-C before the sets and rules"
        assert not report.ok and report.to_json()["interrupted"] is True
        for host in HOSTS:
            assert all("exempt" in r for r in _rules(lab, host)) and _rules(lab, host)
        assert report.not_done() == {"sql01": 5, "app01": 5}
        assert report.summary == {"add": 4, "change": 0, "destroy": 0}
        assert report.pairs == [] and report.armed_reverts == []
        assert _run(lab, report.run_id) == ("interrupted", {"add": 4, "change": 0, "destroy": 0})


def test_apply_with_limit_leaves_pairs_crossing_it_alone(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        limit = parse_limit("app01,sql01", lab.inv)
        targets = {h: t for h, t in lab.targets.items() if h in limit.hosts}
        report = _apply(lab, targets=targets, limit=limit)
        assert report.ok, report.to_json()
        assert [(p.a, p.b) for p in report.pairs] == [("app01", "sql01")]
        assert [r for r in _rules(lab, "sql01") if "pair" in r] == ["ipsec-remote-pair-app01-sql01"]
        assert _rules(lab, "web01") == []
        assert sorted(report.to_json()["hosts"]) == ["app01", "sql01"]


def test_a_stop_during_the_read_sends_no_batch_after_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        def say(host: str, message: str) -> None:
            if message.endswith("(fresh host)"):
                interrupt.request()  # Ctrl-C while the hosts are read (their exemptions rode along)

        report = _apply(lab, say=say)
        assert report.interrupted == "stopped by Ctrl-C before the exemptions"
        assert report.sent == {"sql01": 2, "app01": 2}  # the read's exemptions only
        for host in HOSTS:
            assert not [r for r in _rules(lab, host) if "pair" in r]
        assert _run(lab, report.run_id)[0] == "interrupted"


# Two pairs with no host in common: one negotiates, the other cannot (file01's IKEEXT is disabled).
TWO_PAIRS = TRIO.split("[[pairs]]")[0] + """
[[hosts]]
name = "file01"
address = "10.10.1.50"

[[pairs]]
a = "app01"
b = "sql01"
probe_port = 1433

[[pairs]]
a = "web01"
b = "file01"
probe_port = 445
"""


def test_a_host_whose_pairs_all_proved_in_the_first_round_is_closed_during_the_round(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from .harness import InProcessSession

    seen: list[str] = []  # progress and real closes, in order
    close = InProcessSession.close

    def recorded_close(self: InProcessSession) -> None:
        if self._pool is not None:
            seen.append(f"closed {self.target.name}")
        close(self)

    monkeypatch.setattr(InProcessSession, "close", recorded_close)
    with inprocess_lab(tmp_path, TWO_PAIRS, faults='[hosts.file01]\nikeext = "disabled"\n') as lab:
        report = _apply(lab, say=lambda host, message: seen.append(message))
    verdicts = {(p.a, p.b): p.verified for p in report.pairs}
    assert verdicts == {("app01", "sql01"): True, ("web01", "file01"): False}
    proving = next(i for i, m in enumerate(seen) if m.startswith("proving "))
    # The proven pair's hosts went during the first round (before prove_pairs' first word)…
    assert {"closed app01", "closed sql01"} <= set(seen[:proving])
    # …the unproven pair's stayed open for the later rounds and the diagnosis, which reached both ends.
    assert {"closed web01", "closed file01"} <= set(seen[proving:])
    [pair] = [p for p in report.pairs if p.a == "web01"]
    assert "file01: IKEEXT disabled" in pair.problems, pair.problems
    assert not report.failed_hosts
