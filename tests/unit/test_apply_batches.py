"""apply's batch bookkeeping without a host: which changes count as done, what the journal records of a batch,
how a refused or stopped batch fails its host, what a guard asks of the host, and what the report adds up."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.journal.store import Journal
from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import Kind
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.apply import ApplyReport, offline_plan
from ipsec_remote.ops.batches import Guard, StepFailed, _target, completed, creates, record_results
from ipsec_remote.plan.planner import Change, HostPlan, Plan

ROOT = Path(__file__).resolve().parents[2]
NEW_RULE = CmdletCall("New-NetIPsecRule", {"DisplayName": "r1", "IPsecRuleName": "ipsec-remote-r1"})
SET_RULE = CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-r2"})
NEW_SET = CmdletCall("New-NetIPsecMainModeCryptoSet", {"Name": "ipsec-remote-mm"})


def _change(action: str, name: str, *calls: CmdletCall, kind: Kind = Kind.RULE) -> Change:
    return Change(action, kind, name, f"{action} {name}", tuple(calls))  # type: ignore[arg-type]


def _ok(n: int) -> list[dict[str, object]]:
    return [{"index": i, "ok": True} for i in range(n)]


def test_completed_counts_a_change_only_when_all_its_calls_succeeded() -> None:
    changes = [_change("create", "a", NEW_SET, NEW_SET), _change("update", "b", SET_RULE),
               _change("destroy", "c", SET_RULE)]
    assert completed(changes, _ok(4)) == ["create", "update", "destroy"]
    assert completed(changes, _ok(3)) == ["create", "update"]
    assert completed(changes, _ok(1)) == []  # half of the first change is not a change done
    assert completed(changes, []) == []
    # the batch stops at the first failure: nothing after it counts, even an "ok" reported later
    assert completed(changes, [*_ok(2), {"index": 2, "ok": False}, {"index": 3, "ok": True}]) == ["create"]
    # a negative index is the guard's answer (nothing ran), not a call's result
    assert completed(changes, [{"index": -1, "ok": True}, *_ok(3)]) == []
    assert completed(changes, [{"ok": True}, {"ok": True}]) == ["create"]  # no index: counted in order


def _journal(tmp_path: Path) -> tuple[Journal, int]:
    journal = Journal(tmp_path / "state.db")
    return journal, journal.begin_run("apply")


def test_a_batch_that_succeeded_is_journaled_call_by_call(tmp_path: Path) -> None:
    journal, run = _journal(tmp_path)
    record_results(journal, run, "sql01", "rules", [NEW_SET, NEW_RULE], _ok(2), [])
    steps = journal.steps(run)
    assert [(s["host"], s["phase"], s["cmdlet"], s["ok"], s["error"]) for s in steps] == [
        ("sql01", "rules", "New-NetIPsecMainModeCryptoSet", True, None),
        ("sql01", "rules", "New-NetIPsecRule", True, None)]
    assert steps[1]["params"]["IPsecRuleName"] == "ipsec-remote-r1"
    journal.close()


def test_a_failed_call_is_journaled_and_fails_the_host_naming_the_call(tmp_path: Path) -> None:
    journal, run = _journal(tmp_path)
    results = [{"index": 0, "ok": True}, {"index": 1, "ok": False, "error": "Access is denied"}]
    with pytest.raises(StepFailed) as failed:
        record_results(journal, run, "app01", "rules", [NEW_SET, NEW_RULE, SET_RULE], results, [])
    assert str(failed.value) == "app01: New-NetIPsecRule 'ipsec-remote-r1' failed: Access is denied"
    assert [(s["cmdlet"], s["ok"], s["error"]) for s in journal.steps(run)] == [
        ("New-NetIPsecMainModeCryptoSet", True, None), ("New-NetIPsecRule", False, "Access is denied")]
    journal.close()


def test_a_batch_that_stopped_short_fails_the_host_with_the_last_error(tmp_path: Path) -> None:
    journal, run = _journal(tmp_path)
    with pytest.raises(StepFailed) as failed:
        record_results(journal, run, "app01", "rules", [NEW_SET, NEW_RULE, SET_RULE], _ok(1),
                        ["first", "the pipeline was stopped"])
    assert str(failed.value) == "app01: the batch stopped after 1 of 3 calls (the pipeline was stopped)"
    with pytest.raises(StepFailed) as bare:
        record_results(journal, run, "app01", "rules", [NEW_SET, NEW_RULE], [], [])
    assert str(bare.value) == "app01: the batch stopped after 0 of 2 calls"
    assert len(journal.steps(run)) == 1  # only the call that ran
    journal.close()


def test_a_guard_refusal_applies_nothing_and_says_what_to_do(tmp_path: Path) -> None:
    journal, run = _journal(tmp_path)
    moved = [{"index": -1, "ok": False, "error_id": "StateMoved", "error": "owned objects changed"}]
    with pytest.raises(StepFailed) as failed:
        record_results(journal, run, "web01", "rules", [NEW_RULE], moved, [])
    assert str(failed.value) == "web01: nothing applied: owned objects changed (run apply again to re-plan)"
    clash = [{"index": -1, "ok": False, "error_id": "NameClash", "error": "names taken outside the group"}]
    with pytest.raises(StepFailed) as clashed:
        record_results(journal, run, "web01", "exemptions", [NEW_RULE], clash, [])
    assert str(clashed.value) == "web01: nothing applied: names taken outside the group — rename or remove them"
    assert journal.steps(run) == []  # nothing ran, nothing journaled as sent
    journal.close()


def test_a_failed_call_without_a_name_is_named_by_its_cmdlet_alone(tmp_path: Path) -> None:
    journal, run = _journal(tmp_path)
    anonymous = CmdletCall("Set-NetFirewallProfile", {"Profile": "Domain"})
    with pytest.raises(StepFailed) as failed:
        record_results(journal, run, "h", "rules", [anonymous], [{"index": 0, "ok": False, "error": "x"}], [])
    assert str(failed.value) == "h: Set-NetFirewallProfile  failed: x"
    assert _target(CmdletCall("Remove-NetIPsecMainModeCryptoSet", {"Name": "ipsec-remote-mm"})) \
        == "'ipsec-remote-mm'"
    assert _target(CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": "a", "Name": "b"})) == "'a'"
    journal.close()


def test_the_guard_asks_the_host_for_exactly_the_owned_objects_and_absent_names() -> None:
    plain = Guard("ipsec-remote", "PersistentStore", ("b", "a"))
    assert plain.params() == {"Guard": True, "Group": "ipsec-remote", "PolicyStore": "PersistentStore",
                              "ExpectOwned": ["b", "a"]}
    creating = Guard("g", "GPO", (), ("NetIPsecRule|x",))
    assert creating.params() == {"Guard": True, "Group": "g", "PolicyStore": "GPO", "ExpectOwned": [],
                                 "Absent": ["NetIPsecRule|x"]}
    changes = [_change("create", "x", NEW_RULE), _change("replace", "mm", NEW_SET, kind=Kind.MM_CRYPTO_SET),
               _change("update", "y", SET_RULE), _change("destroy", "z", SET_RULE)]
    assert creates(changes) == ("NetIPsecRule|x", "NetIPsecMainModeCryptoSet|mm")


def _plan() -> Plan:
    return Plan((HostPlan("a", "10.0.0.1", (_change("create", "x", NEW_RULE), _change("update", "y", SET_RULE))),
                 HostPlan("b", "10.0.0.2", (_change("destroy", "z", SET_RULE),))))


def test_the_report_counts_what_completed_and_what_is_left_per_host() -> None:
    report = ApplyReport(7, _plan(), done={"a": ["create", "create"], "b": []}, fresh_exemptions={"a": 1})
    assert report.summary == {"add": 2, "change": 0, "destroy": 0}
    assert report.planned == {"add": 2, "change": 1, "destroy": 1}  # the fresh exemption is an add too
    assert report.not_done() == {"a": 1, "b": 1}
    full = ApplyReport(7, _plan(), done={"a": ["create", "update"], "b": ["destroy"]})
    assert full.summary == {"add": 1, "change": 1, "destroy": 1} and full.not_done() == {}
    assert full.ok
    replaced = ApplyReport(7, _plan(), done={"a": ["replace", "update"]})
    assert replaced.summary == {"add": 0, "change": 2, "destroy": 0} and replaced.not_done() == {"b": 1}


def test_a_report_is_not_ok_with_a_failed_host_or_a_stop() -> None:
    assert not ApplyReport(1, _plan(), failed_hosts={"b": "b: down"}).ok
    assert not ApplyReport(1, _plan(), interrupted="stopped by Ctrl-C").ok
    doc = ApplyReport(1, _plan(), sent={"a": 2}, done={"a": ["create"]}, failed_hosts={"b": "b: down"},
                      interrupted="stopped").to_json()
    assert doc["hosts"] == {"a": {"address": "10.0.0.1", "changes": 2, "sent": 2, "done": 1, "failed": None},
                            "b": {"address": "10.0.0.2", "changes": 1, "sent": 0, "done": 0, "failed": "b: down"}}
    assert doc["interrupted"] is True and doc["ok"] is False and doc["preflight"] is None
    assert doc["not_done"] == {"a": 1, "b": 1} and doc["summary"] == {"add": 1, "change": 0, "destroy": 0}


def test_the_offline_plan_creates_every_object_of_every_host() -> None:
    inv = load_inventory(ROOT / "inventory.toml")
    plan = offline_plan(inv)
    assert [h.host for h in plan.hosts] == [h.name for h in inv.hosts]
    assert plan.hosts and all(c.action == "create" for h in plan.hosts for c in h.changes)
    assert plan.summary["add"] == sum(len(h.changes) for h in plan.hosts) > 0
