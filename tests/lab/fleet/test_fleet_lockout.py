"""Management lockout: a host whose active rules Require IPsec for the controller's WinRM flow refuses it."""

from __future__ import annotations

import pytest
import requests
from pypsrp.powershell import RunspacePool

from .conftest import NEW_RULE, Lab, LabFactory

LEGACY_REQUIRE = """
[[hosts.sql01.preexisting.rules]]
name = "legacy-require"
inbound_security = "Require"
outbound_security = "Request"
remote_address = ["10.10.1.0/24"]
"""
EXEMPT_CONTROLLER = """[[hosts.sql01.preexisting.rules]]
name = "exempt-controller"
inbound_security = "None"
outbound_security = "None"
remote_address = ["10.10.1.100"]
protocol = "TCP"
local_port = ["5986"]
"""


def open_pool(lab: Lab, host: str) -> None:
    with lab.wsman(host) as wsman, RunspacePool(wsman):
        pass


def test_preexisting_require_rule_locks_the_controller_out(make_lab: LabFactory) -> None:
    lab = make_lab(LEGACY_REQUIRE, audited=True)
    assert lab.host("sql01")["reachable_from_controller"] is False
    assert lab.host("sql01")["controller_blocked_by"] == "legacy-require"
    with pytest.raises(requests.exceptions.ConnectionError):
        open_pool(lab, "sql01")
    open_pool(lab, "app01")  # its neighbour is untouched
    assert lab.host("app01")["requests"]["Create"] == 1
    assert lab.host("sql01")["requests"]["total"] == 0  # refused before any WSMan request
    drops = [e for e in lab.host("sql01")["events"] if e["id"] == 4963]
    assert drops and drops[0]["data"]["RemoteAddress"] == "10.10.1.100"
    assert not any(e["id"] == 4963 for e in lab.host("app01")["events"])


def test_exemption_for_the_controller_wins_over_require(make_lab: LabFactory) -> None:
    # Exemptions apply "regardless of other connection security rules" (cc811521).
    lab = make_lab(LEGACY_REQUIRE + EXEMPT_CONTROLLER)
    assert lab.host("sql01")["reachable_from_controller"] is True
    open_pool(lab, "sql01")


def test_a_require_rule_sent_over_winrm_cuts_the_session_and_refuses_the_next(lab: Lab) -> None:
    # The rule applies while the pipeline runs; the Receive that would fetch its result is clear text
    # from the controller and is discarded (inbound Require), so the open session dies with it.
    with pytest.raises(requests.exceptions.ConnectionError):
        lab.ok("sql01", NEW_RULE, Name="require-controller", Remote=["10.10.1.100"], In="Require", Out="Request")
    assert lab.host("sql01")["reachable_from_controller"] is False
    assert [c["cmdlet"] for c in lab.host("sql01")["calls"]] == ["New-NetIPsecRule"]
    with pytest.raises(requests.exceptions.ConnectionError):
        open_pool(lab, "sql01")
    # Request inbound is boundary mode: clear text is still accepted (PS-Set-NetIPsecRule).
    lab.ok("app01", NEW_RULE, Name="request-controller", Remote=["10.10.1.100"], In="Request", Out="Request")
    open_pool(lab, "app01")


def test_down_host_refuses_everything(make_lab: LabFactory) -> None:
    lab = make_lab("[hosts.web01]\ndown = true\n")
    assert lab.host("web01")["reachable_from_controller"] is False
    with pytest.raises(requests.exceptions.ConnectionError):
        open_pool(lab, "web01")
