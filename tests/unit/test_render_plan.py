"""plan/render.py in-process: the text, JSON and PowerShell forms of a plan, line by line.

(The CLI tests run the same renderers in a subprocess, which mutation testing cannot see into.)
"""

from __future__ import annotations

from ipsec_remote.model.calls import CmdletCall, SecretRef
from ipsec_remote.model.desired import Kind
from ipsec_remote.plan.planner import Change, HostPlan, Plan
from ipsec_remote.plan.render import plan_json, plan_powershell, plan_text, ps_command, ps_quote, ps_value

RULE = CmdletCall("New-NetIPsecRule", {"IPsecRuleName": "r1", "DisplayName": "it's", "Enabled": "True",
                                       "RemoteAddress": ["10.0.0.2", "10.0.0.3"], "PolicyStore": "PersistentStore"})
P1 = CmdletCall("New-NetIPsecPhase1AuthSet", {"Name": "p1", "Proposal": CmdletCall(
    "New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True})})
UPDATE = CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": "r2", "InboundSecurity": "Require"})
REMOVE = CmdletCall("Remove-NetIPsecRule", {"IPsecRuleName": "old"})


def _plan() -> Plan:
    return Plan((
        HostPlan("sql01", "10.0.0.1", (
            Change("create", Kind.RULE, "r1", "transport rule", (RULE,)),
            Change("create", Kind.P1_AUTH_SET, "p1", "phase 1 auth", (P1,)),
            Change("update", Kind.RULE, "r2", "raise", (UPDATE,), ("InboundSecurity", "Description")),
            Change("replace", Kind.RULE, "r3", "rebuild", (REMOVE, RULE), ("Mode",)),
            Change("destroy", Kind.RULE, "old", "not wanted", (REMOVE,)),
        )),
        HostPlan("app01", "10.0.0.2"),
    ))


def test_values_render_as_powershell_literals() -> None:
    assert ps_value(True) == "$true" and ps_value(False) == "$false"
    assert ps_value(480) == "480" and ps_value(0) == "0"
    assert ps_value(SecretRef("LAB_PSK")) == "$env:LAB_PSK"
    assert ps_value([]) == "@()"
    assert ps_value(["a", "b'c"]) == "'a','b''c'"
    assert ps_value("x") == "'x'"
    assert ps_quote("a\u2019b") == "'a\u2019\u2019b'"
    assert ps_value(CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True})) == (
        "(New-NetIPsecAuthProposal -Machine -Kerberos)")
    assert ps_value(CmdletCall("New-NetIPsecAuthProposal", {"Machine": True}), stop=True) == (
        "(New-NetIPsecAuthProposal -Machine -ErrorAction Stop)")
    assert ps_value([CmdletCall("New-NetIPsecAuthProposal", {"Machine": True})], stop=True) == (
        "(New-NetIPsecAuthProposal -Machine -ErrorAction Stop)")


def test_a_command_names_switches_bare_and_booleans_with_their_value() -> None:
    assert ps_command(P1) == ("New-NetIPsecPhase1AuthSet -Name 'p1' -Proposal "
                              "(New-NetIPsecAuthProposal -Machine -Kerberos)")
    assert ps_command(P1, stop=True) == ("New-NetIPsecPhase1AuthSet -Name 'p1' -Proposal "
                                         "(New-NetIPsecAuthProposal -Machine -Kerberos -ErrorAction Stop) "
                                         "-ErrorAction Stop")
    force = CmdletCall("New-NetIPsecMainModeCryptoSet", {"Name": "mm", "ForceDiffieHellman": True})
    assert ps_command(force) == "New-NetIPsecMainModeCryptoSet -Name 'mm' -ForceDiffieHellman $true"
    assert ps_command(RULE) == ("New-NetIPsecRule -IPsecRuleName 'r1' -DisplayName 'it''s' -Enabled 'True' "
                                "-RemoteAddress '10.0.0.2','10.0.0.3' -PolicyStore 'PersistentStore'")


def test_text_lists_each_change_with_its_symbol_and_the_summary() -> None:
    text = plan_text(_plan())
    assert text.splitlines() == [
        "sql01 (10.0.0.1)",
        "    + rule          r1",
        "        transport rule",
        "    + p1_auth_set   p1",
        "        phase 1 auth",
        "    ~ rule          r2",
        "        raise  [changes: InboundSecurity, Description]",
        "  -/+ rule          r3",
        "        rebuild  [changes: Mode]",
        "    - rule          old",
        "        not wanted",
        "",
        "app01 (10.0.0.2)",
        "  no changes",
        "",
        "Plan: 2 to add, 2 to change, 1 to destroy.",
    ]
    shown = plan_text(_plan(), show_powershell=True).splitlines()
    assert shown[3] == "        PS> " + ps_command(RULE)
    assert shown.count("        PS> " + ps_command(REMOVE)) == 2


def test_an_empty_plan_says_so() -> None:
    assert plan_text(Plan((HostPlan("app01", "10.0.0.2"),))).splitlines() == [
        "app01 (10.0.0.2)", "  no changes", "", "No changes. Every host matches the inventory."]


def test_json_has_calls_changes_and_summary() -> None:
    doc = plan_json(_plan())
    assert list(doc) == ["hosts", "summary"]
    assert doc["summary"] == {"add": 2, "change": 2, "destroy": 1}
    sql = doc["hosts"]["sql01"]
    assert sql["address"] == "10.0.0.1"
    assert [c["cmdlet"] for c in sql["calls"]] == ["New-NetIPsecRule", "New-NetIPsecPhase1AuthSet", "Set-NetIPsecRule",
                                                    "Remove-NetIPsecRule", "New-NetIPsecRule", "Remove-NetIPsecRule"]
    assert sql["changes"][2] == {"action": "update", "kind": "rule", "name": "r2", "summary": "raise",
                                 "changed": ["InboundSecurity", "Description"]}
    assert doc["hosts"]["app01"] == {"address": "10.0.0.2", "calls": [], "changes": []}


def test_powershell_runs_each_section_only_on_its_host_and_stops_on_none() -> None:
    script = plan_powershell(_plan())
    lines = script.splitlines()
    assert lines[4:7] == ["$ErrorActionPreference = 'Stop'", "$matched = $false", ""]
    start = lines.index("# ---- sql01 (10.0.0.1)")
    assert lines[start + 1:start + 4] == [
        "if (@(Get-NetIPAddress -IPAddress '10.0.0.1' -ErrorAction SilentlyContinue).Count -gt 0) {",
        "    $matched = $true",
        "    Write-Output 'ipsec-remote: applying the plan of sql01 (10.0.0.1)'"]
    assert lines[start + 4] == "    " + ps_command(RULE, stop=True)
    assert lines[start + 10:start + 12] == ["}", ""]
    app = lines.index("# ---- app01 (10.0.0.2)")
    assert lines[app + 1:app + 3] == ["# no changes", ""]
    assert lines[-3:] == ["if (-not $matched) {",
                          "    throw 'ipsec-remote: this computer has none of the planned addresses (sql01 10.0.0.1)'",
                          "}"]
    assert script.endswith("}\n")
    nothing = plan_powershell(Plan((HostPlan("app01", "10.0.0.2"),)))
    assert "throw" not in nothing and nothing.endswith("# no changes\n\n")


def test_powershell_header_sections_after_an_unchanged_host_and_the_list_of_planned_hosts() -> None:
    other = HostPlan("web01", "10.0.0.3", (Change("create", Kind.RULE, "r1", "transport rule", (RULE,)),))
    plan = Plan((HostPlan("app01", "10.0.0.2"), _plan().hosts[0], other))
    lines = plan_powershell(plan).splitlines()
    assert lines[:4] == [
        "# Generated by ipsec-remote. Run it as it is, elevated, on each host of the plan: only the section",
        "# of the host it runs on (the machine that has that host's address) does anything. It stops at the",
        "# first error; -ErrorAction Stop is on every NetSecurity call because these CDXML cmdlets ignore",
        "# $ErrorActionPreference."]
    assert "# ---- sql01 (10.0.0.1)" in lines and "# ---- web01 (10.0.0.3)" in lines  # after a host with no calls
    assert lines[-2] == ("    throw 'ipsec-remote: this computer has none of the planned addresses "
                         "(sql01 10.0.0.1, web01 10.0.0.3)'")


def test_dumps_is_indented_json_in_key_order() -> None:
    from ipsec_remote.plan.render import dumps

    assert dumps({"b": 1, "a": [True, None]}) == '{\n  "b": 1,\n  "a": [\n    true,\n    null\n  ]\n}'
