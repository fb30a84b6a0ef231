"""invoke_batch.ps1's -Preflight gate, run on lab hosts: it refuses wherever the doctor's Python checks
(ops/doctor.py ``_host_findings``, the one source of the findings) find an error — at least as strict —
and lets a healthy host through."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.values import PSHashtable
from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.doctor import _host_findings, gate_params, is_event
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import script_text

ROOT = Path(__file__).resolve().parents[2]
RULE = CmdletCall("New-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-exempt-dc", "DisplayName": "x",
                                       "Group": "ipsec-remote", "InboundSecurity": "None", "OutboundSecurity": "None",
                                       "RemoteAddress": ["10.10.1.5"], "PolicyStore": "PersistentStore"})
BASE = HostConfig(name="sql01", address="10.10.1.20", audit={"ipsec_main_mode": "success_and_failure"})

# name -> (host, events written before the checks, does the gate let it through)
CASES: dict[str, tuple[HostConfig, tuple[int, ...], bool]] = {
    "healthy": (BASE, (), True),
    "IKEEXT stopped (trigger-started)": (replace(BASE, ikeext_running=False), (), True),
    "event 5453, IKEEXT running again": (BASE, (5453,), True),
    "clock 290 s ahead": (replace(BASE, clock_skew_s=290), (), True),
    "IKEEXT disabled": (replace(BASE, ikeext="disabled"), (), False),
    "event 5453, IKEEXT stopped": (replace(BASE, ikeext_running=False), (5453,), False),
    "BFE stopped": (replace(BASE, stopped_services=("BFE",)), (), False),
    "MpsSvc stopped": (replace(BASE, stopped_services=("MpsSvc",)), (), False),
    "MpsSvc disabled": (replace(BASE, disabled_services=("MpsSvc",)), (), False),
    "merge off (AllowLocalIPsecRules False)": (replace(BASE, local_ipsec_merge=False), (), False),
    "clock 310 s ahead": (replace(BASE, clock_skew_s=310), (), False),
    "clock 310 s behind": (replace(BASE, clock_skew_s=-310), (), False),
    # stricter than the findings (no error there): the margin for the pipeline's duration
    "clock 270 s behind": (replace(BASE, clock_skew_s=-270), (), False),
}


def as_ps(value: Any) -> Any:
    """Python data as PSRP delivers it to a script: dicts become hashtables (as in test_batch_guard)."""
    if isinstance(value, dict):
        return PSHashtable({k: as_ps(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_ps(v) for v in value]
    return value


def gate(host: LabHost, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = host.run_script(script_text("invoke_batch"), {
        "Calls": [as_ps(batch_data(RULE))], "Guard": True, "Group": "ipsec-remote",
        "PolicyStore": "PersistentStore", "ExpectOwned": [], **params})
    assert result.failure is None, result.failure
    return [dict(o.properties) for o in result.output]


def errors(host: LabHost) -> list[str]:
    inv = load_inventory(ROOT / "inventory.toml")
    state = host.run_script(script_text("read_state"), {"Group": "ipsec-remote", "PolicyStore": "PersistentStore"})
    events = host.run_script(script_text("read_events"), {"SinceSeconds": 3600})
    assert state.failure is None and events.failure is None, (state.failure, events.failure)
    (report,) = [dict(o.properties) for o in state.output]
    facts = parse_state(report, "ipsec-remote", None).facts
    seen = [{k: v for k, v in dict(o.properties).items()} for o in events.output]
    return [f.problem for f in _host_findings(inv, "sql01", facts, [e for e in seen if is_event(e)],
                                              datetime.now(timezone.utc)) if f.severity == "error"]


@pytest.mark.parametrize("case", list(CASES))
def test_the_gate_refuses_wherever_the_doctor_finds_an_error(case: str) -> None:
    config, events, passes = CASES[case]
    host = LabHost(config)
    for event_id in events:
        assert host.add_event(event_id, "IPsec negotiation failed: IKEEXT is not started") is not None
    found = errors(host)
    (result,) = gate(host, gate_params())
    refused = result["error_id"] == "Preflight"
    assert refused or not found, (case, found, result)  # never less strict than the findings
    assert refused is not passes, (case, found, result)
    assert not refused or (result["ok"] is False and result["error"].startswith("preflight: "))
    assert refused or result["ok"] is True  # let through: the batch ran


def test_a_controller_time_it_cannot_read_refuses() -> None:
    (result,) = gate(LabHost(BASE), {**gate_params(), "ControllerUtc": "not a time"})
    assert result["error_id"] == "Preflight" and "could not run" in result["error"], result
