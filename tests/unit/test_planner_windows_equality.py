"""The planner's idea of "the same" as Windows means it, and the order it changes things in: forms Windows
treats alike (addresses, protocols, profiles, booleans, proposal defaults) plan nothing; real differences plan
the smallest safe change; exemptions exist before anything else changes and go last (DESIGN §1.3)."""

from __future__ import annotations

from typing import Any

import pytest

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind
from ipsec_remote.plan.planner import ObservedObject, canonical_address, plan_host, same_value

STORE = "PersistentStore"


@pytest.mark.parametrize(("text", "canonical"), [
    ("10.0.0.5", "10.0.0.5"),
    ("10.0.0.5/32", "10.0.0.5"),
    (" 10.0.0.5 ", "10.0.0.5"),
    ("10.0.0.0/24", "10.0.0.0/24"),
    ("10.0.0.0/255.0.0.0", "10.0.0.0/8"),
    ("2001:DB8::0001", "2001:db8::1"),
    ("2001:db8:0:0::1/128", "2001:db8::1"),
    ("2001:DB8::/32", "2001:db8::/32"),
    ("10.0.0.1-10.0.0.9", "10.0.0.1-10.0.0.9"),
    ("2001:DB8::0001-2001:DB8::0009", "2001:db8::1-2001:db8::9"),  # a range, part by part
    ("LocalSubnet", "localsubnet"),
    ("Any", "any"),
])
def test_canonical_addresses(text: str, canonical: str) -> None:
    assert canonical_address(text) == canonical


def _rule(**params: Any) -> dict[str, Any]:
    return {"IPsecRuleName": "r", "DisplayName": "R", "Group": "g", "InboundSecurity": "Require",
            "OutboundSecurity": "Require", **params}


def _plan(want: dict[str, Any], have: dict[str, Any], kind: Kind = Kind.RULE,
          have_kind: Kind | None = None) -> list[tuple[str, tuple[str, ...], tuple[CmdletCall, ...]]]:
    desired = [DesiredObject(kind, "r", want, "a rule")]
    observed = [ObservedObject(have_kind or kind, "r", have)]
    return [(c.action, c.changed, c.calls) for c in plan_host("h", "10.0.0.1", desired, observed, STORE).changes]


ALIKE = [  # (wanted, as the host reports it): nothing to do
    ({"RemoteAddress": "10.0.0.5"}, {"RemoteAddress": ["10.0.0.5/32"]}),
    ({"RemoteAddress": ["2001:DB8::0001"]}, {"RemoteAddress": ["2001:db8::1"]}),
    ({"RemoteAddress": ["10.0.0.0/255.255.255.0", "10.0.1.1"]}, {"RemoteAddress": ["10.0.1.1", "10.0.0.0/24"]}),
    ({"Protocol": "TCP"}, {"Protocol": "6"}),
    ({"Protocol": "UDP"}, {"Protocol": "17"}),
    ({"Protocol": "ICMPv4"}, {"Protocol": "1"}),
    ({"Protocol": "ICMPv6"}, {"Protocol": "58"}),
    ({"Profile": "Domain,Private,Public"}, {"Profile": "Any"}),
    ({"Profile": "public, Domain"}, {"Profile": "Domain,Public"}),
    ({}, {"Profile": "Any", "KeyModule": "Default", "Enabled": "True", "LocalPort": ["Any"]}),
    ({"Enabled": True}, {"Enabled": "True"}),
    ({"Enabled": False}, {"Enabled": "False"}),
    ({"InboundSecurity": "require"}, {"InboundSecurity": "Require"}),
    ({"LocalPort": ["445", "139"]}, {"LocalPort": ["139", "445"]}),
]


@pytest.mark.parametrize(("want", "have"), ALIKE)
def test_forms_windows_treats_alike_plan_nothing(want: dict[str, Any], have: dict[str, Any]) -> None:
    assert _plan(_rule(**want), _rule(**have)) == []


DIFFERENT = [  # (wanted, reported, the parameter that changed)
    ({"RemoteAddress": ["10.0.0.5"]}, {"RemoteAddress": ["10.0.0.6"]}, "RemoteAddress"),
    ({"RemoteAddress": ["10.0.0.0/24"]}, {"RemoteAddress": ["10.0.0.0"]}, "RemoteAddress"),
    ({"Protocol": "TCP"}, {"Protocol": "17"}, "Protocol"),
    ({"Profile": "Domain"}, {"Profile": "Any"}, "Profile"),
    ({"Profile": "Domain,Private"}, {"Profile": "Domain,Public"}, "Profile"),
    ({"Enabled": True}, {"Enabled": "False"}, "Enabled"),
    ({"Enabled": False}, {"Enabled": "True"}, "Enabled"),
    ({"DisplayName": "SQL, web"}, {"DisplayName": "web, SQL"}, "DisplayName"),  # a name is not a list
]


@pytest.mark.parametrize(("want", "have", "param"), DIFFERENT)
def test_real_differences_are_repaired_in_place(want: dict[str, Any], have: dict[str, Any], param: str) -> None:
    [(action, changed, calls)] = _plan(_rule(**want), _rule(**have))
    assert (action, changed) == ("update", (param,))
    value = want[param]
    assert calls == (CmdletCall("Set-NetIPsecRule", {
        "IPsecRuleName": "r", "NewDisplayName" if param == "DisplayName" else param: value,
        "PolicyStore": STORE}),)


def test_a_parameter_no_longer_wanted_is_set_back_to_the_windows_default() -> None:
    """Ports removed from a pair: the host's ports are set back to Any, in place."""
    [(action, changed, calls)] = _plan(_rule(), _rule(LocalPort=["445"], Protocol="TCP"))
    assert (action, changed) == ("update", ("LocalPort", "Protocol"))
    assert calls == (CmdletCall("Set-NetIPsecRule", {"IPsecRuleName": "r", "LocalPort": ["Any"], "Protocol": "Any",
                                                    "PolicyStore": STORE}),)


def test_a_parameter_set_cannot_change_replaces_the_object() -> None:
    """-TunnelType is on New-NetIPsecRule only: remove then create, never a Set-* it does not take."""
    [(action, changed, calls)] = _plan(_rule(TunnelType="None"), _rule(TunnelType="Auto"))
    assert (action, changed) == ("replace", ("TunnelType",))
    assert [c.cmdlet for c in calls] == ["Remove-NetIPsecRule", "New-NetIPsecRule"]
    assert calls[0].params == {"IPsecRuleName": "r", "PolicyStore": STORE}


def test_an_object_of_another_kind_under_the_same_name_is_replaced() -> None:
    """An exemption and a rule are both NetIPsecRules: same name, other kind → replaced, named "kind"."""
    [(action, changed, calls)] = _plan(_rule(), _rule(), kind=Kind.RULE, have_kind=Kind.EXEMPTION)
    assert (action, changed) == ("replace", ("kind",))
    assert [c.cmdlet for c in calls] == ["Remove-NetIPsecRule", "New-NetIPsecRule"]


def _qm(**params: Any) -> CmdletCall:
    return CmdletCall("New-NetIPsecQuickModeCryptoProposal", {"Encapsulation": "ESP", "Encryption": "AES256",
                                                              "ESPHash": "SHA256", **params})


@pytest.mark.parametrize(("want", "have", "same"), [
    # Windows stores the documented defaults (-MaxMinutes "60 (minutes)", -MaxKiloBytes 100000, -AHHash None).
    (_qm(), _qm(MaxMinutes=60, MaxKiloBytes=100000, AHHash="None"), True),
    (_qm(), _qm(MaxMinutes=30), False),
    (_qm(Encryption="aes256"), _qm(), True),
    (_qm(), _qm(Encryption="AES128"), False),
    (CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Cert": True, "Authority": "CN=R"}),
     CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Cert": True, "Authority": "CN=R", "Signing": "RSA",
                                             "AuthorityType": "Root"}), True),
    ([_qm(), _qm(Encryption="AES128")], [_qm(Encryption="AES128"), _qm()], False),  # proposal order matters
    (True, "True", True), (False, "false", True), (True, "False", False), (False, "True", False),
    (None, "", True), (None, [], True), ("445", ["445"], True),
])
def test_same_value(want: Any, have: Any, same: bool) -> None:
    assert same_value(want, have) is same
    assert same_value(have, want) is same


def _obj(kind: Kind, name: str) -> DesiredObject:
    return DesiredObject(kind, name, {"DisplayName": name}, name)


def test_exemptions_come_before_removals_and_obsolete_exemptions_last() -> None:
    """Nothing that might require authentication exists while an exemption is missing."""
    desired = [_obj(Kind.RULE, "new-rule"), _obj(Kind.EXEMPTION, "new-exempt"), _obj(Kind.QM_CRYPTO_SET, "qm")]
    observed = [ObservedObject(Kind.EXEMPTION, "old-exempt", {"DisplayName": "old-exempt"}),
                ObservedObject(Kind.RULE, "old-rule", {"DisplayName": "old-rule"}),
                ObservedObject(Kind.QM_CRYPTO_SET, "old-qm", {"DisplayName": "old-qm"})]
    plan = plan_host("h", "10.0.0.1", desired, observed, STORE)
    assert [(c.action, c.name) for c in plan.changes] == [
        ("create", "new-exempt"), ("destroy", "old-rule"), ("destroy", "old-qm"), ("create", "qm"),
        ("create", "new-rule"), ("destroy", "old-exempt")]
