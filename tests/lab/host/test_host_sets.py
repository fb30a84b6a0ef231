"""Crypto/auth sets and the proposal cmdlets."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.host.reference import default_set_names


def _qm(lab, **params):
    return lab.call("New-NetIPsecQuickModeCryptoProposal", **params)


PROPOSALS = {
    "New-NetIPsecMainModeCryptoSet": ("New-NetIPsecMainModeCryptoProposal",
                                      {"Encryption": "AES256", "Hash": "SHA256", "KeyExchange": "DH19"}),
    "New-NetIPsecQuickModeCryptoSet": ("New-NetIPsecQuickModeCryptoProposal",
                                       {"Encapsulation": "ESP", "ESPHash": "SHA256", "Encryption": "AES256"}),
    "New-NetIPsecPhase1AuthSet": ("New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True}),
    "New-NetIPsecPhase2AuthSet": ("New-NetIPsecAuthProposal", {"User": True, "Kerberos": True}),
}
# The same proposals as their CIM classes hold them (codes from the wfascimprov class pages).
PROPOSAL_CIM = {
    "New-NetIPsecMainModeCryptoSet": {"CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19},
    "New-NetIPsecQuickModeCryptoSet": {"Encapsulation": 2, "HashAlgorithmESP": 65001, "CipherAlgorithm": 65003},
    "New-NetIPsecPhase1AuthSet": {"AuthenticationMethod": 65002},
    "New-NetIPsecPhase2AuthSet": {"AuthenticationMethod": 65004},
}


@pytest.mark.parametrize("new", sorted(PROPOSALS))
def test_set_round_trip(lab, new) -> None:
    noun = new.removeprefix("New-")
    prop_cmd, prop_params = PROPOSALS[new]
    proposal = lab.call(prop_cmd, **prop_params)
    created = lab.call(new, Name="s1", DisplayName="Set one", Group="ipsec-remote", Proposal=proposal)[0]
    assert created.get("Name") == "s1" and created.get("Group") == "ipsec-remote"
    got = lab.call(f"Get-{noun}", Name="s1")[0]
    (stored,) = got.cim_value("Proposals")
    assert {k: stored.cim_value(k) for k in PROPOSAL_CIM[new]} == PROPOSAL_CIM[new]
    assert got.get("Proposal") == got.cim_value("Proposals")  # the type layer's alias
    lab.call(f"Set-{noun}", Name="s1", NewDisplayName="renamed", Proposal=proposal + proposal)
    got = lab.call(f"Get-{noun}", Name="s1")[0]
    assert got.get("DisplayName") == "renamed" and len(got.get("Proposal")) == 2
    assert lab.fails(new, Name="s1", DisplayName="dup", Proposal=proposal).error_id.startswith(
        "Windows System Error 183")
    lab.call(f"Remove-{noun}", Name="s1")
    assert lab.call(f"Get-{noun}") == []
    err = lab.fails(f"Get-{noun}", Name="s1")
    assert err.message.startswith(f"No {created.type_names[0].rsplit('/', 1)[1]} objects found with property 'Name'")


@pytest.mark.parametrize(
    ("new", "key"),
    [("New-NetIPsecMainModeCryptoSet", "MainModeCryptoSet"), ("New-NetIPsecQuickModeCryptoSet", "QuickModeCryptoSet"),
     ("New-NetIPsecPhase1AuthSet", "Phase1AuthSet"), ("New-NetIPsecPhase2AuthSet", "Phase2AuthSet")],
)
def test_default_switch_uses_the_documented_guid_name(lab, new, key) -> None:
    prop_cmd, prop_params = PROPOSALS[new]
    out = lab.call(new, DisplayName="default", Default=True, Proposal=lab.call(prop_cmd, **prop_params))[0]
    assert out.get("Name") == default_set_names()[key]
    assert out.get("Name").startswith("{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE")


def test_proposal_defaults_and_qm_set_options(lab) -> None:
    mm = lab.call("New-NetIPsecMainModeCryptoProposal")[0]
    assert (mm.get("Encryption"), mm.get("Hash"), mm.get("KeyExchange")) == ("AES256", "SHA384", "None")
    qm = _qm(lab, ESPHash="SHA256", Encryption="AES128")[0]
    assert (qm.get("Encapsulation"), qm.get("MaxMinutes"), qm.get("MaxKiloBytes")) == ("ESP", 60, 100000)
    assert _qm(lab, Encapsulation="AH,ESP", AHHash="SHA256", ESPHash="SHA256")[0].get("Encapsulation") == "AH, ESP"
    qset = lab.call("New-NetIPsecQuickModeCryptoSet", DisplayName="q", PfsGroup="DH19", Proposal=[qm])[0]
    assert qset.get("PerfectForwardSecrecyGroup") == "DH19"
    mset = lab.call("New-NetIPsecMainModeCryptoSet", DisplayName="m", Proposal=[mm])[0]
    assert (mset.get("MaxMinutes"), mset.get("MaxSessions"), mset.get("ForceDiffieHellman")) == (480, 0, False)


@pytest.mark.parametrize(
    ("params", "method"),
    [({"Machine": True, "Kerberos": True}, "MachineKerberos"), ({"User": True, "Ntlm": True}, "UserNtlm"),
     ({"Machine": True, "Cert": True, "Authority": "CN=Lab Root CA"}, "MachineCert"),
     ({"Machine": True, "PreSharedKey": "s3cret"}, "PreSharedKey"), ({"Anonymous": True}, "Anonymous")],
)
def test_auth_proposal_methods(lab, params, method) -> None:
    out = lab.call("New-NetIPsecAuthProposal", **params)[0]
    assert out.get("AuthenticationMethod") == method
    # AuthenticationMethod codes of the auth proposal pages; machine certificate 65006 (HostAssumptions).
    codes = {"MachineKerberos": (65002, "Kerb"), "UserNtlm": (65005, "Basic"), "MachineCert": (65006, "Cert"),
             "PreSharedKey": (2, "PSK"), "Anonymous": (65001, "Basic")}
    code, cls = codes[method]
    assert out.cim_value("AuthenticationMethod") == code
    assert out.cim_class == f"MSFT_NetIKE{cls}AuthProposal"
    if "Authority" in params:
        assert (out.get("AuthorityType"), out.get("Signing")) == ("Root", "RSA")
        assert (out.cim_value("TrustedCA"), out.cim_value("TrustedCAType"), out.cim_value("SigningAlgorithm")) == (
            "CN=Lab Root CA", 1, 1)


def test_auth_proposal_parameter_set_errors(lab) -> None:
    err = lab.fails("New-NetIPsecAuthProposal", Machine=True)
    assert err.error_id == "AmbiguousParameterSet,New-NetIPsecAuthProposal"
    assert lab.fails("New-NetIPsecAuthProposal", Machine=True, User=True, Kerberos=True).category == "InvalidArgument"
    assert "Authority" in lab.fails("New-NetIPsecAuthProposal", Machine=True, Cert=True).message


def test_wrong_proposal_class_is_rejected(lab) -> None:
    err = lab.fails("New-NetIPsecMainModeCryptoSet", DisplayName="m", Proposal=_qm(lab, ESPHash="SHA256"))
    assert "MSFT_NetIKEMMCryptoProposal" in err.message


def test_set_in_use_cannot_be_removed(lab) -> None:
    lab.call("New-NetIPsecQuickModeCryptoSet", Name="qm1", DisplayName="q", Proposal=_qm(lab, ESPHash="SHA256"))
    lab.call("New-NetIPsecQuickModeCryptoSet", Name="qm2", DisplayName="q2", Proposal=_qm(lab, ESPHash="SHA1"))
    lab.call("New-NetIPsecRule", IPsecRuleName="r", DisplayName="r", QuickModeCryptoSet="qm1")
    err = lab.fails("Remove-NetIPsecQuickModeCryptoSet", Name="qm1")
    assert "referenced by rule 'r'" in err.message and err.category == "ResourceBusy"
    # GetAll removal takes every set that is free and reports the one in use.
    lab.call("Remove-NetIPsecQuickModeCryptoSet")
    assert [s.get("Name") for s in lab.call("Get-NetIPsecQuickModeCryptoSet")] == ["qm1"]
    lab.call("Remove-NetIPsecRule", IPsecRuleName="r")
    lab.call("Remove-NetIPsecQuickModeCryptoSet", Name="qm1")
    assert lab.call("Get-NetIPsecQuickModeCryptoSet") == []


def test_sets_by_association(lab) -> None:
    qset = lab.call("New-NetIPsecQuickModeCryptoSet", Name="qm1", DisplayName="q", Proposal=_qm(lab, ESPHash="SHA256"))
    rule = lab.call("New-NetIPsecRule", IPsecRuleName="r", DisplayName="r", QuickModeCryptoSet="qm1")[0]
    lab.call("New-NetIPsecRule", IPsecRuleName="other", DisplayName="o")
    assert [s.get("Name") for s in lab.call("Get-NetIPsecQuickModeCryptoSet", AssociatedNetIPsecRule=rule)] == ["qm1"]
    users = lab.call("Get-NetIPsecRule", AssociatedNetIPsecQuickModeCryptoSet=qset[0])
    assert [r.get("Name") for r in users] == ["r"]
    # Filters lead back to their rule, by association or down the pipeline.
    addr = lab.call("Get-NetFirewallAddressFilter", AssociatedNetIPsecRule=rule)[0]
    assert [r.get("Name") for r in lab.call("Get-NetIPsecRule", AssociatedNetFirewallAddressFilter=addr)] == ["r"]
    assert [r.get("Name") for r in lab.call("Get-NetIPsecRule", pipeline=[addr])] == ["r"]
    lab.call("Set-NetIPsecRule", IPsecRuleName="other", Profile="Public")
    public = lab.call("Get-NetFirewallProfile", Name="Public")[0]
    assert [r.get("Name") for r in lab.call("Get-NetIPsecRule", AssociatedNetFirewallProfile=public)] == [
        "r", "other"]
