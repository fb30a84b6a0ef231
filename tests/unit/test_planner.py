"""The pure planner: what it emits for given desired/observed states (tables of cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind, Security, desired_objects
from ipsec_remote.model.inventory import Inventory, load_inventory
from ipsec_remote.plan.planner import ObservedObject, plan_host, same_value

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(ROOT / "inventory.toml")


def observed_from(objs: list[DesiredObject]) -> list[ObservedObject]:
    return [ObservedObject(o.kind, o.name, dict(o.params)) for o in objs]


def sql01(inv: Inventory, security: dict[tuple[str, str], Security] | None = None) -> list[DesiredObject]:
    return desired_objects(inv, security)["sql01"].objects


def test_fresh_host_gets_exemptions_first_then_sets_rules(inv: Inventory) -> None:
    plan = plan_host("sql01", "10.10.1.20", sql01(inv), [], "PersistentStore")
    kinds = [c.kind for c in plan.changes]
    assert kinds == [Kind.EXEMPTION, Kind.EXEMPTION, Kind.MM_CRYPTO_SET, Kind.QM_CRYPTO_SET, Kind.P1_AUTH_SET,
                     Kind.MM_RULE, Kind.RULE]
    first, controller = plan.calls[0], plan.calls[1]
    assert first.params["RemoteAddress"] == ["10.10.1.5"]
    assert (first.params["InboundSecurity"], first.params["OutboundSecurity"]) == ("None", "None")
    assert controller.params["RemoteAddress"] == ["10.10.1.100"]
    assert controller.params["LocalPort"] == ["5985", "5986"]
    rule = plan.calls[-1]
    assert rule.cmdlet == "New-NetIPsecRule"
    assert (rule.params["Mode"], rule.params["InboundSecurity"], rule.params["OutboundSecurity"]) == (
        "Transport", "Request", "Request")
    assert rule.params["RemoteAddress"] == ["10.10.1.30"]
    assert "MainModeCryptoSet" not in rule.params  # no such parameter on New-NetIPsecRule
    assert all(c.params["PolicyStore"] == "PersistentStore" for c in plan.calls)
    assert all(c.params.get("Group") == "ipsec-remote" for c in plan.calls)


def test_converged_host_plans_nothing(inv: Inventory) -> None:
    want = sql01(inv)
    assert plan_host("sql01", "10.10.1.20", want, observed_from(want), "PersistentStore").changes == ()


def test_observed_values_compare_as_windows_reports_them(inv: Inventory) -> None:
    want = sql01(inv)
    seen = observed_from(want)
    rule = seen[-1]
    # Windows echoes enum names in its own case and address lists in any order.
    loud = dict(rule.params, InboundSecurity="request", RemoteAddress=["10.10.1.30"])
    seen[-1] = ObservedObject(rule.kind, rule.name.upper(), loud)
    assert plan_host("sql01", "10.10.1.20", want, seen, "PersistentStore").changes == ()


CHANGE_CASES = [
    # (object index in sql01's desired list, params to alter on the observed copy, expected cmdlet, params)
    (6, {"InboundSecurity": "Require"}, "Set-NetIPsecRule",
     {"IPsecRuleName": "ipsec-remote-pair-app01-sql01", "InboundSecurity": "Request"}),
    (6, {"RemoteAddress": ["10.10.1.99"]}, "Set-NetIPsecRule", {"RemoteAddress": ["10.10.1.30"]}),
    (5, {"RemoteAddress": []}, "Set-NetIPsecMainModeRule", {"Name": "ipsec-remote-mm-peers"}),
    (3, {"PerfectForwardSecrecyGroup": "DH14"}, "Set-NetIPsecQuickModeCryptoSet",
     {"Name": "ipsec-remote-qm", "PerfectForwardSecrecyGroup": "None"}),
    (2, {"Proposal": [CmdletCall("New-NetIPsecMainModeCryptoProposal",
                                 {"Encryption": "AES128", "Hash": "SHA1", "KeyExchange": "DH2"})]},
     "Set-NetIPsecMainModeCryptoSet", {"Name": "ipsec-remote-mm"}),
    (6, {"DisplayName": "renamed by hand"}, "Set-NetIPsecRule", {"NewDisplayName": "ipsec-remote: app01 <-> sql01"}),
    (0, {"InboundSecurity": "Require"}, "Set-NetIPsecRule", {"IPsecRuleName": "ipsec-remote-exempt-dc"}),
]


@pytest.mark.parametrize(("index", "drift", "cmdlet", "expected"), CHANGE_CASES)
def test_drift_is_repaired_in_place(inv: Inventory, index: int, drift: dict[str, object], cmdlet: str,
                                    expected: dict[str, object]) -> None:
    want = sql01(inv)
    seen = observed_from(want)
    seen[index] = ObservedObject(seen[index].kind, seen[index].name, {**seen[index].params, **drift})
    plan = plan_host("sql01", "10.10.1.20", want, seen, "PersistentStore")
    assert [c.action for c in plan.changes] == ["update"]
    (call,) = plan.calls
    assert call.cmdlet == cmdlet
    for key, value in expected.items():
        assert same_value(call.params[key], value), (key, call.params[key])  # type: ignore[arg-type]
    assert call.params["PolicyStore"] == "PersistentStore"
    assert set(call.params) - {"PolicyStore", "IPsecRuleName", "Name"} == {
        "NewDisplayName" if k == "DisplayName" else k for k in drift}


def test_unsettable_difference_replaces(inv: Inventory) -> None:
    want = sql01(inv)
    seen = observed_from(want)
    # A parameter we never set (-Platform) cannot be cleared by Set-*: the object is replaced.
    seen[5] = ObservedObject(Kind.MM_RULE, seen[5].name, {**seen[5].params, "Platform": ["6.1+"]})
    plan = plan_host("sql01", "10.10.1.20", want, seen, "PersistentStore")
    (change,) = plan.changes
    assert change.action == "replace"
    assert [c.cmdlet for c in change.calls] == ["Remove-NetIPsecMainModeRule", "New-NetIPsecMainModeRule"]


def test_obsolete_objects_are_removed_by_name_rules_before_sets_exemptions_last(inv: Inventory) -> None:
    want = [o for o in sql01(inv) if o.kind in (Kind.EXEMPTION,)][:1]  # only the DC exemption stays
    seen = observed_from(sql01(inv))
    plan = plan_host("sql01", "10.10.1.20", want, seen, "PersistentStore")
    removes = [c for c in plan.calls]
    assert [c.cmdlet for c in removes] == [
        "Remove-NetIPsecRule", "Remove-NetIPsecMainModeRule", "Remove-NetIPsecPhase1AuthSet",
        "Remove-NetIPsecQuickModeCryptoSet", "Remove-NetIPsecMainModeCryptoSet", "Remove-NetIPsecRule"]
    assert removes[-1].params["IPsecRuleName"] == "ipsec-remote-exempt-controller"  # the exemption goes last
    for call in removes:
        selector = call.params.get("IPsecRuleName") or call.params.get("Name")
        assert selector and call.params["PolicyStore"] == "PersistentStore"  # never a bare Remove-*


def test_promoted_pairs_stay_promoted(inv: Inventory) -> None:
    promoted = {("app01", "sql01"): Security("Require", "Request")}
    want = sql01(inv, promoted)
    assert want[-1].params["InboundSecurity"] == "Require"
    assert plan_host("sql01", "10.10.1.20", want, observed_from(want), "PersistentStore").changes == ()


def test_ports_go_local_on_the_server_and_remote_on_the_client() -> None:
    inv = load_inventory(ROOT / "examples" / "three-tier-local.toml")
    desired = desired_objects(inv)
    web_rule = next(o for o in desired["web01"].objects if o.name == "ipsec-remote-pair-web01-sql01")
    sql_rule = next(o for o in desired["sql01"].objects if o.name == "ipsec-remote-pair-web01-sql01")
    assert web_rule.params["RemotePort"] == ["1433"] and "LocalPort" not in web_rule.params
    assert sql_rule.params["LocalPort"] == ["1433"] and "RemotePort" not in sql_rule.params
    assert web_rule.params["Protocol"] == "TCP" and web_rule.params["Profile"] == "Domain"
    exemptions = [o for o in desired["web01"].objects if o.kind is Kind.EXEMPTION]
    assert [o.name for o in exemptions] == ["ipsec-remote-exempt-dc", "ipsec-remote-exempt-dns",
                                            "ipsec-remote-exempt-dhcp", "ipsec-remote-exempt-controller"]
    assert exemptions[0].params["RemoteAddress"] == ["10.20.0.5", "10.20.0.6"]


def test_hosts_without_pairs_get_only_exemptions() -> None:
    inv = load_inventory(ROOT / "inventory.toml")
    lonely = inv.model_copy(update={"pairs": []})
    assert {o.kind for o in desired_objects(lonely)["sql01"].objects} == {Kind.EXEMPTION}
