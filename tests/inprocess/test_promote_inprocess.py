"""Promotion's branches in-process: waves, a failed canary, a revert that fires first, demotion, refusals."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.ops.promote import PromoteReport, promote

from .harness import TRIO, InProcessLab, inprocess_lab

PAIR_RULES = {"app01:sql01": "pair-app01-sql01", "web01:app01": "pair-web01-app01", "web01:sql01": "pair-web01-sql01"}


def _promote(lab: InProcessLab, to: str = "require", say: object = None, **kw: object) -> PromoteReport:
    return promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), to, None, 20, 4, say,  # type: ignore[arg-type]
                   skip_drill=kw.pop("skip_drill", True), **kw)  # type: ignore[arg-type]


def _security(lab: InProcessLab, pair: str) -> set[tuple[str, str]]:
    """The pair rule's security on both of its hosts (one element when they agree)."""
    out = set()
    for host in pair.split(":"):
        rule = lab.rule(host, PAIR_RULES[pair])
        out.add((rule["InboundSecurity"], rule["OutboundSecurity"]))
    return out


def test_two_waves_canary_first_then_the_rest(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        report = _promote(lab)
        assert report.ok, report.to_json()
        assert [(w.number, w.name, w.pairs, w.status) for w in report.waves] == [
            (1, "canary", [("app01", "sql01")], "confirmed"),
            (2, "rest", [("web01", "app01"), ("web01", "sql01")], "confirmed")]
        for pair in PAIR_RULES:
            assert _security(lab, pair) == {("Require", "Request")}, pair
        assert lab.journal().pair_security() == {tuple(p.split(":")): ("Require", "Request") for p in PAIR_RULES}
        hosts = lab.inspect()
        assert not [t for h in hosts.values() for t in h["scheduled_tasks"]]  # every switch disarmed
        # A second promotion finds nothing to do and contacts nobody's rules.
        again = _promote(lab)
        assert again.ok and again.waves == []


def test_a_failed_canary_is_reverted_and_no_later_wave_starts(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        said: list[tuple[str, str]] = []

        def say(host: str, message: str) -> None:
            said.append((host, message))
            if message.startswith("wave 1: revert armed") and host == "sql01":
                # The canary's proof under the new policy will fail: IKEEXT is down and the SAs that
                # carried the pair are gone (promote proves in place, so SAs alone would still carry it).
                lab.stop_ikeext("sql01")
                lab.drop_sas("sql01")

        report = _promote(lab, say=say)
        assert not report.ok
        assert [(w.number, w.status) for w in report.waves] == [(1, "reverted")]
        problems = report.waves[0].problems
        assert problems and problems[0].startswith("app01 <-> sql01: "), problems
        assert _security(lab, "app01:sql01") == {("Request", "Request")}  # reverted on both ends
        for pair in ("web01:app01", "web01:sql01"):  # wave 2 never started
            assert _security(lab, pair) == {("Request", "Request")}, pair
        assert not any(m.startswith("wave 2") for _h, m in said)
        assert lab.journal().pair_security() == {}


def test_a_failed_canary_lets_later_waves_run_when_the_playbook_says_so(tmp_path: Path) -> None:
    book = """
[verify]
timeout_s = 3
poll_interval_s = 0.2

[promote]
confirm_timeout_s = 20
revert_wait_s = 20
waves = [{ name = "canary", pairs = 1 }, { name = "rest", percent = 100 }]

[failure]
stop_on_failed_wave = false
max_failed_pairs_per_wave = 1
"""
    with inprocess_lab(tmp_path, TRIO, playbook=book) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if message.startswith("wave 1: revert armed") and host == "sql01":
                lab.stop_ikeext("sql01")
                lab.drop_sas("sql01")

        report = _promote(lab, say=say)
        assert [(w.number, w.status) for w in report.waves][:1] == [(1, "reverted")]
        assert [w.number for w in report.waves] == [1, 2]  # one failed pair is within the playbook's limit


def test_a_revert_that_fired_before_the_confirm_reverts_the_wave(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if message.startswith("wave 1: revert armed") and host == "sql01":
                lab.fire_revert_now("sql01")  # as if sql01's deadline came early (clock jump, slow proof)

        report = _promote(lab, say=say)
        assert not report.ok
        wave = report.waves[0]
        assert wave.status == "reverted", wave
        assert any(p.startswith("sql01: ") and "fired" in p for p in wave.problems), wave.problems
        assert len(report.waves) == 1
        assert _security(lab, "app01:sql01") == {("Request", "Request")}  # app01 reverted too
        assert lab.journal().pair_security() == {}


def test_demotion_returns_promoted_pairs_to_request(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        assert _promote(lab).ok
        report = _promote(lab, to="request")
        assert report.ok, report.to_json()
        assert report.target == ("Request", "Request")
        assert sorted(p for w in report.waves for p in w.pairs) == [("app01", "sql01"), ("web01", "app01"),
                                                                     ("web01", "sql01")]
        for pair in PAIR_RULES:
            assert _security(lab, pair) == {("Request", "Request")}, pair
        assert set(lab.journal().pair_security().values()) <= {("Request", "Request")}


def test_only_pairs_apply_verified_are_promoted(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, faults='[hosts.web01]\nikeext = "disabled"\n') as lab:
        applied = lab.apply()
        assert [(p.a, p.b, p.verified) for p in applied.pairs] == [
            ("app01", "sql01", True), ("web01", "app01", False), ("web01", "sql01", False)]
        report = _promote(lab)
        assert report.skipped == {p: "not verified by apply yet" for p in ("web01:app01", "web01:sql01")}
        assert [(w.pairs, w.status) for w in report.waves] == [([("app01", "sql01")], "confirmed")]
        assert _security(lab, "app01:sql01") == {("Require", "Request")}
        assert _security(lab, "web01:sql01") == {("Request", "Request")}


def test_a_pair_that_no_longer_verifies_is_skipped_with_the_reason(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        lab.stop_ikeext("web01")
        lab.drop_sas("web01")
        report = _promote(lab)
        assert sorted(report.skipped) == ["web01:app01", "web01:sql01"]
        assert all(why.startswith("does not verify now: ") for why in report.skipped.values())
        assert [w.pairs for w in report.waves] == [[("app01", "sql01")]]


def test_undrilled_hosts_are_refused_before_any_host_is_contacted(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        opened = len(lab.opened)
        report = _promote(lab, skip_drill=False)
        assert sorted(report.refused) == ["app01", "sql01", "web01"]
        assert all("doctor --drill" in why for why in report.refused.values())
        assert sorted(report.skipped) == sorted(PAIR_RULES)
        assert report.waves == [] and not report.ok
        assert len(lab.opened) == opened  # no session was opened
