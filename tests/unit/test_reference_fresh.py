"""The reference built afresh from the shipped JSON (``load_reference`` caches one instance per process, so
these tests build their own: a change to how an entry is read shows here, whatever ran before)."""

from __future__ import annotations

import json
from importlib import resources

from ipsec_remote.model.reference import ParamInfo, Reference


def _fresh() -> Reference:
    return Reference(json.loads(resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text("utf-8")))


def test_parameters_read_every_field_of_their_entry() -> None:
    info = _fresh().cmdlet("New-NetIPsecRule")
    assert info.parameters["IPsecRuleName"] == ParamInfo(
        "IPsecRuleName", "String", False, (), False, ("(All)",), (), ("ID", "Name"), "a randomly assigned value")
    assert info.parameters["Profile"] == ParamInfo(
        "Profile", "Profile", False, ("Any", "Domain", "Private", "Public", "NotApplicable"), True, ("(All)",), (),
        (), "Any")
    assert info.parameters["InboundSecurity"] == ParamInfo(
        "InboundSecurity", "SecurityPolicy", False, ("None", "Request", "Require"), False, ("(All)",), (),
        ("SecIn",), None)
    assert info.parameters["RemoteAddress"] == ParamInfo(
        "RemoteAddress", "String[]", True, (), False, ("(All)",), (), (), None)
    assert info.parameters["DisplayName"] == ParamInfo(
        "DisplayName", "String", False, (), False, ("(All)",), ("(All)",), (), None)


def test_the_invalid_sentinel_is_dropped_and_parameter_sets_are_kept() -> None:
    authority = _fresh().cmdlet("New-NetIPsecAuthProposal").parameters["AuthorityType"]
    assert authority == ParamInfo("AuthorityType", "CertificateAuthorityType", False, ("Root", "Intermediate"),
                                  False, ("HealthCert", "Cert"), (), (), "Root")


def test_cmdlets_sets_and_pairs() -> None:
    ref = _fresh()
    rule = ref.cmdlet("New-NetIPsecRule")
    assert (rule.parameter_sets, rule.default_parameter_set) == (("Default",), "Default")
    assert rule.not_parameters[:3] == ("MainModeCryptoSet", "Encapsulation", "Encryption")
    assert ref.cmdlet("Remove-NetIPsecRule").parameter_sets[:2] == ("GetAll", "ByIPsecRuleName")
    assert ref.default_set_names == {k: "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE" + n + "}" for k, n in (
        ("MainModeCryptoSet", "1"), ("QuickModeCryptoSet", "2"), ("Phase1AuthSet", "3"), ("Phase2AuthSet", "4"))}
    assert {("Request", "Request"), ("Require", "Request"), ("None", "None")} <= ref.security_pairs
    assert ("Require", "None") not in ref.security_pairs
    assert ref.security_pair_cmdlets == {"New-NetIPsecRule", "Set-NetIPsecRule"}
    assert ref.cmdlet("new-netipsecrule") is rule


def test_output_properties_are_the_cmdlets_own_or_its_getters() -> None:
    ref = _fresh()
    # Its own entry (a proposal object; there is no Get-NetIPsecMainModeCryptoProposal).
    assert ref.output_properties("New-NetIPsecMainModeCryptoProposal") == {"CipherAlgorithm", "GroupID",
                                                                           "HashAlgorithm"}
    # None of its own: the getter's (Set-NetIPsecRule returns the object Get-NetIPsecRule documents).
    assert ref.output_properties("Set-NetIPsecRule") == ref.output_properties("Get-NetIPsecRule")
    assert "IPsecRuleName" in ref.output_properties("Set-NetIPsecRule")
    assert {"LocalEndpoint", "GroupId"} <= ref.output_properties("Remove-NetIPsecMainModeSA")
    assert ref.output_properties("New-NetIPsecAuthProposal") == set()  # documented nowhere, no getter either


def test_property_hints_combine_the_not_properties_and_the_errata() -> None:
    hints = _fresh().property_hints("Get-NetIPsecMainModeSA")
    assert hints["LocalAddress"] == "LocalEndpoint" and hints["DHGroup"] == "GroupId"  # errata
    assert hints["Protocol"] == "" and hints["EncapsulationMode"] == ""  # not_properties without a word


def test_a_reference_without_the_optional_tables_has_empty_ones() -> None:
    raw = json.loads(resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text("utf-8"))
    bare = Reference({"cmdlets": raw["cmdlets"], "default_set_names": raw["default_set_names"]})
    assert bare.security_pairs == frozenset() and bare.security_pair_cmdlets == frozenset()
    assert bare.property_hints("Get-NetIPsecMainModeSA")["LocalAddress"] == ""  # listed as wrong, no erratum
    assert bare.cmdlet("New-NetIPsecRule").name == "New-NetIPsecRule"
