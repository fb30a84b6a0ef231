"""status, rollback and unreachable hosts in-process: drift, unproven pairs, down hosts, prior state."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.ops.rollback import rollback
from ipsec_remote.ops.status import StatusReport, status

from .harness import InProcessLab, inprocess_lab

PAIR_RULE = "ipsec-remote-pair-app01-sql01"


def _status(lab: InProcessLab) -> StatusReport:
    return status(lab.inv, lab.targets, lab.journal(), lab.playbook().verify, 4)


def _set_rule(lab: InProcessLab, host: str, text: str) -> None:
    """A manual change on the host, in its own PowerShell (what an admin at the console would type)."""
    with lab.fleet.lock:
        result = lab.host(host).run_script(f"Set-NetIPsecRule -IPsecRuleName '{PAIR_RULE}' {text} "
                                           "-PolicyStore PersistentStore -ErrorAction Stop")
    assert not getattr(result, "failure", None), result


def test_status_before_apply_shows_every_pair_unproven(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        report = _status(lab)
        assert not report.ok
        assert [(p.a, p.b, p.verified) for p in report.pairs] == [("app01", "sql01", False)]
        problems = report.pairs[0].problems
        assert f"app01: rule {PAIR_RULE} is missing" in problems and f"sql01: rule {PAIR_RULE} is missing" in problems
        assert report.reachable == {"sql01": True, "app01": True}
        assert report.drift["sql01"] and all(line.endswith(": missing") for line in report.drift["sql01"])


def test_status_reports_a_manual_change_as_drift_and_apply_repairs_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        assert _status(lab).ok
        _set_rule(lab, "sql01", "-Enabled False")
        report = _status(lab)
        assert not report.ok
        assert report.drift["app01"] == []
        assert len(report.drift["sql01"]) == 1 and report.drift["sql01"][0].startswith(f"rule {PAIR_RULE}: changed ")
        assert "Enabled" in report.drift["sql01"][0]
        repaired = lab.apply()
        assert repaired.ok and repaired.summary == {"add": 0, "change": 1, "destroy": 0}
        assert lab.rule("sql01", "pair-app01-sql01")["Enabled"] == "True"
        assert _status(lab).ok


def test_status_flags_a_rule_below_the_security_the_journal_recorded(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        lab.journal().set_pair_security("app01", "sql01", "Require", "Request")
        report = _status(lab)
        pair = report.pairs[0]
        assert not pair.verified and not report.ok
        assert f"app01: rule {PAIR_RULE} is Request/Request, the journal says Require/Request" in pair.problems


def test_status_names_a_host_that_is_down_and_proves_nothing_through_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        report = _status(lab)
        assert report.reachable == {"sql01": True, "app01": False}
        assert report.unreachable_reason["app01"].startswith("app01: cannot connect")
        assert not report.pairs[0].verified and not report.ok
        doc = report.to_json()
        assert doc["hosts"]["app01"]["drift_known"] is False and "error" in doc["hosts"]["app01"]


def test_apply_goes_on_with_the_hosts_it_reaches_and_names_the_other(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        report = lab.apply()
        assert not report.ok
        assert list(report.failed_hosts) == ["app01"] and "cannot connect" in report.failed_hosts["app01"]
        assert lab.inspect()["sql01"]["stores"]["PersistentStore"]["rules"]  # sql01 got its exemptions
        assert lab.inspect()["app01"]["calls"] == []
        assert [p.verified for p in report.pairs] == [False]


def test_rollback_removes_what_apply_made_and_restores_what_our_group_held(tmp_path: Path) -> None:
    faults = """
[[hosts.sql01.preexisting.rules]]
name = "ipsec-remote-exempt-dc"
display_name = "legacy DC exemption"
group = "ipsec-remote"
inbound_security = "None"
outbound_security = "None"
remote_address = ["10.10.1.6"]

[[hosts.sql01.preexisting.rules]]
name = "someone-elses"
display_name = "not ours"
group = "legacy"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.77"]
"""
    with inprocess_lab(tmp_path, faults=faults) as lab:
        before = {h: s["stores"] for h, s in lab.inspect().items()}
        assert lab.apply().ok
        assert lab.rule("sql01", "exempt-dc")["DisplayName"] != "legacy DC exemption"  # apply changed it
        report = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert report.ok, report.to_json()
        assert report.restored == {"sql01": 1, "app01": 0}
        assert report.removed["app01"] > 0 and report.removed["sql01"] > 0
        assert {h: s["stores"] for h, s in lab.inspect().items()} == before
        again = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert again.ok and not any(again.removed.values()) and not any(again.restored.values())


def test_rollback_after_a_promotion_returns_to_before_the_first_apply(tmp_path: Path) -> None:
    from ipsec_remote.ops.promote import promote

    with inprocess_lab(tmp_path) as lab:
        before = {h: s["stores"] for h, s in lab.inspect().items()}
        assert lab.apply().ok
        assert promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                       skip_drill=True).ok
        report = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert report.ok, report.to_json()
        assert {h: s["stores"] for h, s in lab.inspect().items()} == before
        assert lab.journal().pair_security() == {}
        assert _status(lab).pairs[0].verified is False


def test_rollback_with_a_host_down_fails_and_keeps_the_journal(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        lab.journal().set_pair_security("app01", "sql01", "Require", "Request")
        lab.fleet.faults.hosts.setdefault("app01", type(lab.fleet.faults.for_host("app01"))()).down = True
        report = rollback(lab.inv, lab.targets, lab.journal(), 4)
        assert not report.ok
        assert "cannot connect" in report.failed_hosts["app01"]
        assert report.removed["sql01"] > 0
        # The journal keeps what it knows about the pair: the host that was not rolled back still has it.
        assert lab.journal().pair_security() == {("app01", "sql01"): ("Require", "Request")}
