"""The validator against the cmdlet reference: blog errata rejected with precise messages, documented calls
accepted, parameter sets resolved, set references checked per policy store, SA property names checked."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ipsec_remote.errors import ValidationError
from ipsec_remote.model.calls import CmdletCall, ParamValue, SecretRef
from ipsec_remote.model.reference import (
    check_property_names,
    load_reference,
    validate_call,
    validate_plan,
)

REF = load_reference()
MM_DEFAULT = "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE1}"
QM_DEFAULT = "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE2}"
GPO = r"corp.contoso.com\Domain_Isolation"


def C(cmdlet: str, **params: ParamValue) -> CmdletCall:
    return CmdletCall(cmdlet, params)


def qm_proposal(**params: ParamValue) -> CmdletCall:
    return C("New-NetIPsecQuickModeCryptoProposal", **params)


def rule(**params: ParamValue) -> CmdletCall:
    return C("New-NetIPsecRule", IPsecRuleName="r1", DisplayName="rule 1", **params)


def errors(call: CmdletCall) -> str:
    with pytest.raises(ValidationError) as info:
        validate_call(call)
    return str(info.value)


# --- single calls that must be rejected: (call, exact message) ------------------------------------------------

REJECTED: list[tuple[str, CmdletCall, str]] = [
    # notes §1 #1 / seed_errata: Transport is a -Mode value, not an encapsulation
    ("encapsulation-transport", qm_proposal(Encryption="AES256", ESPHash="SHA256", Encapsulation="Transport"),
     "New-NetIPsecQuickModeCryptoProposal -Encapsulation: 'Transport' is not one of None, AH, ESP"),
    # notes §1 #2: -MainModeCryptoSet does not exist on connection security rules
    ("rule-mainmodecryptoset",
     C("New-NetIPsecRule", DisplayName="x", Protocol="TCP", LocalPort="Any", RemotePort="Any", Mode="Transport",
       Phase1AuthSet="{Auth-Set-001}", QuickModeCryptoSet="{QM-CryptoSet-001}",
       MainModeCryptoSet="{MM-CryptoSet-001}"),
     "New-NetIPsecRule: no parameter -MainModeCryptoSet "
     "(main mode binds through the default set or New-NetIPsecMainModeRule)"),
    ("set-rule-mainmodecryptoset", C("Set-NetIPsecRule", IPsecRuleName="r1", MainModeCryptoSet="mm"),
     "Set-NetIPsecRule: no parameter -MainModeCryptoSet "
     "(main mode binds through the default set or New-NetIPsecMainModeRule)"),
    ("authoritytype-rootca",
     C("New-NetIPsecAuthProposal", Machine=True, Cert=True, Authority="CN=Corp Root", AuthorityType="RootCA"),
     "New-NetIPsecAuthProposal -AuthorityType: 'RootCA' is not one of Root, Intermediate"),
    # notes §8: invented New-NetIPsecRule parameters (not_parameters)
    ("invented-requireencryption", rule(RequireEncryption=True),
     "New-NetIPsecRule: no parameter -RequireEncryption (encryption comes from the proposals of the "
     "-QuickModeCryptoSet)"),
    ("invented-authentication", rule(Authentication="RequireAuthDomain"),
     "New-NetIPsecRule: no parameter -Authentication (authentication comes from -Phase1AuthSet/-Phase2AuthSet)"),
    ("invented-endpoint1", rule(Endpoint1="10.0.0.1"), "New-NetIPsecRule: no parameter -Endpoint1 (use -LocalAddress)"),
    ("proposal-param-on-rule", rule(Encapsulation="ESP"),
     "New-NetIPsecRule: no parameter -Encapsulation (a parameter of New-NetIPsecQuickModeCryptoProposal)"),
    ("pfs-on-proposal", qm_proposal(Encapsulation="ESP", PerfectForwardSecrecyGroup="DH14"),
     "New-NetIPsecQuickModeCryptoProposal: no parameter -PerfectForwardSecrecyGroup "
     "(PFS is set on New-/Set-NetIPsecQuickModeCryptoSet)"),
    ("crl-check", C("Set-NetFirewallSetting", CertificateRevocationListCheck="RequireCrlCheck"),
     "Set-NetFirewallSetting: no parameter -CertificateRevocationListCheck (the CRL check is -CertValidationLevel)"),
    ("exemption-singular", C("Set-NetFirewallSetting", Exemption="Icmp"),
     "Set-NetFirewallSetting: no parameter -Exemption (did you mean Exemptions?)"),
    ("sa-policystore", C("Get-NetIPsecMainModeSA", PolicyStore="ActiveStore"),
     "Get-NetIPsecMainModeSA: no parameter -PolicyStore (SAs are runtime state, in no policy store; "
     "a doc example bug)"),
    ("tunneltype-on-set", C("Set-NetIPsecRule", IPsecRuleName="r1", TunnelType="PointToSite"),
     "Set-NetIPsecRule: no parameter -TunnelType (a parameter of New-NetIPsecRule)"),
    # notes §8: '-InboundSecurity Require Request' (two doc examples) is a list for a single-value parameter
    ("inbound-list", rule(InboundSecurity=["Require", "Request"]),
     "New-NetIPsecRule -InboundSecurity: takes a single value, got a list ['Require', 'Request']"),
    # notes §1 #8: the blog's DC exemption lacks the mandatory -DisplayName
    ("missing-displayname",
     C("New-NetIPsecRule", InboundSecurity="None", OutboundSecurity="None", RemoteAddress="10.10.1.5"),
     "New-NetIPsecRule: missing mandatory parameter -DisplayName"),
    ("missing-proposal", C("New-NetIPsecQuickModeCryptoSet", DisplayName="qm"),
     "New-NetIPsecQuickModeCryptoSet: missing mandatory parameter -Proposal"),
    ("missing-authority", C("New-NetIPsecAuthProposal", User=True, Cert=True),
     "New-NetIPsecAuthProposal: missing mandatory parameter -Authority (parameter set Cert)"),
    # invalid In/Out pairs (-OutboundSecurity text)
    ("pair-none-require", rule(InboundSecurity="None", OutboundSecurity="Require"),
     "New-NetIPsecRule: -InboundSecurity None with -OutboundSecurity Require is not a valid pair; "
     "valid: None/None, Request/None, Request/Request, Require/Request, Require/Require"),
    ("pair-require-default-none", rule(InboundSecurity="Require"),
     "New-NetIPsecRule: -InboundSecurity Require with -OutboundSecurity None is not a valid pair "
     "(-OutboundSecurity defaults to None); valid: None/None, Request/None, Request/Request, Require/Request, "
     "Require/Require"),
    ("set-pair-request-require", C("Set-NetIPsecRule", IPsecRuleName="r1", InboundSecurity="Request",
                                   OutboundSecurity="Require"),
     "Set-NetIPsecRule: -InboundSecurity Request with -OutboundSecurity Require is not a valid pair; "
     "valid: None/None, Request/None, Request/Request, Require/Request, Require/Require"),
    # names: unknown cmdlet, case, aliases
    ("unknown-cmdlet", C("New-NetIPsecConnectionRule", DisplayName="x"),
     "unknown cmdlet 'New-NetIPsecConnectionRule' (did you mean New-NetIPsecRule?)"),
    ("cmdlet-case", C("new-netipsecrule", DisplayName="x"),
     "cmdlet 'new-netipsecrule' must be written New-NetIPsecRule (allow-lists match exactly)"),
    ("alias-name", C("New-NetIPsecRule", DisplayName="x", Name="r1"),
     "New-NetIPsecRule: -Name is an alias; use the canonical name -IPsecRuleName"),
    ("alias-secin", rule(SecIn="Request", OutboundSecurity="Request"),
     "New-NetIPsecRule: -SecIn is an alias; use the canonical name -InboundSecurity"),
    ("alias-pfsgroup", C("New-NetIPsecQuickModeCryptoSet", DisplayName="qm", Proposal=qm_proposal(), PfsGroup="DH14"),
     "New-NetIPsecQuickModeCryptoSet: -PfsGroup is an alias; use the canonical name -PerfectForwardSecrecyGroup"),
    ("param-case", C("New-NetIPsecRule", DisplayName="x", IpsecRuleName="r1"),
     "New-NetIPsecRule: write -IPsecRuleName, not -IpsecRuleName (plans use the canonical spelling)"),
    ("param-typo", rule(RemoteAdress="10.0.0.1"),
     "New-NetIPsecRule: no parameter -RemoteAdress (did you mean RemoteAddress?)"),
    # value types
    ("bool-as-string", rule(RequireAuthorization="True"),
     "New-NetIPsecRule -RequireAuthorization: takes a bool (Boolean), got str 'True'"),
    ("switch-as-int", C("New-NetIPsecAuthProposal", Machine=1, Kerberos=True),
     "New-NetIPsecAuthProposal -Machine: takes a bool (SwitchParameter), got int 1"),
    ("empty-proposal-list", C("New-NetIPsecMainModeCryptoSet", DisplayName="mm", Proposal=[]),
     "New-NetIPsecMainModeCryptoSet -Proposal: empty list"),
    ("uint-string", qm_proposal(Encapsulation="ESP", MaxMinutes="60"),
     "New-NetIPsecQuickModeCryptoProposal -MaxMinutes: takes an integer (UInt64), got str '60'"),
    ("uint-bool", qm_proposal(Encapsulation="ESP", MaxKiloBytes=True),
     "New-NetIPsecQuickModeCryptoProposal -MaxKiloBytes: takes an integer (UInt64), got bool True"),
    ("uint-negative", rule(ForwardPathLifetime=-1),
     "New-NetIPsecRule -ForwardPathLifetime: -1 is out of range for UInt32 (0..4294967295)"),
    ("enabled-bool", rule(Enabled=True),
     "New-NetIPsecRule -Enabled: takes one of True, False as a string, got bool True"),
    ("enum-case", qm_proposal(Encapsulation="esp"),
     "New-NetIPsecQuickModeCryptoProposal -Encapsulation: 'esp' is not one of None, AH, ESP (write 'ESP')"),
    ("string-as-list", rule(Protocol=["TCP", "UDP"]),
     "New-NetIPsecRule -Protocol: takes a single value, got a list ['TCP', 'UDP']"),
    ("string-bool", rule(Description=True),
     "New-NetIPsecRule -Description: takes a string, got bool True"),
    # flags: comma-joined only where the reference documents combinations
    ("flags-not-documented", C("New-NetIPsecMainModeRule", DisplayName="mm", Profile="Domain,Private"),
     "New-NetIPsecMainModeRule -Profile: 'Domain,Private' is not one of Any, Domain, Private, Public, "
     "NotApplicable (values of Profile cannot be combined)"),
    ("non-flags-combination", rule(Mode="Transport,Tunnel"),
     "New-NetIPsecRule -Mode: 'Transport,Tunnel' is not one of None, Tunnel, Transport "
     "(values of IPsecMode cannot be combined)"),
    ("flags-bad-member", rule(Profile="Domain,Privat"),
     "New-NetIPsecRule -Profile: 'Privat' is not one of Any, Domain, Private, Public, NotApplicable"),
    ("flags-space", rule(Profile="Domain, Private"),
     "New-NetIPsecRule -Profile: ' Private' is not one of Any, Domain, Private, Public, NotApplicable "
     "(write 'Private')"),
    ("flags-repeat", C("Set-NetFirewallSetting", Exemptions="Icmp,Icmp"),
     "Set-NetFirewallSetting -Exemptions: 'Icmp,Icmp' repeats a value"),
    # nested calls: only proposals, only in -Proposal, of the set's kind; validated recursively
    ("nested-invalid-proposal",
     C("New-NetIPsecQuickModeCryptoSet", DisplayName="qm", Proposal=[qm_proposal(Encapsulation="Transport")]),
     "New-NetIPsecQuickModeCryptoProposal -Encapsulation: 'Transport' is not one of None, AH, ESP "
     "(in New-NetIPsecQuickModeCryptoSet -Proposal)"),
    ("nested-wrong-kind",
     C("New-NetIPsecQuickModeCryptoSet", DisplayName="qm",
       Proposal=C("New-NetIPsecAuthProposal", Machine=True, Kerberos=True)),
     "New-NetIPsecQuickModeCryptoSet -Proposal: takes New-NetIPsecQuickModeCryptoProposal objects, "
     "not New-NetIPsecAuthProposal"),
    ("nested-not-proposal",
     C("New-NetIPsecPhase1AuthSet", DisplayName="p1", Proposal=C("Get-NetIPsecPhase1AuthSet", Name="x")),
     "New-NetIPsecPhase1AuthSet -Proposal: takes New-NetIPsecAuthProposal objects, not Get-NetIPsecPhase1AuthSet"),
    ("nested-in-string", rule(QuickModeCryptoSet=qm_proposal(Encapsulation="ESP")),
     "New-NetIPsecRule -QuickModeCryptoSet: a nested call is only allowed where the parameter takes objects "
     "(String)"),
    ("nested-in-inputobject", C("Set-NetIPsecRule", InputObject=qm_proposal(), Enabled="False"),
     "Set-NetIPsecRule -InputObject: only proposal objects can be nested, and only in -Proposal of a set cmdlet"),
    ("string-for-proposal", C("New-NetIPsecQuickModeCryptoSet", DisplayName="qm", Proposal="ESP-AES256"),
     "New-NetIPsecQuickModeCryptoSet -Proposal: takes CimInstance[]; a plan can only pass nested proposal "
     "calls to -Proposal"),
    ("cimsession", rule(CimSession="sql01"),
     "New-NetIPsecRule -CimSession: CimSession[] values cannot be given in a plan"),
    ("psk-in-clear", C("New-NetIPsecAuthProposal", Machine=True, PreSharedKey="hunter2"),
     "New-NetIPsecAuthProposal -PreSharedKey: takes a SecretRef (the key itself must never be in a plan)"),
    ("secret-elsewhere", rule(Description=SecretRef("X")),
     "New-NetIPsecRule -Description: a SecretRef is only for -PreSharedKey"),
    # parameter sets
    ("sets-kerberos-ntlm", C("New-NetIPsecAuthProposal", Machine=True, Kerberos=True, Ntlm=True),
     "New-NetIPsecAuthProposal: parameters -Kerberos and -Ntlm are in different parameter sets"),
    ("sets-name-and-displayname", C("Set-NetIPsecRule", IPsecRuleName="r1", DisplayName="rule 1"),
     "Set-NetIPsecRule: parameters -IPsecRuleName and -DisplayName are in different parameter sets"),
    ("sets-port-and-commonport", C("Test-NetConnection", ComputerName="sql01", Port=5985, CommonTCPPort="WINRM"),
     "Test-NetConnection: parameters -Port and -CommonTCPPort are in different parameter sets"),
    ("sets-kerberos-psk",
     C("New-NetIPsecAuthProposal", Machine=True, Kerberos=True, PreSharedKey=SecretRef("PSK")),
     "New-NetIPsecAuthProposal: parameters -Kerberos and -PreSharedKey are in different parameter sets"),
    ("sets-unresolvable", C("Set-NetIPsecRule", InboundSecurity="Require", OutboundSecurity="Request"),
     "Set-NetIPsecRule: cannot resolve the parameter set; give one of -DisplayGroup, -DisplayName, -Group, "
     "-IPsecRuleName, -InputObject"),
    ("remove-without-selector", C("Remove-NetIPsecRule", PolicyStore="PersistentStore"),
     "Remove-NetIPsecRule: no selector: it would act on every object in the store "
     "(give -IPsecRuleName, -DisplayName, ...)"),
]


@pytest.mark.parametrize(("call", "message"), [(c, m) for _, c, m in REJECTED], ids=[i for i, _, _ in REJECTED])
def test_rejected_with_precise_message(call: CmdletCall, message: str) -> None:
    assert errors(call) == message


@pytest.mark.parametrize(("cmdlet", "name"), [(c.name, n) for c in REF.cmdlets.values() for n in c.not_parameters])
def test_every_documented_not_parameter_is_rejected(cmdlet: str, name: str) -> None:
    assert errors(CmdletCall(cmdlet, {name: "x"})).startswith(f"{cmdlet}: no parameter -{name}")


# --- documented calls that must pass -------------------------------------------------------------------------

MMP = C("New-NetIPsecMainModeCryptoProposal", Encryption="AES256", Hash="SHA256", KeyExchange="DH19")
KERB = C("New-NetIPsecAuthProposal", Machine=True, Kerberos=True)
QMP = qm_proposal(Encapsulation="ESP", ESPHash="SHA256", Encryption="AES256")

# netsecurity-notes §2 "Documented-syntax sketch", with deterministic names and $store = the GPO.
SKETCH = [
    C("New-NetIPsecMainModeCryptoSet", Name="mm-1", DisplayName="MM AES256/SHA256/DH19", Proposal=MMP,
      PolicyStore=GPO),
    C("New-NetIPsecPhase1AuthSet", Name="p1-1", DisplayName="P1 machine Kerberos", Proposal=KERB, PolicyStore=GPO),
    C("New-NetIPsecQuickModeCryptoSet", Name="qm-1", DisplayName="QM ESP SHA256/AES256",
      PerfectForwardSecrecyGroup="DH19", Proposal=QMP, PolicyStore=GPO),
    C("New-NetIPsecMainModeRule", DisplayName="MM srv subnet", RemoteAddress="10.10.0.0/16",
      MainModeCryptoSet="mm-1", Phase1AuthSet="p1-1", PolicyStore=GPO),
    C("New-NetIPsecRule", IPsecRuleName="tool-csr-srv", DisplayName="Request auth srv subnet",
      RemoteAddress="10.10.0.0/16", InboundSecurity="Request", OutboundSecurity="Request", Phase1AuthSet="p1-1",
      QuickModeCryptoSet="qm-1", PolicyStore=GPO),
]

ACCEPTED: list[tuple[str, CmdletCall]] = [
    *[(f"sketch-{i}", c) for i, c in enumerate(SKETCH)],
    ("exemption-none-none", C("New-NetIPsecRule", DisplayName="Exempt DC", InboundSecurity="None",
                              OutboundSecurity="None", RemoteAddress=["10.10.1.5"], Profile="Domain")),
    ("tighten", C("Set-NetIPsecRule", IPsecRuleName="tool-csr-srv", InboundSecurity="Require",
                  OutboundSecurity="Request")),
    ("request-none", rule(InboundSecurity="Request")),
    ("outbound-only-new", rule(OutboundSecurity="Request")),  # -InboundSecurity default is not documented
    ("blog-rule-without-mm", C("New-NetIPsecRule", DisplayName="x", Protocol="TCP", LocalPort="Any",
                               RemotePort="Any", Mode="Transport", Phase1AuthSet="{Auth-Set-001}",
                               QuickModeCryptoSet="{QM-CryptoSet-001}")),
    ("flags-profile", rule(Profile="Domain,Private")),
    ("flags-encapsulation", qm_proposal(Encapsulation="AH,ESP", AHHash="SHA256", ESPHash="SHA256")),
    ("flags-exemptions", C("Set-NetFirewallSetting", Exemptions="NeighborDiscovery,Icmp,Dhcp",
                           CertValidationLevel="RequireCrlCheck")),
    ("enabled-string", rule(Enabled="False")),
    ("ports-as-ints", rule(Protocol="TCP", LocalPort=[5985, 5986])),
    ("nested-list", C("Set-NetIPsecQuickModeCryptoSet", Name="qm-1", Proposal=[QMP, qm_proposal(Encapsulation="AH",
                                                                                               AHHash="SHA256")])),
    ("mm-default-set", C("New-NetIPsecMainModeCryptoSet", DisplayName="default", Proposal=MMP, Default=True,
                         ForceDiffieHellman=True, MaxMinutes=480)),
    ("machine-cert", C("New-NetIPsecAuthProposal", Machine=True, Cert=True, Authority="CN=Corp Root",
                       AuthorityType="Root", Signing="ECDSA256")),
    ("psk-secret", C("New-NetIPsecAuthProposal", Machine=True, PreSharedKey=SecretRef("IPSEC_PSK"))),
    ("anonymous", C("New-NetIPsecAuthProposal", Anonymous=True)),
    ("remove-by-name", C("Remove-NetIPsecRule", IPsecRuleName=["r1", "r2"], PolicyStore="PersistentStore")),
    ("disable-by-group", C("Disable-NetIPsecRule", Group="ipsec-remote")),
    ("get-all", C("Get-NetIPsecRule", PolicyStore="ActiveStore", TracePolicyStore=True)),
    ("get-sa", C("Get-NetIPsecMainModeSA")),
    ("test-connection", C("Test-NetConnection", ComputerName="sql01", Port=5985, InformationLevel="Detailed")),
    ("test-connection-icmp", C("Test-NetConnection", ComputerName="sql01")),
]


@pytest.mark.parametrize("call", [c for _, c in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_documented_call_accepted(call: CmdletCall) -> None:
    validate_call(call)


# --- plans: sets must exist in the referencing rule's store ---------------------------------------------------

def test_sketch_plan_is_valid() -> None:
    validate_plan(SKETCH)


def qm_set(name: str, **params: ParamValue) -> CmdletCall:
    return C("New-NetIPsecQuickModeCryptoSet", Name=name, DisplayName=name, Proposal=QMP, **params)


PLAN_REJECTED: list[tuple[str, list[CmdletCall], Mapping[str, set[str]] | None, str]] = [
    ("cross-store", [qm_set("qm-1", PolicyStore=GPO), rule(QuickModeCryptoSet="qm-1")], None,
     "New-NetIPsecRule 'r1': -QuickModeCryptoSet 'qm-1' is not in policy store 'PersistentStore' "
     f"(sets must live in the rule's store; this plan creates it in '{GPO}')"),
    ("never-created", [rule(QuickModeCryptoSet="qm-1")], None,
     "New-NetIPsecRule 'r1': -QuickModeCryptoSet 'qm-1' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store)"),
    ("created-after-use", [rule(QuickModeCryptoSet="qm-1"), qm_set("qm-1")], None,
     "New-NetIPsecRule 'r1': -QuickModeCryptoSet 'qm-1' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store)"),
    ("removed-before-use", [qm_set("qm-1"), C("Remove-NetIPsecQuickModeCryptoSet", Name="qm-1"),
                            rule(QuickModeCryptoSet="qm-1")], None,
     "New-NetIPsecRule 'r1': -QuickModeCryptoSet 'qm-1' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store; this plan creates it in 'PersistentStore')"),
    ("wrong-kind", [qm_set("shared-name"), rule(Phase1AuthSet="shared-name")], None,
     "New-NetIPsecRule 'r1': -Phase1AuthSet 'shared-name' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store)"),
    ("wrong-kind-default", [rule(QuickModeCryptoSet=MM_DEFAULT)], None,
     f"New-NetIPsecRule 'r1': -QuickModeCryptoSet '{MM_DEFAULT}' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store)"),
    ("existing-other-store", [rule(QuickModeCryptoSet="qm-1")], {GPO: {"qm-1"}},
     "New-NetIPsecRule 'r1': -QuickModeCryptoSet 'qm-1' is not in policy store 'PersistentStore' "
     "(sets must live in the rule's store)"),
    ("mm-rule-cross-store", [C("New-NetIPsecMainModeCryptoSet", Name="mm-1", DisplayName="mm", Proposal=MMP),
                             C("New-NetIPsecMainModeRule", Name="mmr", DisplayName="mmr", MainModeCryptoSet="mm-1",
                               PolicyStore=GPO)], None,
     f"New-NetIPsecMainModeRule 'mmr': -MainModeCryptoSet 'mm-1' is not in policy store '{GPO}' "
     "(sets must live in the rule's store; this plan creates it in 'PersistentStore')"),
    ("invalid-call-in-plan", [qm_set("qm-1"), rule(QuickModeCryptoSet="qm-1", MainModeCryptoSet="mm")], None,
     "New-NetIPsecRule: no parameter -MainModeCryptoSet "
     "(main mode binds through the default set or New-NetIPsecMainModeRule)"),
]


@pytest.mark.parametrize(("calls", "existing", "message"), [(c, e, m) for _, c, e, m in PLAN_REJECTED],
                         ids=[i for i, *_ in PLAN_REJECTED])
def test_plan_rejected(calls: list[CmdletCall], existing: Mapping[str, set[str]] | None, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_plan(calls, existing_sets=existing)
    assert str(info.value) == message


PLAN_ACCEPTED: list[tuple[str, list[CmdletCall], Mapping[str, set[str]] | None]] = [
    ("defaults-guid", [rule(QuickModeCryptoSet=QM_DEFAULT, Phase1AuthSet="{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE3}",
                            Phase2AuthSet="{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE4}"),
                       C("New-NetIPsecMainModeRule", DisplayName="mmr", MainModeCryptoSet=MM_DEFAULT)], None),
    ("same-store-explicit-vs-default", [qm_set("qm-1", PolicyStore="PersistentStore"),
                                        rule(QuickModeCryptoSet="qm-1")], None),
    ("existing-on-host", [rule(QuickModeCryptoSet="qm-1", PolicyStore=GPO)], {GPO: {"qm-1"}}),
    ("gpo-session", [qm_set("qm-1", GPOSession="s1"), rule(QuickModeCryptoSet="qm-1", GPOSession="s1")], None),
    ("renamed-to-default", [qm_set("qm-new"),
                            C("Rename-NetIPsecQuickModeCryptoSet", Name="qm-new", NewName=QM_DEFAULT),
                            rule(QuickModeCryptoSet=QM_DEFAULT)], None),
    ("renamed", [qm_set("qm-a"), C("Rename-NetIPsecQuickModeCryptoSet", Name="qm-a", NewName="qm-b"),
                 rule(QuickModeCryptoSet="qm-b")], None),
    ("copied-to-gpo", [qm_set("qm-1"), C("Copy-NetIPsecQuickModeCryptoSet", Name="qm-1", NewPolicyStore=GPO),
                       rule(QuickModeCryptoSet="qm-1", PolicyStore=GPO)], None),
    ("replace", [qm_set("qm-1"), C("Remove-NetIPsecQuickModeCryptoSet", Name="qm-1"), qm_set("qm-1"),
                 C("Set-NetIPsecRule", IPsecRuleName="r1", QuickModeCryptoSet="qm-1")], None),
]


@pytest.mark.parametrize(("calls", "existing"), [(c, e) for _, c, e in PLAN_ACCEPTED],
                         ids=[i for i, *_ in PLAN_ACCEPTED])
def test_plan_accepted(calls: list[CmdletCall], existing: Mapping[str, set[str]] | None) -> None:
    validate_plan(calls, existing_sets=existing)


def test_renamed_away_set_is_gone() -> None:
    calls = [qm_set("qm-a"), C("Rename-NetIPsecQuickModeCryptoSet", Name="qm-a", NewName="qm-b"),
             rule(QuickModeCryptoSet="qm-a")]
    with pytest.raises(ValidationError, match="-QuickModeCryptoSet 'qm-a' is not in policy store"):
        validate_plan(calls)


# --- property names our scripts read -------------------------------------------------------------------------

PROPERTY_REJECTED = [
    ("Get-NetIPsecMainModeSA", "LocalAddress",
     "Get-NetIPsecMainModeSA: no property 'LocalAddress' (use LocalEndpoint)"),
    ("Get-NetIPsecMainModeSA", "DHGroup", "Get-NetIPsecMainModeSA: no property 'DHGroup' (use GroupId)"),
    ("Get-NetIPsecMainModeSA", "Lifetime",
     "Get-NetIPsecMainModeSA: no property 'Lifetime' (LifetimeSeconds/LifetimeKilobytes exist but are documented "
     "as ignored; configured lifetime is MaxLifetimeMinutes on the MM crypto set)"),
    ("Get-NetIPsecMainModeSA", "AuthenticationMethod",
     "Get-NetIPsecMainModeSA: property 'AuthenticationMethod' must not be read: exists but documented 'This field "
     "is ignored' - use LocalFirstId/RemoteFirstId (+LocalSecondId/RemoteSecondId) for the authenticated identities"),
    ("Get-NetIPsecMainModeSA", "LifetimeSeconds",
     "Get-NetIPsecMainModeSA: property 'LifetimeSeconds' must not be read: documented 'This field is ignored'"),
    ("Get-NetIPsecMainModeSA", "Groupid", "Get-NetIPsecMainModeSA: no property 'Groupid' (did you mean GroupId?)"),
    ("Get-NetIPsecQuickModeSA", "LocalAddress",
     "Get-NetIPsecQuickModeSA: no property 'LocalAddress' (use LocalEndpoint)"),
    ("Get-NetIPsecQuickModeSA", "Protocol", "Get-NetIPsecQuickModeSA: no property 'Protocol' (use IpProtocol)"),
    ("Get-NetIPsecQuickModeSA", "CipherAlgorithm",
     "Get-NetIPsecQuickModeSA: no property 'CipherAlgorithm' (use FirstCipherAlgorithm / SecondCipherAlgorithm)"),
    ("Get-NetIPsecQuickModeSA", "OutboundSPI",
     "Get-NetIPsecQuickModeSA: no property 'OutboundSPI' (SPI is documented ignored; SecondSPI exists)"),
    ("Get-NetIPsecQuickModeSA", "InboundSPI", "Get-NetIPsecQuickModeSA: no property 'InboundSPI'"),
    ("Get-NetIPsecRule", "RemoteAddress",
     "Get-NetIPsecRule: no property 'RemoteAddress' (use Get-NetFirewallAddressFilter / Get-NetFirewallPortFilter "
     "/ Get-NetFirewallInterfaceTypeFilter -AssociatedNetIPsecRule $rule)"),
    ("Get-NetIPsecPhase2AuthSet", "Proposals",
     "Get-NetIPsecPhase2AuthSet: output properties are not documented; cannot check 'Proposals'"),
]


@pytest.mark.parametrize(("cmdlet", "name", "message"), PROPERTY_REJECTED, ids=[f"{c}.{n}" for c, n, _ in
                                                                              PROPERTY_REJECTED])
def test_property_name_rejected(cmdlet: str, name: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_property_names(cmdlet, ["LocalEndpoint", name] if cmdlet.endswith("SA") else [name])
    assert str(info.value) == message


@pytest.mark.parametrize(("cmdlet", "name"), [(c, n) for c in ("Get-NetIPsecMainModeSA", "Get-NetIPsecQuickModeSA")
                                              for n in REF.property_hints(c)])
def test_every_erratum_property_rejected(cmdlet: str, name: str) -> None:
    with pytest.raises(ValidationError, match=f"'{name}'"):
        check_property_names(cmdlet, [name])


@pytest.mark.parametrize(("cmdlet", "names"), [
    ("Get-NetIPsecMainModeSA", ["LocalEndpoint", "RemoteEndpoint", "CipherAlgorithm", "HashAlgorithm", "GroupId",
                                "LocalFirstId", "RemoteFirstId"]),
    ("Get-NetIPsecQuickModeSA", ["LocalEndpoint", "RemoteEndpoint", "IpProtocol", "FirstCipherAlgorithm",
                                 "FirstIntegrityAlgorithm", "PfsGroupId", "MmSaId"]),
    ("Get-NetIPsecRule", ["IPsecRuleName", "InboundSecurity", "OutboundSecurity", "PolicyStoreSource",
                          "MainModeCryptoSet"]),
    ("New-NetIPsecRule", ["IPsecRuleName", "Group"]),  # same object as Get-NetIPsecRule
    ("Get-NetIPsecQuickModeCryptoSet", ["Proposals", "PfsGroupID"]),
    ("Get-NetFirewallSetting", ["Exemptions", "CertValidationLevel"]),
])
def test_property_names_accepted(cmdlet: str, names: list[str]) -> None:
    check_property_names(cmdlet, names)


# --- the Reference API ---------------------------------------------------------------------------------------

def test_reference_is_loaded_once_and_lookup_is_case_insensitive() -> None:
    assert load_reference() is REF
    assert REF.cmdlet("new-netipsecrule").name == "New-NetIPsecRule"
    with pytest.raises(ValidationError, match=r"unknown cmdlet 'Get-NetIPsecSA' \(did you mean"):
        REF.cmdlet("Get-NetIPsecSA")


def test_param_info_fields() -> None:
    info = REF.cmdlet("New-NetIPsecRule")
    name = info.parameters["IPsecRuleName"]
    assert (name.type, name.array, name.aliases) == ("String", False, ("ID", "Name"))
    profile = info.parameters["Profile"]
    assert profile.flags and profile.values == ("Any", "Domain", "Private", "Public", "NotApplicable")
    assert info.parameters["DisplayName"].mandatory_in("Default")
    assert info.parameters["RemoteAddress"].array
    assert REF.cmdlet("New-NetIPsecAuthProposal").parameters["AuthorityType"].values == ("Root", "Intermediate")


def test_output_properties_shapes() -> None:
    assert {"GroupId", "LocalEndpoint"} <= REF.output_properties("Get-NetIPsecMainModeSA")  # dict shape
    assert {"Proposals", "PfsGroupID"} <= REF.output_properties("Get-NetIPsecQuickModeCryptoSet")  # "Name (note)"
    rule_props = REF.output_properties("Get-NetIPsecRule")  # displayed + cim_only lists
    assert {"IPsecRuleName", "MainModeCryptoSet", "InstanceID"} <= rule_props
    assert "RemoteAddress" not in rule_props
    assert REF.output_properties("Get-NetIPsecPhase2AuthSet") == set()
    assert "AuthenticationMethod" in REF.ignored_properties("Get-NetIPsecMainModeSA")
