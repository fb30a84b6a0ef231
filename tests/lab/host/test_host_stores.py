"""Policy stores, the ActiveStore merge, firewall settings/profiles and the policy view."""

from __future__ import annotations

import pytest

GPO = "lab.local\\Domain Isolation"


def _rules(lab, store):
    return sorted(o.get("Name") for o in lab.call("Get-NetIPsecRule", PolicyStore=store))


@pytest.mark.parametrize(("merge", "expected"), [(True, ["gpo", "local"]), (False, ["gpo"])])
def test_active_store_merge(make_lab, merge, expected) -> None:
    lab = make_lab(gpo_stores=(GPO,), local_ipsec_merge=merge)
    lab.call("New-NetIPsecRule", IPsecRuleName="local", DisplayName="l")
    lab.call("New-NetIPsecRule", IPsecRuleName="gpo", DisplayName="g", PolicyStore=GPO)
    assert _rules(lab, "ActiveStore") == expected
    assert _rules(lab, "PersistentStore") == ["local"]
    assert _rules(lab, GPO) == ["gpo"]
    assert _rules(lab, "RSOP") == ["gpo"]
    assert [r.name for r in lab.host.active_policy().cs_rules] == [n for n in ["gpo", "local"] if n in expected]
    profile = lab.call("Get-NetFirewallProfile", Name="Domain", PolicyStore="ActiveStore")[0]
    assert profile.get("AllowLocalIPsecRules") == ("True" if merge else "False")


def test_merge_off_without_listed_gpo_creates_the_lab_gpo(make_lab) -> None:
    lab = make_lab(local_ipsec_merge=False)
    lab.call("New-NetIPsecRule", IPsecRuleName="local", DisplayName="l")
    assert _rules(lab, "ActiveStore") == []
    gpo = lab.call("Get-NetFirewallProfile", Name="Domain", PolicyStore="lab.local\\Lab IPsec Policy")[0]
    assert gpo.get("AllowLocalIPsecRules") == "False"
    # A local store cannot override a configured GPO value.
    lab.host.stores.persistent.profiles["Domain"]["AllowLocalIPsecRules"] = "True"
    assert _rules(lab, "ActiveStore") == []


def test_set_firewall_profile_in_a_gpo_turns_merge_off(make_lab) -> None:
    lab = make_lab(gpo_stores=(GPO,))
    lab.call("New-NetIPsecRule", IPsecRuleName="local", DisplayName="l")
    assert _rules(lab, "ActiveStore") == ["local"]
    lab.call("Set-NetFirewallProfile", Profile=["Domain"], AllowLocalIPsecRules="False", PolicyStore=GPO)
    assert _rules(lab, "ActiveStore") == []
    assert [c["cmdlet"] for c in lab.host.calls][-2] == "Set-NetFirewallProfile"
    lab.call("Set-NetFirewallProfile", Name="Domain", AllowLocalIPsecRules="NotConfigured", PolicyStore=GPO)
    assert _rules(lab, "ActiveStore") == ["local"]
    out = lab.call("Set-NetFirewallProfile", Name="Public", Enabled="False", PassThru=True)
    assert out[0].get("Enabled") == "False"
    assert lab.host.active_policy().firewall_enabled  # the Domain profile is the current one


def test_unknown_store_is_an_error(lab) -> None:
    assert lab.fails("Get-NetIPsecRule", PolicyStore="corp\\Nope").category == "ObjectNotFound"
    assert lab.call("Get-NetIPsecRule", PolicyStore="SystemDefaults") == []


def test_gpo_session_edits_the_gpo(make_lab) -> None:
    lab = make_lab(gpo_stores=(GPO,))
    session = lab.call("Open-NetGPO", PolicyStore=GPO)[0]
    lab.call("New-NetIPsecRule", DisplayName="via session", IPsecRuleName="s", GPOSession=session)
    lab.call("Save-NetGPO", GPOSession=session)
    assert _rules(lab, GPO) == ["s"]


def test_firewall_settings_local_gpo_and_effective(make_lab) -> None:
    lab = make_lab(gpo_stores=(GPO,))
    local = lab.call("Get-NetFirewallSetting")[0]
    assert local.get("Exemptions") == "NotConfigured" and local.get("MaxSAIdleTimeSeconds") == 0
    active = lab.call("Get-NetFirewallSetting", PolicyStore="ActiveStore")[0]
    assert active.get("Exemptions") == "NeighborDiscovery, Dhcp"
    assert (active.get("MaxSAIdleTimeSeconds"), active.get("KeyEncoding"), active.get("ActiveProfile")) == (
        300, "UTF8", "Domain")
    lab.call("Set-NetFirewallSetting", Exemptions="NeighborDiscovery,Icmp,Dhcp", MaxSAIdleTimeSeconds=600,
             CertValidationLevel="RequireCrlCheck")
    lab.call("Set-NetFirewallSetting", PolicyStore=GPO, MaxSAIdleTimeSeconds=900)
    active = lab.call("Get-NetFirewallSetting", PolicyStore="ActiveStore")[0]
    assert active.get("Exemptions") == "NeighborDiscovery, Icmp, Dhcp"
    assert active.get("MaxSAIdleTimeSeconds") == 900  # the GPO's configured value wins
    assert active.get("CertValidationLevel") == "RequireCrlCheck"
    rsop = lab.call("Get-NetFirewallSetting", PolicyStore="RSOP")[0]  # GPOs only
    assert (rsop.get("MaxSAIdleTimeSeconds"), rsop.get("Exemptions")) == (900, "NotConfigured")
    view = lab.host.active_policy()
    assert view.exemptions == frozenset({"NeighborDiscovery", "Icmp", "Dhcp"}) and view.max_sa_idle_time_s == 900
    assert lab.fails("Set-NetFirewallSetting", MaxSAIdleTimeSeconds=60).category == "InvalidArgument"
    assert lab.fails("Set-NetFirewallSetting", PolicyStore="ActiveStore", KeyEncoding="UTF16").category == (
        "PermissionDenied")


def test_firewall_profiles(make_lab) -> None:
    lab = make_lab()
    names = [(p.get("Name"), p.get("Enabled")) for p in lab.call("Get-NetFirewallProfile", PolicyStore="ActiveStore")]
    assert names == [("Domain", "True"), ("Private", "True"), ("Public", "True")]
    assert lab.call("Get-NetFirewallProfile", Profile="public")[0].get("Name") == "Public"
    lab.fails("Get-NetFirewallProfile", Name="Office")
    assert make_lab(domain_joined=False).host.active_policy().current_profile == "Public"


def test_policy_view_resolves_sets_and_defaults(make_lab) -> None:
    lab = make_lab(gpo_stores=(GPO,), clock_skew_s=42.0)
    qm = lab.call("New-NetIPsecQuickModeCryptoProposal", Encapsulation="ESP", ESPHash="SHA256", Encryption="AES256")
    lab.call("New-NetIPsecQuickModeCryptoSet", Name="qm", DisplayName="q", PfsGroup="DH14", Proposal=qm)
    p1 = lab.call("New-NetIPsecAuthProposal", Machine=True, Kerberos=True)
    lab.call("New-NetIPsecPhase1AuthSet", DisplayName="p1", Default=True, Proposal=p1)
    lab.call("New-NetIPsecRule", IPsecRuleName="r", DisplayName="r", RemoteAddress=["10.10.1.30"],
             InboundSecurity="Request", OutboundSecurity="Request", QuickModeCryptoSet="qm", Protocol="TCP",
             RemotePort=["1433"])
    lab.call("New-NetIPsecRule", IPsecRuleName="off", DisplayName="off", Enabled="False")
    lab.call("New-NetIPsecRule", IPsecRuleName="pub", DisplayName="pub", Profile="Public")
    view = lab.host.active_policy()
    assert [r.name for r in view.cs_rules] == ["r"]  # disabled and other-profile rules are not enforced
    rule = view.cs_rules[0]
    assert (rule.remote_address, rule.protocol, rule.remote_port) == (("10.10.1.30",), "TCP", ("1433",))
    assert rule.qm_crypto_set is not None and rule.qm_crypto_set.options["PerfectForwardSecrecyGroup"] == "DH14"
    assert rule.qm_crypto_set.proposals[0]["ESPHash"] == "SHA256"
    assert rule.phase1_auth_set is None  # not referenced: the default below applies
    assert view.default_phase1_auth is not None
    assert view.default_phase1_auth.proposals[0]["AuthenticationMethod"] == "MachineKerberos"
    assert view.default_mm_crypto is None  # Windows built-ins
    assert (view.clock_skew_s, view.domain_joined, view.machine_cert_ca) == (42.0, True, "CN=Lab Root CA")
    assert view.services["IKEEXT"].start_type == "Manual" and view.services["IKEEXT"].running
    assert view.firewall_enabled and view.local_merge
