"""Connection security rules and main-mode rules: round trips, defaults and the provider's checks."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.host import HostAssumptions
from ipsec_remote.lab.values import PSObject


def _rule(lab, name="r1", **params):
    return lab.call("New-NetIPsecRule", IPsecRuleName=name, DisplayName=f"Rule {name}", **params)[0]


def test_new_rule_defaults_follow_the_reference(lab) -> None:
    rule = _rule(lab)
    assert isinstance(rule, PSObject) and rule.adapted
    assert rule.type_names[0].endswith("root/StandardCimv2/MSFT_NetConSecRule")
    expected = {
        "Name": "r1", "IPsecRuleName": "r1", "DisplayName": "Rule r1", "Enabled": "True", "Mode": "Transport",
        "InboundSecurity": "None", "OutboundSecurity": "None", "KeyModule": "Default", "Profile": "Any",
        "PrimaryStatus": "OK", "PolicyStoreSource": "PersistentStore", "PolicyStoreSourceType": "Local",
        "QuickModeCryptoSet": None, "Phase1AuthSet": None,
    }
    for key, value in expected.items():
        assert rule.get(key) == value, key
    for absent in ("LocalAddress", "RemoteAddress", "Protocol", "LocalPort", "RemotePort"):
        assert absent not in rule.properties  # filters are separate objects on Windows


def test_undocumented_defaults_are_named_assumptions(make_lab) -> None:
    lab = make_lab(assumptions=HostAssumptions(type_layer=True,
                                               inbound_security_default="Require", rule_enabled_default="False",
                                               mm_max_minutes_default=4800, qm_encapsulation_from_hashes=False,
                                               builtin_exemptions=("NeighborDiscovery",)))
    rule = lab.call("New-NetIPsecRule", DisplayName="x", OutboundSecurity="Request")[0]
    assert (rule.get("InboundSecurity"), rule.get("Enabled")) == ("Require", "False")
    assert (rule.cim_value("InboundSecurity"), rule.cim_value("Enabled")) == (2, 2)  # MSFT_NetConSecRule codes
    mmp = lab.call("New-NetIPsecMainModeCryptoProposal")
    assert lab.call("New-NetIPsecMainModeCryptoSet", DisplayName="m", Proposal=mmp)[0].get("MaxMinutes") == 4800
    assert lab.call("New-NetIPsecQuickModeCryptoProposal", ESPHash="SHA256")[0].get("Encapsulation") == "None"
    assert lab.call("Get-NetFirewallSetting", PolicyStore="ActiveStore")[0].get("Exemptions") == "NeighborDiscovery"


def test_rule_name_defaults_to_a_braced_guid(lab) -> None:
    rule = lab.call("New-NetIPsecRule", DisplayName="no name")[0]
    assert rule.get("Name").startswith("{") and len(rule.get("Name")) == 38


@pytest.mark.parametrize(
    ("display", "expected"),
    [("windows", ["10.10.1.30", "10.10.2.0/255.255.255.0", "10.10.1.5", "fd00::/64", "10.0.0.1-10.0.0.9",
                  "LocalSubnet"]),
     ("as_given", ["10.10.1.30", "10.10.2.0/24", "10.10.1.5/32", "fd00::/64", "10.0.0.1-10.0.0.9", "LocalSubnet"])],
)
def test_filters_come_back_through_the_filter_cmdlets(make_lab, display, expected) -> None:
    lab = make_lab(assumptions=HostAssumptions(address_display=display))
    given = ["10.10.1.30", "10.10.2.0/24", "10.10.1.5/32", "fd00::/64", "10.0.0.1-10.0.0.9",
             "LocalSubnet" if display == "as_given" else "localsubnet"]
    rule = _rule(lab, RemoteAddress=given, Protocol="tcp", LocalPort=["1433"])
    addr = lab.call("Get-NetFirewallAddressFilter", AssociatedNetIPsecRule=rule)[0]
    assert addr.get("RemoteAddress") == expected
    assert lab.host.active_policy().cs_rules[0].remote_address == tuple(expected)
    assert addr.get("LocalAddress") == ["Any"]
    port = lab.call("Get-NetFirewallPortFilter", AssociatedNetIPsecRule=rule)[0]
    assert (port.get("Protocol"), port.get("LocalPort"), port.get("RemotePort")) == ("TCP", ["1433"], ["Any"])
    lab.call("Set-NetIPsecRule", IPsecRuleName="r1", Protocol="17")
    assert lab.call("Get-NetFirewallPortFilter", AssociatedNetIPsecRule=rule)[0].get("Protocol") == "UDP"


@pytest.mark.parametrize(
    ("inbound", "outbound", "ok"),
    [
        ("None", "None", True), ("Request", "None", True), ("Request", "Request", True),
        ("Require", "Request", True), ("Require", "Require", True),
        ("None", "Request", False), ("None", "Require", False), ("Request", "Require", False),
        ("Require", "None", False),
    ],
)
def test_only_documented_security_pairs(lab, inbound, outbound, ok) -> None:
    params = {"IPsecRuleName": "p", "DisplayName": "p", "InboundSecurity": inbound, "OutboundSecurity": outbound}
    if ok:
        assert lab.call("New-NetIPsecRule", **params)[0].get("InboundSecurity") == inbound
        return
    err = lab.fails("New-NetIPsecRule", **params)
    assert err.message.startswith("The parameter is incorrect.")
    assert f"InboundSecurity '{inbound}' with OutboundSecurity '{outbound}'" in err.message
    assert err.error_id == "Windows System Error 87,New-NetIPsecRule"
    assert lab.call("Get-NetIPsecRule") == []


def test_set_rejects_an_invalid_pair_and_leaves_the_rule_unchanged(lab) -> None:
    _rule(lab, InboundSecurity="Request", OutboundSecurity="Request")
    err = lab.fails("Set-NetIPsecRule", IPsecRuleName="r1", OutboundSecurity="None", InboundSecurity="Require")
    assert err.category == "InvalidArgument"
    assert lab.call("Get-NetIPsecRule", Name="r1")[0].get("InboundSecurity") == "Request"


def test_duplicate_name_is_already_exists(lab) -> None:
    _rule(lab)
    err = lab.fails("New-NetIPsecRule", Name="R1", DisplayName="again")  # IDs compare case-insensitively
    assert err.message == "Cannot create a file when that file already exists."
    assert (err.error_id, err.category) == ("Windows System Error 183,New-NetIPsecRule", "ResourceExists")
    assert len(lab.call("Get-NetIPsecRule")) == 1


def test_reference_to_a_set_missing_from_the_store_fails(lab) -> None:
    err = lab.fails("New-NetIPsecRule", DisplayName="x", QuickModeCryptoSet="{QM-CryptoSet-001}")
    assert err.message.startswith("The system cannot find the file specified.")
    assert "QuickModeCryptoSet '{QM-CryptoSet-001}'" in err.message
    # A set in another store does not count: sets must live in the rule's store (notes §2).
    lab.host.stores.add_gpo("lab.local\\Iso")
    lab.call("New-NetIPsecPhase1AuthSet", Name="p1", DisplayName="p1", PolicyStore="lab.local\\Iso",
             Proposal=lab.call("New-NetIPsecAuthProposal", Machine=True, Kerberos=True))
    err = lab.fails("New-NetIPsecRule", DisplayName="y", Phase1AuthSet="p1")
    assert "Phase1AuthSet 'p1'" in err.message


def test_get_unknown_name_writes_the_cim_not_found_error(lab) -> None:
    _rule(lab)
    out = lab.call("Get-NetIPsecRule", IPsecRuleName=["r1", "x"])
    assert [o.get("Name") for o in out] == ["r1"]
    err = lab.errors[-1]
    assert err.message == ("No MSFT_NetConSecRule objects found with property 'Name' equal to 'x'.  "
                           "Verify the value of the property and retry.")
    assert (err.category, err.error_id) == ("ObjectNotFound", "CmdletizationQuery_NotFound_Name,Get-NetIPsecRule")
    assert lab.call("Get-NetIPsecRule", Name="r*") and len(lab.errors) == 1  # wildcards never error


@pytest.mark.parametrize(
    ("selector", "value"),
    [("IPsecRuleName", "r2"), ("DisplayName", "Rule r2"), ("Group", "ipsec-remote"), ("InboundSecurity", "Require")],
)
def test_selection_by_each_selector(lab, selector, value) -> None:
    _rule(lab, "r1", Group="other")
    _rule(lab, "r2", Group="ipsec-remote", InboundSecurity="Require", OutboundSecurity="Request")
    assert [o.get("Name") for o in lab.call("Get-NetIPsecRule", **{selector: value})] == ["r2"]


def test_set_changes_in_place_enable_disable_and_passthru(lab) -> None:
    _rule(lab, RemoteAddress=["10.0.0.1"], InboundSecurity="Request", OutboundSecurity="Request")
    assert lab.call("Set-NetIPsecRule", IPsecRuleName="r1", InboundSecurity="Require",
                    RemoteAddress=["10.0.0.2"], NewDisplayName="renamed") == []
    rule = lab.call("Get-NetIPsecRule", Name="r1")[0]
    assert (rule.get("InboundSecurity"), rule.get("DisplayName")) == ("Require", "renamed")
    assert lab.call("Get-NetFirewallAddressFilter", AssociatedNetIPsecRule=rule)[0].get("RemoteAddress") == ["10.0.0.2"]
    assert lab.call("Disable-NetIPsecRule", IPsecRuleName="r1") == []
    assert lab.call("Get-NetIPsecRule", Name="r1")[0].get("Enabled") == "False"
    out = lab.call("Enable-NetIPsecRule", IPsecRuleName="r1", PassThru=True)
    assert out[0].get("Enabled") == "True"
    assert lab.call("Set-NetIPsecRule", IPsecRuleName="r1", Profile="Domain,Private", PassThru=True)[0].get(
        "Profile") == "Domain, Private"


def test_remove_by_name_and_remove_without_selector_removes_everything(lab) -> None:
    for name in ("a", "b", "c"):
        _rule(lab, name)
    lab.call("Remove-NetIPsecRule", IPsecRuleName="a")
    assert [o.get("Name") for o in lab.call("Get-NetIPsecRule")] == ["b", "c"]
    lab.fails("Remove-NetIPsecRule", IPsecRuleName="zzz")
    # Remove-NetIPsecRule doc example 1: no selector = the GetAll set = every rule in the store.
    lab.call("Remove-NetIPsecRule")
    assert lab.call("Get-NetIPsecRule") == []


def test_active_store_is_read_only_and_traces_its_source(make_lab) -> None:
    lab = make_lab(gpo_stores=("lab.local\\Domain Isolation",))
    _rule(lab, "local")
    _rule(lab, "fromgpo", PolicyStore="lab.local\\Domain Isolation")
    err = lab.fails("New-NetIPsecRule", DisplayName="x", PolicyStore="ActiveStore")
    assert err.category == "PermissionDenied"
    lab.fails("Remove-NetIPsecRule", IPsecRuleName="local", PolicyStore="ActiveStore")
    plain = {o.get("Name"): o for o in lab.call("Get-NetIPsecRule", PolicyStore="ActiveStore")}
    assert plain["fromgpo"].get("PolicyStoreSource") is None  # Find-NetIPsecRule example: empty
    assert plain["fromgpo"].get("PolicyStoreSourceType") == "GroupPolicy"
    traced = {o.get("Name"): o for o in lab.call("Get-NetIPsecRule", PolicyStore="ActiveStore", TracePolicyStore=True)}
    assert traced["fromgpo"].get("PolicyStoreSource") == "lab.local\\Domain Isolation"
    assert traced["local"].get("PolicyStoreSource") == "PersistentStore"
    # Without -PolicyStore only the local store is read (DESIGN §3).
    assert [o.get("Name") for o in lab.call("Get-NetIPsecRule")] == ["local"]


def test_port_ranges_only_on_do_not_secure_rules(lab) -> None:
    err = lab.fails("New-NetIPsecRule", DisplayName="x", Protocol="TCP", LocalPort=["1000-2000"],
                    InboundSecurity="Request", OutboundSecurity="Request")
    assert "Port ranges" in err.message
    assert lab.call("New-NetIPsecRule", DisplayName="x", Protocol="TCP", LocalPort=["1000-2000"])


def test_main_mode_rule_round_trip(lab) -> None:
    mmp = lab.call("New-NetIPsecMainModeCryptoProposal", Encryption="AES256", Hash="SHA256", KeyExchange="DH19")
    mm = lab.call("New-NetIPsecMainModeCryptoSet", Name="mm1", DisplayName="MM", Proposal=mmp)[0]
    rule = lab.call("New-NetIPsecMainModeRule", Name="mmr", DisplayName="MM rule", RemoteAddress=["10.10.0.0/16"],
                    MainModeCryptoSet=mm.get("Name"))[0]
    assert rule.type_names[0].endswith("MSFT_NetMainModeRule")
    assert lab.call("Get-NetFirewallAddressFilter", AssociatedNetIPsecMainModeRule=rule)[0].get(
        "RemoteAddress") == ["10.10.0.0/255.255.0.0"]
    lab.call("Set-NetIPsecMainModeRule", Name="mmr", Enabled="False")
    assert lab.call("Get-NetIPsecMainModeRule", Name="mmr")[0].get("Enabled") == "False"
    err = lab.fails("New-NetIPsecMainModeRule", DisplayName="bad", MainModeCryptoSet="nope")
    assert "MainModeCryptoSet 'nope'" in err.message
    lab.call("Remove-NetIPsecMainModeRule", Name="mmr")
    assert lab.call("Get-NetIPsecMainModeRule") == []


def test_whatif_changes_nothing(lab) -> None:
    lab.call("New-NetIPsecRule", DisplayName="x", WhatIf=True)
    assert lab.call("Get-NetIPsecRule") == []
