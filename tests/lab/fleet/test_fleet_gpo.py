"""The lab's domain: one shared GPO on the domain controllers, applied by linked hosts at refresh
(lab/host/gpo_domain.py, gpupdate.py), edited through GPO sessions, guarded by rights and the second hop."""

from __future__ import annotations

import time
from typing import Any

from .conftest import INVENTORY, Lab, LabFactory

GPO = "lab.local\\IPsec Isolation"
GPO_INVENTORY = INVENTORY + f"\n[policy]\nstore = '{GPO}'\n"
NEW_RULE = """
param($Store, $Name)
New-NetIPsecRule -IPsecRuleName $Name -DisplayName $Name -PolicyStore $Store -InboundSecurity Request `
    -OutboundSecurity Request -Group 'ipsec-remote' -ErrorAction Stop | Out-Null
"""
NAMES = "param($Store) @(Get-NetIPsecRule -PolicyStore $Store -ErrorAction Stop | ForEach-Object { $_.InstanceID })"


def gpo_names(lab: Lab) -> list[str]:
    gpos: dict[str, Any] = lab.fleet.inspect()["gpos"]
    return [o["name"] for o in gpos[GPO]["objects"]]


def test_one_shared_gpo_reaches_each_host_at_its_refresh(make_lab: LabFactory) -> None:
    lab = make_lab(inventory=GPO_INVENTORY)
    gpos = lab.fleet.inspect()["gpos"]
    assert gpos[GPO] == {"objects": [], "linked_to": ["sql01", "app01", "web01"], "version": 0}
    lab.ok("dc01", NEW_RULE, Store=GPO, Name="zone")  # the writer is a DC: no second hop
    assert gpo_names(lab) == ["zone"]
    assert lab.ok("sql01", NAMES, Store="RSOP") == []  # not applied before a refresh
    out = lab.ok("sql01", "gpupdate /target:computer /force")
    assert "Computer Policy update has completed successfully." in out
    assert lab.ok("sql01", NAMES, Store="RSOP") == ["zone"]
    assert lab.ok("sql01", NAMES, Store="ActiveStore") == ["zone"]
    assert lab.ok("app01", NAMES, Store="RSOP") == []  # app01 has not refreshed yet
    # The host's copy is what it applied: a later edit waits for the next refresh.
    lab.ok("dc01", NEW_RULE, Store=GPO, Name="second")
    assert lab.ok("sql01", NAMES, Store="RSOP") == ["zone"]
    assert sorted(gpo_names(lab)) == ["second", "zone"]


def test_a_gpo_session_writes_everything_at_save(make_lab: LabFactory) -> None:
    lab = make_lab(inventory=GPO_INVENTORY)
    lab.ok("dc01", """
        param($Store)
        $s = Open-NetGPO -PolicyStore $Store -ErrorAction Stop
        New-NetIPsecRule -IPsecRuleName a -DisplayName a -GPOSession $s -ErrorAction Stop | Out-Null
        New-NetIPsecRule -IPsecRuleName b -DisplayName b -GPOSession $s -ErrorAction Stop | Out-Null
        """, Store=GPO)
    assert gpo_names(lab) == []  # cached in the session, never saved
    lab.ok("dc01", """
        param($Store)
        $s = Open-NetGPO -PolicyStore $Store -ErrorAction Stop
        New-NetIPsecRule -IPsecRuleName a -DisplayName a -GPOSession $s -ErrorAction Stop | Out-Null
        Save-NetGPO -GPOSession $s -ErrorAction Stop
        """, Store=GPO)
    assert gpo_names(lab) == ["a"]
    assert lab.fleet.inspect()["gpos"][GPO]["version"] == 1  # one write for the whole session


def test_a_gpo_edited_from_a_member_server_session_is_a_second_hop(make_lab: LabFactory) -> None:
    lab = make_lab(inventory=GPO_INVENTORY)
    for script in (NEW_RULE, NAMES, "param($Store) Open-NetGPO -PolicyStore $Store -ErrorAction Stop"):
        _out, errors = lab.run("sql01", script, Store=GPO, **({"Name": "x"} if script is NEW_RULE else {}))
        assert errors and "cannot reach a domain controller without delegation" in str(errors[0]), errors
    assert gpo_names(lab) == []
    _out, errors = lab.run("sql01", "Invoke-GPUpdate -Computer app01 -RandomDelayInMinutes 0 -Force")
    assert errors and "without delegation" in str(errors[0])


def test_without_edit_rights_nothing_changes(make_lab: LabFactory) -> None:
    lab = make_lab(f"[domain]\ndeny_gpo_edit = ['{GPO}']\n", inventory=GPO_INVENTORY)
    for script in (NEW_RULE, "param($Store) Open-NetGPO -PolicyStore $Store -ErrorAction Stop"):
        _out, errors = lab.run("dc01", script, Store=GPO, **({"Name": "x"} if script is NEW_RULE else {}))
        assert errors and "You do not have permission to edit GPO" in str(errors[0]), errors
    assert lab.ok("dc01", NAMES, Store=GPO) == []  # reading is still allowed
    assert lab.fleet.inspect()["gpos"][GPO]["version"] == 0


def test_invoke_gpupdate_schedules_a_refresh(make_lab: LabFactory) -> None:
    lab = make_lab(inventory=GPO_INVENTORY, tick_s=0.05)
    lab.ok("dc01", NEW_RULE, Store=GPO, Name="zone")
    lab.ok("app01", "Invoke-GPUpdate -RandomDelayInMinutes 0 -Force")
    deadline = time.monotonic() + 5
    while lab.ok("app01", NAMES, Store="RSOP") != ["zone"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.ok("app01", NAMES, Store="RSOP") == ["zone"]
