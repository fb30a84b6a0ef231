"""The planner's changes in full (action, kind, name, summary, changed parameters) and same_value's edges —
what the plan text, the JSON plan and the journal show (mutation-testing survivors)."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import Kind, desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.plan.planner import ObservedObject, plan_host, same_value

ROOT = Path(__file__).resolve().parents[2]


def _wanted() -> list:  # type: ignore[type-arg]
    return list(desired_objects(load_inventory(ROOT / "inventory.toml"))["sql01"].objects)


def _rows(plan: object) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return [(c.action, c.kind.value, c.name, c.summary, c.changed) for c in plan.changes]  # type: ignore[attr-defined]


def test_a_fresh_host_plans_every_object_with_its_summary() -> None:
    plan = plan_host("sql01", "10.10.1.20", _wanted(), [], "PersistentStore")
    assert _rows(plan) == [
        ("create", "exemption", "ipsec-remote-exempt-dc", "exempt domain controllers 10.10.1.5", ()),
        ("create", "exemption", "ipsec-remote-exempt-controller", "exempt controller 10.10.1.100 on TCP 5985,5986", ()),
        ("create", "mm_crypto_set", "ipsec-remote-mm", "main mode AES256/SHA256/DH19", ()),
        ("create", "qm_crypto_set", "ipsec-remote-qm", "quick mode ESP AES256/SHA256, PFS None", ()),
        ("create", "p1_auth_set", "ipsec-remote-p1", "phase 1 auth: machine kerberos", ()),
        ("create", "mm_rule", "ipsec-remote-mm-peers", "main mode rule toward 10.10.1.30", ()),
        ("create", "rule", "ipsec-remote-pair-app01-sql01",
         "transport Request/Request with app01 10.10.1.30, all traffic", ())]


def test_updates_replacements_and_removals_name_what_changed() -> None:
    wanted = _wanted()
    seen = [ObservedObject(o.kind, o.name, dict(o.params)) for o in wanted]
    seen[6] = ObservedObject(seen[6].kind, seen[6].name, {**seen[6].params, "InboundSecurity": "Require",
                                                           "DisplayName": "x"})
    seen[5] = ObservedObject(seen[5].kind, seen[5].name, {**seen[5].params, "Platform": ["6.1+"]})
    seen.append(ObservedObject(Kind.RULE, "ipsec-remote-old", {"IPsecRuleName": "ipsec-remote-old"}))
    plan = plan_host("sql01", "10.10.1.20", wanted, seen, "PersistentStore")
    assert _rows(plan) == [
        ("destroy", "rule", "ipsec-remote-old", "remove obsolete rule ipsec-remote-old", ()),
        ("replace", "mm_rule", "ipsec-remote-mm-peers", "main mode rule toward 10.10.1.30", ("Platform",)),
        ("update", "rule", "ipsec-remote-pair-app01-sql01",
         "transport Request/Request with app01 10.10.1.30, all traffic", ("DisplayName", "InboundSecurity"))]


def test_an_exemption_is_created_before_everything_else_even_when_it_is_the_only_new_object() -> None:
    wanted = _wanted()
    seen = [ObservedObject(o.kind, o.name, dict(o.params)) for o in wanted if o.name != "ipsec-remote-exempt-dc"]
    seen[-1] = ObservedObject(seen[-1].kind, seen[-1].name, {**seen[-1].params, "InboundSecurity": "Require"})
    plan = plan_host("sql01", "10.10.1.20", wanted, seen, "PersistentStore")
    assert [(c.action, c.name) for c in plan.changes] == [("create", "ipsec-remote-exempt-dc"),
                                                          ("update", "ipsec-remote-pair-app01-sql01")]


def test_same_value_edges() -> None:
    call = CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True})
    assert same_value(call, CmdletCall("New-NetIPsecAuthProposal", {"Kerberos": True, "Machine": True}))
    assert not same_value(call, CmdletCall("New-NetIPsecAuthProposal", {"Machine": True}))
    assert not same_value(call, None) and not same_value(None, call)
    assert same_value("10.0.0.1", ["10.0.0.1"]) and same_value(["10.0.0.1"], "10.0.0.1")
    assert same_value(None, []) and same_value([], None) and not same_value(None, ["x"])
    assert not same_value("a", ["a", "b"])
    assert same_value(["B", "a"], ["A", "b"])  # sets, case-insensitive
    assert not same_value([call, CmdletCall("X", {})], [CmdletCall("X", {}), call])  # proposal order matters
    assert same_value("Request", "request") and not same_value("Request", "Require")


def test_every_profile_named_is_any_and_one_profile_is_not() -> None:
    wanted = _wanted()
    for profile, changes in (("Domain, Private,Public", []), ("any", []), ("Domain", ["Profile"]),
                             ("Private,Domain", ["Profile"])):
        seen = [ObservedObject(o.kind, o.name, dict(o.params)) for o in wanted]
        seen[6] = ObservedObject(seen[6].kind, seen[6].name, {**seen[6].params, "Profile": profile})
        plan = plan_host("sql01", "10.10.1.20", wanted, seen, "PersistentStore")
        assert [list(c.changed) for c in plan.changes] == ([changes] if changes else []), profile
