"""The IPsec audit policy logic (ops/audit.py): parsing auditpol's CSV by position, what apply changes, what
rollback restores, and the journal keeping the first recorded setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.journal.store import Journal
from ipsec_remote.ops import audit

MM, QM = audit.MAIN_MODE.guid, audit.QUICK_MODE.guid
HEADER = "Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting"


def output(*rows: tuple[str, str], code: int = 0, **extra: Any) -> dict[str, Any]:
    lines = ["", HEADER, *(f"SQL01,System,Name,{guid},{words}," for guid, words in rows), ""]
    return {"AuditPolicy": lines, "ReadExitCode": code, "Applied": [], "Error": None, **extra}


def test_parse_reads_the_setting_after_the_guid_column() -> None:
    state = audit.parse(output((MM, "No Auditing"), (QM, "Success and Failure"),
                               (audit.DRIVER.guid, "Failure"), (audit.PACKET_DROP.guid, "Success")))
    assert state.to_json() == {"ipsec_main_mode": "none", "ipsec_quick_mode": "success_and_failure",
                               "ipsec_driver": "failure", "filtering_platform_packet_drop": "success"}
    assert state.readable() and not state.audits_failures(audit.MAIN_MODE)
    # A subcategory name holding a comma (quoted, as CSV does) does not shift the columns.
    quoted = {"AuditPolicy": [HEADER, f'SQL01,System,"Name, localized",{MM},Failure,'], "ReadExitCode": 0}
    assert audit.parse(quoted).of(audit.MAIN_MODE) == "failure"


def test_words_of_another_language_are_unknown_and_nothing_is_planned() -> None:
    state = audit.parse(output((MM, "Fehler"), (QM, "Keine Überwachung")))
    assert state.of(audit.MAIN_MODE) == "unknown" and state.raw["ipsec_main_mode"] == "Fehler"
    assert not state.readable()
    assert audit.enable_plan(state) == {}  # a previous state rollback could not restore is not changed
    text = audit.off_text("sql01", state)
    assert text is not None and "could not be read" in text and "Fehler" in text
    assert "is off" not in text


def test_errors_make_the_state_unreadable() -> None:
    assert audit.parse(output(code=87)).error == "auditpol /get exited with 87: " + HEADER
    assert audit.parse({"AuditPolicy": [], "ReadExitCode": None, "Error": "auditpol.exe not found"}).error
    failed_set = output((MM, "No Auditing"), Applied=[{"Guid": MM, "ExitCode": 5, "Output": "Access is denied."}])
    assert "exited with 5" in str(audit.parse(failed_set).error)


def test_enable_plan_turns_on_failures_only_where_off_and_keeps_success() -> None:
    state = audit.parse(output((MM, "Success"), (QM, "Failure")))
    plan = audit.enable_plan(state)
    assert plan == {"ipsec_main_mode": "success"}
    script, params = audit.enable_step(plan)
    assert script == "ipsec_audit"
    assert params == {"Set": [{"Guid": MM, "Success": "", "Failure": "enable"}], "Read": [MM]}
    assert audit.enable_plan(audit.parse(output((MM, "Failure"), (QM, "Success and Failure")))) == {}


@pytest.mark.parametrize("setting", audit.SETTINGS)
def test_restore_sets_both_flags_exactly(setting: str) -> None:
    _, params = audit.restore_step({"ipsec_main_mode": setting})
    (item,) = params["Set"]
    assert (item["Success"] == "enable", item["Failure"] == "enable") == audit.flags_of(setting)
    assert audit.setting_name(*audit.flags_of(setting)) == setting
    words = {"none": "No Auditing", "success": "Success", "failure": "Failure",
             "success_and_failure": "Success and Failure"}[setting]
    assert audit.differs({"ipsec_main_mode": setting}, audit.parse(output((MM, words)))) == []
    assert audit.differs({"ipsec_main_mode": setting}, audit.parse(output((MM, "Fehler")))) != []


def test_off_text_names_the_host_and_what_is_off() -> None:
    off = audit.off_text("app01", audit.parse(output((MM, "No Auditing"), (QM, "Failure"))))
    assert off == ("IPsec auditing is off on app01 (IPsec Main Mode: none): failed negotiations leave no "
                   "event there")
    assert audit.off_text("app01", audit.parse(output((MM, "Failure"), (QM, "Success and Failure")))) is None
    severity, problem, _fix = audit.doctor_findings("app01", audit.parse(output((MM, "No Auditing"),
                                                                                (QM, "Failure"))))[0]
    assert severity == "warning" and problem.startswith("IPsec auditing is off on app01")
    missing = audit.off_text("app01", audit.parse(output((MM, "Failure"))))
    assert missing is not None and "IPsec Quick Mode missing from auditpol's output" in missing


def test_journal_keeps_the_first_recorded_setting_until_forgotten(tmp_path: Path) -> None:
    j = Journal(tmp_path / "state.db")
    run = j.begin_run("apply")
    assert j.remember_settings(run, "sql01", {"audit:ipsec_main_mode": "none"}, [{"name": "x"}]) == \
        {"audit:ipsec_main_mode": "none"}
    # A later apply reads our own "failure": the first value stays; a new key is added.
    assert j.remember_settings(run, "sql01", {"audit:ipsec_main_mode": "failure",
                                              "audit:ipsec_quick_mode": "success"}, []) == \
        {"audit:ipsec_quick_mode": "success"}
    assert not j.snapshot_once(run, "sql01", [{"name": "later"}], {})  # the snapshot row exists already
    owned, settings = j.snapshot("sql01") or ([], {})
    assert owned == [{"name": "x"}]
    assert audit.recorded(settings) == {"ipsec_main_mode": "none", "ipsec_quick_mode": "success"}
    j.forget_settings("sql01", ["audit:ipsec_main_mode"])
    assert audit.recorded((j.snapshot("sql01") or ([], {}))[1]) == {"ipsec_quick_mode": "success"}
