"""The batch script's guard, run on a lab host: a plan is refused when the host changed since it was read."""

from __future__ import annotations

from typing import Any

from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.values import PSHashtable
from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import script_text

RULE = CmdletCall("New-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-exempt-dc", "DisplayName": "x",
                                       "Group": "ipsec-remote", "InboundSecurity": "None", "OutboundSecurity": "None",
                                       "RemoteAddress": ["10.10.1.5"], "PolicyStore": "PersistentStore"})


def as_ps(value: Any) -> Any:
    """Python data as PSRP delivers it to a script: dicts become hashtables."""
    if isinstance(value, dict):
        return PSHashtable({k: as_ps(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_ps(v) for v in value]
    return value


def batch(host: LabHost, calls: list[CmdletCall], expect: list[str]) -> list[dict[str, Any]]:
    result = host.run_script(script_text("invoke_batch"), {
        "Calls": [as_ps(batch_data(c)) for c in calls], "Guard": True, "Group": "ipsec-remote",
        "PolicyStore": "PersistentStore", "ExpectOwned": expect})
    assert result.failure is None, result.failure
    return [dict(o.properties) for o in result.output]


def test_guard_runs_on_the_expected_state_and_refuses_a_moved_one() -> None:
    host = LabHost(HostConfig(name="sql01", address="10.10.1.20"))
    (ok,) = batch(host, [RULE], [])
    assert ok["ok"] is True
    # Planned again from the old (empty) state: the host now has the rule, so nothing may run.
    (refused,) = batch(host, [RULE], [])
    assert refused["error_id"] == "StateMoved" and "ipsec-remote-exempt-dc" in refused["error"]
    # Planned from the current state: runs (and Windows' own duplicate-name error comes back per step).
    (dup,) = batch(host, [RULE], ["ipsec-remote-exempt-dc"])
    assert dup["ok"] is False and dup["error_id"] != "StateMoved"
