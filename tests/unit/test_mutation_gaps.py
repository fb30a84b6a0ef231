"""Pure-code behaviour that mutation testing found untested: exact texts of SA mismatches, the controller's
outbound exemption, the fleet plan and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.desired import Kind, desired_objects
from ipsec_remote.model.inventory import check_run, load_toml, parse_inventory
from ipsec_remote.ops.verify import EndView, check_pair, expected
from ipsec_remote.plan.planner import Change, HostPlan, Plan, plan_fleet

ROOT = Path(__file__).resolve().parents[2]
INV_DATA = load_toml(ROOT / "inventory.toml")
INV = parse_inventory(INV_DATA)
GOOD_MM = {"RemoteEndpoint": "10.10.1.30", "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19}
GOOD_QM = {"RemoteEndpoint": "10.10.1.30", "FirstTransformType": 4, "FirstCipherAlgorithm": 65003,
           "FirstIntegrityAlgorithm": 65001, "SecondTransformType": 0}
AH_ESP_QM = {"RemoteEndpoint": "10.10.1.30", "FirstTransformType": 1, "FirstCipherAlgorithm": 0,
             "FirstIntegrityAlgorithm": 65001, "SecondTransformType": 4, "SecondCipherAlgorithm": 65003,
             "SecondIntegrityAlgorithm": 65001}


def _problems(mm: dict[str, Any], qm: dict[str, Any]) -> list[str]:
    good = EndView({**GOOD_MM, "RemoteEndpoint": "10.10.1.20"}, {**GOOD_QM, "RemoteEndpoint": "10.10.1.20"})
    result = check_pair("app01", "sql01", {"app01": EndView(mm, qm), "sql01": good}, expected(INV))
    assert result.stale and not result.verified
    return result.problems


def test_a_transform_type_we_cannot_place_is_named_by_its_codes() -> None:
    assert _problems(GOOD_MM, dict(GOOD_QM, FirstTransformType=99)) == [
        "app01: quick-mode SA uses transform types 99/0 (AES256/SHA256), not an inventory proposal"]


def test_a_bundle_is_named_transform_by_transform() -> None:
    assert _problems(GOOD_MM, AH_ESP_QM) == [
        "app01: quick-mode SA uses AH SHA256 + ESP AES256/SHA256, not an inventory proposal"]


def test_an_unknown_main_mode_code_is_shown_as_the_number() -> None:
    assert _problems(dict(GOOD_MM, CipherAlgorithm=12345), GOOD_QM) == [
        "app01: main-mode SA uses 12345/SHA256/DH19, not an inventory proposal"]


def test_the_host_the_controller_runs_on_exempts_its_own_outbound_winrm() -> None:
    inv = parse_inventory({**INV_DATA, "controller": {"address": "10.10.1.30"}})
    wanted = desired_objects(inv)
    out = [o for o in wanted["app01"].objects if o.name == "ipsec-remote-exempt-controller-out"]
    assert len(out) == 1 and not [o for o in wanted["sql01"].objects if o.name.endswith("-out")]
    rule = out[0]
    assert rule.kind is Kind.EXEMPTION
    assert rule.summary == "exempt this host's (the controller's) WinRM traffic to TCP 5985,5986"
    assert rule.params == {
        "IPsecRuleName": "ipsec-remote-exempt-controller-out",
        "DisplayName": "ipsec-remote: exempt the controller's outbound WinRM path",
        "Group": "ipsec-remote", "Enabled": "True", "Mode": "Transport", "InboundSecurity": "None",
        "OutboundSecurity": "None", "RemoteAddress": ["10.10.1.20", "10.10.1.30"], "Protocol": "TCP",
        "RemotePort": ["5985", "5986"], "Profile": "Any"}
    skipped = parse_inventory({**INV_DATA, "controller": {"address": "10.10.1.30"},
                               "test_only_skip_exemptions": ["controller"]})
    assert not [o for o in desired_objects(skipped)["app01"].objects if o.name.endswith("-out")]


def test_a_fleet_plan_has_one_host_plan_per_entry_in_order_and_counts_by_action() -> None:
    wanted = desired_objects(INV)
    plan = plan_fleet([(h, INV.host(h).address, wanted[h].objects, []) for h in ("sql01", "app01")],
                      "PersistentStore")
    assert [(h.host, h.address) for h in plan.hosts] == [("sql01", "10.10.1.20"), ("app01", "10.10.1.30")]
    assert plan.hosts[0].count("create") == len(wanted["sql01"].objects) and plan.hosts[0].count("destroy") == 0
    assert not plan.empty and plan.summary == {"add": 14, "change": 0, "destroy": 0}
    mixed = HostPlan("h", "10.0.0.1", tuple(Change(a, Kind.RULE, a, a, ()) for a in  # type: ignore[arg-type]
                                            ("create", "update", "replace", "destroy", "destroy")))
    assert (mixed.count("create"), mixed.count("update", "replace"), mixed.count("destroy")) == (1, 2, 2)
    assert Plan((mixed,)).summary == {"add": 1, "change": 2, "destroy": 2}
    assert Plan((HostPlan("h", "10.0.0.1"),)).empty


def test_an_unknown_name_gets_a_suggestion_only_when_one_is_close() -> None:

    with pytest.raises(InputError) as err:
        parse_inventory({**INV_DATA, "pairs": [{"a": "app01", "b": "sql1"}]}, "inv.toml")
    assert str(err.value) == "inv.toml: pairs[0].b: unknown host 'sql1' (did you mean 'sql01'?)"
    with pytest.raises(InputError) as err:
        parse_inventory({**INV_DATA, "pairs": [{"a": "app01", "b": "zzzzzz"}]}, "inv.toml")
    assert str(err.value) == "inv.toml: pairs[0].b: unknown host 'zzzzzz'"


def test_pydantic_locations_are_keys_and_indexes_only() -> None:

    with pytest.raises(InputError) as err:
        parse_inventory({**INV_DATA, "crypto": {"main_mode": {"proposals": [
            {"encryption": "AES999", "hash": "SHA256", "key_exchange": "DH19"}]}}}, "inv.toml")
    assert str(err.value).startswith("inv.toml: crypto.main_mode.proposals[0].encryption: 'AES999' is not one of ")


def test_skipping_exemptions_is_for_the_lab_only() -> None:
    inv = parse_inventory({**INV_DATA, "test_only_skip_exemptions": ["controller"]})
    with pytest.raises(InputError) as err:
        check_run(inv, "inv.toml", lab=False, sends_psk=False)
    assert str(err.value) == ("inv.toml: test_only_skip_exemptions: drops the domain controller / controller "
                              "exemptions: allowed with --lab only")
    check_run(inv, "inv.toml", lab=True, sends_psk=False)


def test_a_fleet_plan_removes_with_the_store_it_was_given() -> None:
    from ipsec_remote.plan.planner import ObservedObject

    stray = ObservedObject(Kind.RULE, "ipsec-remote-pair-old", {"IPsecRuleName": "ipsec-remote-pair-old"})
    plan = plan_fleet([("sql01", "10.10.1.20", [], [stray])], "corp.example\\IPsec")
    [change] = plan.hosts[0].changes
    assert change.action == "destroy"
    assert change.calls[0].params["PolicyStore"] == "corp.example\\IPsec"


def test_the_controllers_outbound_exemption_lists_addresses_in_numeric_order() -> None:
    hosts = [{"name": "sql01", "address": "10.10.1.20"}, {"name": "app01", "address": "10.10.1.30"},
             {"name": "web01", "address": "10.10.1.9"}]
    inv = parse_inventory({**INV_DATA, "hosts": hosts, "controller": {"address": "10.10.1.30"}})
    [rule] = [o for o in desired_objects(inv)["app01"].objects if o.name.endswith("-out")]
    assert rule.params["RemoteAddress"] == ["10.10.1.9", "10.10.1.20", "10.10.1.30"]


@pytest.mark.parametrize(("change", "line"), [
    ({"hosts": [{"name": "sql01", "address": "10.10.1.20", "bogus": 1}]}, "hosts[0].bogus: unknown key"),
    ({"hosts": [{"name": "sql01"}]}, "hosts[0].address: required key is missing"),
    ({"connection": {**INV_DATA["connection"], "password_env": "bad name"}},
     "connection.password_env: 'bad name' is not an environment variable name"),
    ({"policy": {**INV_DATA["policy"], "key_module": "IKEv3"}},
     "policy.key_module: 'IKEv3' is not one of 'IKEv1', 'IKEv2', 'AuthIP' or 'Default'"),
    ({"connection": {**INV_DATA["connection"], "operation_timeout_s": "x"}},
     "connection.operation_timeout_s: must be a valid integer"),
])
def test_each_kind_of_pydantic_error_is_one_located_line(change: dict[str, Any], line: str) -> None:
    with pytest.raises(InputError) as err:
        parse_inventory({**INV_DATA, **change}, "inv.toml")
    assert str(err.value) == f"inv.toml: {line}"


def test_end_view_takes_the_qm_sa_of_the_current_mm_sa_and_the_probe_of_the_peer() -> None:
    from ipsec_remote.ops.verify import end_view

    report = {
        "MainModeSAs": [{"RemoteEndpoint": "10.10.1.99", "InstanceID": "1"},
                        {"RemoteEndpoint": "10.10.1.30", "InstanceID": "7"}],
        "QuickModeSAs": [{"RemoteEndpoint": "10.10.1.30", "MmSaId": 3, "Tag": "stale"},
                         {"RemoteEndpoint": "10.10.1.99", "MmSaId": 7, "Tag": "other peer"},
                         {"RemoteEndpoint": "10.10.1.30", "MmSaId": "7", "Tag": "current"}],
        "Probes": [{"Target": "10.10.1.99", "Connected": False, "Outcome": "refused"},
                   {"Target": "10.10.1.30", "Connected": True, "Outcome": "connected"}],
    }
    view = end_view(report, "10.10.1.30")
    assert view.mm == {"RemoteEndpoint": "10.10.1.30", "InstanceID": "7"}
    assert view.qm is not None and view.qm["Tag"] == "current"
    assert (view.probe_ok, view.probe) == (True, "connected")
    alone = end_view({"QuickModeSAs": report["QuickModeSAs"]}, "10.10.1.30")
    assert alone.mm is None and alone.qm is not None and alone.qm["Tag"] == "stale"  # no MM SA: the first
    assert (alone.probe_ok, alone.probe) == (None, None)
    assert end_view({}, "10.10.1.30").qm is None


def test_a_pair_result_as_json() -> None:
    from ipsec_remote.ops.verify import PairResult

    mm = dict(GOOD_MM, KeyModule=2)
    qm = dict(GOOD_QM, PfsGroupId=65535)
    both = PairResult("app01", "sql01", True, {"app01": EndView(mm, qm), "sql01": EndView(mm, qm)}, [], False)
    assert both.to_json(("Require", "Request")) == {
        "a": "app01", "b": "sql01", "verified": True, "main_mode_sa": True, "quick_mode_sa": True,
        "inbound_security": "Require", "outbound_security": "Request",
        "sa": {"mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19", "key_module": "IKEv2"},
               "qm": {"cipher": "AES256", "integrity": "SHA256", "transforms": ["ESP AES256/SHA256"],
                      "pfs_group": "SameAsMainMode"}},
        "stale_sa": False, "problems": []}
    half = PairResult("app01", "sql01", False, {"app01": EndView(mm, None)}, ["x"], True)
    doc = half.to_json()
    assert (doc["main_mode_sa"], doc["quick_mode_sa"], doc["stale_sa"], doc["problems"]) == (False, False, True, ["x"])
    assert (doc["inbound_security"], doc["outbound_security"]) == ("?", "?")
    assert doc["sa"] == {"mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19", "key_module": "IKEv2"},
                         "qm": None}
    only_qm = PairResult("a", "b", False, {"a": EndView(None, qm), "b": EndView(None, qm)}).to_json()
    assert only_qm["main_mode_sa"] is False and only_qm["quick_mode_sa"] is True and only_qm["sa"]["mm"] is None
