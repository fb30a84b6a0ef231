"""status in-process beyond the matrix: --limit, a lost journal rebuilt from the hosts' marks, the security a
pair is reported at, and promotion's drill refusal per pair."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.journal.deadman import record_drill
from ipsec_remote.journal.store import Journal
from ipsec_remote.ops.promote import promote
from ipsec_remote.ops.status import StatusReport, status
from ipsec_remote.plan.limit import parse_limit

from .harness import FAST_PLAYBOOK, TRIO, InProcessLab, inprocess_lab


def _status(lab: InProcessLab, journal: Journal | None = None, limit: str | None = None) -> StatusReport:
    return status(lab.inv, lab.targets, journal or lab.journal(), lab.playbook().verify, 4,
                  None if limit is None else parse_limit(limit, lab.inv))


def test_status_with_limit_reads_its_hosts_and_proves_the_pairs_inside(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        report = _status(lab, limit="app01,sql01")
        assert report.ok
        assert report.reachable == {"sql01": True, "app01": True}
        assert [(p.a, p.b, p.verified) for p in report.pairs] == [("app01", "sql01", True)]
        assert sorted(report.to_json()["hosts"]) == ["app01", "sql01"]


def test_a_pair_without_its_rules_is_reported_at_unknown_security(tmp_path: Path) -> None:
    quick = FAST_PLAYBOOK.replace("timeout_s = 4", "timeout_s = 1")  # the unproven pair gives up sooner
    with inprocess_lab(tmp_path, playbook=quick) as lab:
        doc = _status(lab).to_json()
        [pair] = doc["pairs"]
        assert (pair["inbound_security"], pair["outbound_security"], pair["verified"]) == ("unknown", "unknown",
                                                                                          False)
        assert lab.apply().ok
        [pair] = _status(lab).to_json()["pairs"]
        assert (pair["inbound_security"], pair["outbound_security"]) == ("Request", "Request")


def test_a_lost_journal_gets_its_promotions_back_from_the_hosts(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        assert promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                       skip_drill=True, checks=False).ok
        fresh = Journal(tmp_path / "elsewhere" / "state.db")
        lab.journals.append(fresh)
        assert fresh.created
        report = _status(lab, fresh)
        assert report.ok, report.to_json()
        assert any("promotion(s) rebuilt from the marks on the hosts: app01:sql01 Require/Request" in n
                   for n in report.journal_notes), report.journal_notes
        assert fresh.pair_security() == {("app01", "sql01"): ("Require", "Request")}
        assert report.to_json()["pairs"][0]["inbound_security"] == "Require"
        # the lab's own journal was never lost: no notes there
        assert _status(lab).journal_notes == []


def test_promotion_needs_a_successful_drill_on_both_hosts_of_a_pair(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        journal = lab.journal()
        record_drill(journal, 1, "app01", True, {})
        record_drill(journal, 1, "sql01", True, {})
        record_drill(journal, 1, "web01", False, {"problem": "the task did not fire"})
        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4)
        assert not report.ok  # a host was refused
        assert [(w.pairs, w.status) for w in report.waves] == [([("app01", "sql01")], "confirmed")]
        assert list(report.refused) == ["web01"]
        assert report.refused["web01"].startswith("its last drill (") and report.refused["web01"].endswith(
            ") failed: the task did not fire; fix it and run 'ipsec-remote doctor --drill'")
        assert report.skipped == {"web01:app01": "no successful drill on web01",
                                  "web01:sql01": "no successful drill on web01"}
        doc = report.to_json()
        assert isinstance(doc["preflight"], list) and doc["preflight"]  # the doctor's findings ran first
        assert all({"host", "severity"} <= set(f) for f in doc["preflight"])
        assert lab.journal().pair_security() == {("app01", "sql01"): ("Require", "Request")}


def test_server_isolation_refuses_pairs_whose_hosts_were_not_observed_before_contacting_any(tmp_path: Path) -> None:
    isolated = TRIO.replace('key_module = "IKEv1"', 'key_module = "IKEv1"\nserver_isolation = true')
    with inprocess_lab(tmp_path, isolated) as lab:
        assert lab.apply().ok
        opened = len(lab.opened)
        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                         skip_drill=True, checks=False)
        assert not report.ok and report.waves == []
        assert sorted(report.refused) == ["app01", "sql01", "web01"]
        assert all(why.startswith("server isolation needs an observation of its clear-text peers first")
                   for why in report.refused.values())
        assert report.skipped == {"app01:sql01": "no recent observation on app01, sql01",
                                  "web01:app01": "no recent observation on web01, app01",
                                  "web01:sql01": "no recent observation on web01, sql01"}
        assert len(lab.opened) == opened  # nobody contacted
        assert lab.journal().runs()[-1]["command"] == "apply"  # and no run begun


def test_with_no_pair_eligible_promotion_says_why_and_changes_nothing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:  # never applied: no pair was verified by apply
        before = {h: s["stores"] for h, s in lab.inspect().items()}
        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                         skip_drill=True, checks=False)
        assert report.nothing_eligible == ("no pair is eligible for Require/Request: app01:sql01: not verified "
                                           "by apply yet")
        assert report.waves == [] and not report.ok
        assert report.to_json()["nothing_eligible"] == report.nothing_eligible
        assert {h: s["stores"] for h, s in lab.inspect().items()} == before
        assert lab.journal().runs()[-1]["status"] == "failed"


def test_status_names_an_object_of_our_group_the_inventory_no_longer_wants(tmp_path: Path) -> None:
    faults = """
[[hosts.sql01.preexisting.rules]]
name = "ipsec-remote-old-pair"
display_name = "left over from an earlier inventory"
group = "ipsec-remote"
inbound_security = "Request"
outbound_security = "Request"
remote_address = ["10.10.1.99"]
"""
    with inprocess_lab(tmp_path, faults=faults) as lab:
        assert lab.apply().ok  # apply removes it
        assert _status(lab).drift["sql01"] == []
    quick = FAST_PLAYBOOK.replace("timeout_s = 4", "timeout_s = 1")  # the unproven pair gives up sooner
    with inprocess_lab(tmp_path / "again", faults=faults, playbook=quick) as lab:
        drift = _status(lab).drift
        assert "rule ipsec-remote-old-pair: not ours to keep" in drift["sql01"]
        assert "rule ipsec-remote-old-pair: not ours to keep" not in drift["app01"]
        assert any(line.endswith(": missing") for line in drift["sql01"])
