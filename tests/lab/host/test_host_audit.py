"""A lab host's IPsec audit policy: off on a stock host, changed and read by GUID with auditpol.exe through
the product's own script, and events written only for audited subcategories (and types)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from host_harness import new_lab

from ipsec_remote.lab.engine import Engine
from ipsec_remote.lab.host import HostAssumptions, LabHost
from ipsec_remote.lab.values import PSHashtable

MM = "{0CCE9218-69AE-11D9-BED3-505054503030}"
QM = "{0CCE9219-69AE-11D9-BED3-505054503030}"
DRIVER = "{0CCE9213-69AE-11D9-BED3-505054503030}"
SCRIPT = (Path(__file__).resolve().parents[3] / "src" / "ipsec_remote" / "remote" / "powershell"
          / "ipsec_audit.ps1").read_text("utf-8")


def audit_script(host: LabHost, **params: Any) -> dict[str, Any]:
    """The script as a PSRP call runs it: each -Set item arrives as a hashtable."""
    if "Set" in params:
        params["Set"] = [PSHashtable(**item) for item in params["Set"]]
    result = host.run_script(SCRIPT, params)
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    [out] = result.output
    return {k: (list(v) if isinstance(v, list) else v) for k, v in out.properties.items()}


def test_stock_host_audits_nothing_and_logs_no_ipsec_event() -> None:
    host = new_lab().host
    assert set(host.snapshot()["audit"].values()) == {"none"}
    assert {"ipsec_main_mode", "ipsec_quick_mode", "ipsec_driver"} <= set(host.snapshot()["audit"])
    for event_id in (4650, 4653, 4654, 5451, 4963):
        assert host.add_event(event_id, "x") is None
    assert host.events == []


def test_script_reads_csv_and_sets_failure_auditing() -> None:
    host = new_lab().host
    out = audit_script(host, Read=[MM, QM, DRIVER])
    assert out["ReadExitCode"] == 0 and out["Error"] is None and out["Applied"] == []
    lines = [line for line in out["AuditPolicy"] if line]
    assert lines[0].split(",")[3] == "Subcategory GUID"
    assert [line.split(",")[3:5] for line in lines[1:]] == [[MM, "No Auditing"], [QM, "No Auditing"],
                                                             [DRIVER, "No Auditing"]]
    out = audit_script(host, Set=[{"Guid": MM, "Failure": "enable"}, {"Guid": QM, "Failure": "enable"}],
                       Read=[MM, QM])
    assert [(a.get("Guid"), a.get("ExitCode")) for a in out["Applied"]] == [(MM, 0), (QM, 0)]
    assert [line.split(",")[4] for line in out["AuditPolicy"][1:] if line] == ["Failure", "Failure"]
    snap = host.snapshot()["audit"]
    assert (snap["ipsec_main_mode"], snap["ipsec_quick_mode"], snap["ipsec_driver"]) == ("failure", "failure", "none")
    # Failure auditing on main mode: 4653 (F) is written, 4650 (S) is not.
    assert host.add_event(4653, "MM negotiation failed") is not None
    assert host.add_event(4650, "MM SA established") is None
    # Leaving a flag empty keeps it; both given restore exactly.
    audit_script(host, Set=[{"Guid": MM, "Success": "enable", "Failure": ""}])
    assert host.snapshot()["audit"]["ipsec_main_mode"] == "success_and_failure"
    audit_script(host, Set=[{"Guid": MM, "Success": "disable", "Failure": "disable"}])
    assert host.snapshot()["audit"]["ipsec_main_mode"] == "none"


def test_auditpol_refuses_what_the_lab_does_not_model_and_unknown_guids() -> None:
    host = new_lab().host
    engine = Engine(host.commands)
    out = engine.run("$o = auditpol.exe /get /category:*\n[pscustomobject]@{ Out = $o; Code = $LASTEXITCODE }")
    assert out.failure is None
    assert out.output[0].get("Code") == 87 and "not modelled" in out.output[0].get("Out")[0]
    unknown = "{0CCE9999-69AE-11D9-BED3-505054503030}"
    out = engine.run(f"$o = auditpol /get '/subcategory:{unknown}' /r\n$LASTEXITCODE")
    assert out.output == [87]
    bad = audit_script(host, Set=[{"Guid": MM, "Failure": "on"}])
    assert bad["Error"].startswith("invalid audit setting") and bad["Applied"] == []


@pytest.mark.parametrize(("qm_type", "written"), [("failure", True), ("success", False)])
def test_qm_negotiation_failure_event_type_is_an_assumption(qm_type: Any, written: bool) -> None:
    host = new_lab(audit={"ipsec_quick_mode": "failure"},
                   assumptions=HostAssumptions(qm_failure_audit_type=qm_type)).host
    assert (host.add_event(4654, "QM negotiation failed") is not None) is written
    assert host.add_event(5451, "QM SA established") is None  # (S) on the Quick Mode page


def test_localized_inclusion_text_under_the_assumption() -> None:
    host = new_lab(audit={"ipsec_main_mode": "failure"}, assumptions=HostAssumptions(auditpol_text="localized")).host
    out = audit_script(host, Read=[MM])
    assert [line.split(",")[3:5] for line in out["AuditPolicy"][1:] if line] == [[MM, "Fehler"]]
