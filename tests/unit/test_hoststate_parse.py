"""remote/hoststate.py, field by field: read_state.ps1's report (CIM property names, numeric codes as the class
pages on learn.microsoft.com number them, see remote/cimcodes.py) → the New-* parameters the planner compares
with the inventory, and the facts doctor and the diagnosis read. Hand-written report fragments, one case per
field, code and branch (the round-trip test covers what the lab produces; these cover what Windows may send
that the lab does not)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from ipsec_remote.model.calls import CmdletCall, SecretRef
from ipsec_remote.model.desired import Kind
from ipsec_remote.remote.hoststate import RuleFacts, parse_facts, parse_state

GROUP = "ipsec-remote"


def _one(report: dict[str, Any], psk_env: str | None = None) -> tuple[Kind, str, dict[str, Any]]:
    state = parse_state(report, GROUP, psk_env)
    assert len(state.observed) == 1, state.observed
    o = state.observed[0]
    return o.kind, o.name, dict(o.params)


# --- connection security rules (MSFT_NetConSecRule) ---------------------------------------------------------

def test_a_rule_with_every_field_reads_as_the_new_rule_parameters() -> None:
    rec = {"InstanceID": "ipsec-remote-sql", "DisplayName": "SQL", "RuleGroup": GROUP, "InboundSecurity": 2,
           "OutboundSecurity": 1, "KeyModule": 4, "Profiles": 5, "Mode": 2, "Enabled": 2, "Protocol": "TCP",
           "QuickModeCryptoSet": "qm-set", "Phase1AuthSet": "p1", "Phase2AuthSet": "p2", "Description": "why",
           "LocalAddress": ["10.0.0.1"], "RemoteAddress": ["10.0.0.2", "10.0.0.3"], "LocalPort": ["1433"],
           "RemotePort": "49152"}
    assert _one({"Rules": [rec]}) == (Kind.RULE, "ipsec-remote-sql", {
        "IPsecRuleName": "ipsec-remote-sql", "DisplayName": "SQL", "Group": GROUP, "InboundSecurity": "Require",
        "OutboundSecurity": "Request", "KeyModule": "IKEv2", "Profile": "Domain,Public", "Mode": "Tunnel",
        "Enabled": "False", "Protocol": "TCP", "QuickModeCryptoSet": "qm-set", "Phase1AuthSet": "p1",
        "Phase2AuthSet": "p2", "Description": "why", "LocalAddress": ["10.0.0.1"],
        "RemoteAddress": ["10.0.0.2", "10.0.0.3"], "LocalPort": ["1433"], "RemotePort": ["49152"]})


def test_a_rule_with_only_its_names_reads_with_the_cmdlet_defaults() -> None:
    """Absent security reads as None (the cmdlets' word for the page's "Never"), an absent key module as
    Default, no profile bits as Any; empty and "None" values are left out rather than compared."""
    rec = {"InstanceID": "ipsec-remote-x", "DisplayName": "X", "RuleGroup": GROUP, "Mode": 1, "Enabled": 1,
           "Protocol": "", "Description": "None", "LocalAddress": [], "RemoteAddress": None, "LocalPort": [""],
           "RemotePort": ["None"]}
    assert _one({"Rules": [rec]})[2] == {
        "IPsecRuleName": "ipsec-remote-x", "DisplayName": "X", "Group": GROUP, "InboundSecurity": "None",
        "OutboundSecurity": "None", "KeyModule": "Default", "Profile": "Any", "Mode": "Transport", "Enabled": "True"}


@pytest.mark.parametrize(("code", "security"), [(0, "None"), (1, "Request"), (2, "Require"), ("2", "Require")])
def test_security_codes(code: Any, security: str) -> None:
    rec = {"InstanceID": "r", "RuleGroup": GROUP, "InboundSecurity": code, "OutboundSecurity": code}
    params = _one({"Rules": [rec]})[2]
    assert (params["InboundSecurity"], params["OutboundSecurity"]) == (security, security)


def test_an_exemption_is_told_from_a_rule_by_its_name() -> None:
    rules = [{"InstanceID": f"{GROUP}-exempt-dhcp", "RuleGroup": GROUP},
             {"InstanceID": "exempt-not-ours-by-name", "RuleGroup": GROUP}]
    kinds = {o.name: o.kind for o in parse_state({"Rules": rules}, GROUP).observed}
    assert kinds == {f"{GROUP}-exempt-dhcp": Kind.EXEMPTION, "exempt-not-ours-by-name": Kind.RULE}


def test_objects_of_other_groups_are_skipped_wherever_they_come() -> None:
    """Another group's objects first, ours after: ours are still read (never plan over objects not ours)."""
    other = {"RuleGroup": "someone-else", "InstanceID": "theirs", "Kind": "qm_crypto_set"}
    report = {"Rules": [{**other}, {"InstanceID": "r", "RuleGroup": GROUP}],
              "MainModeRules": [{**other}, {"InstanceID": "m", "RuleGroup": GROUP}],
              "Sets": [{**other}, {"InstanceID": "s", "RuleGroup": GROUP, "Kind": "qm_crypto_set"},
                       {"InstanceID": "odd", "RuleGroup": GROUP, "Kind": "firewall_rule"}]}
    observed = [(o.kind, o.name) for o in parse_state(report, GROUP).observed]
    assert observed == [(Kind.RULE, "r"), (Kind.MM_RULE, "m"), (Kind.QM_CRYPTO_SET, "s")]


# --- main mode rules (MSFT_NetMainModeRule) -----------------------------------------------------------------

def test_a_main_mode_rule_reads_as_the_new_main_mode_rule_parameters() -> None:
    rec = {"InstanceID": "mm", "DisplayName": "MM", "RuleGroup": GROUP, "Profiles": 2, "Enabled": 2,
           "MainModeCryptoSet": "mm-set", "Phase1AuthSet": "p1", "Description": "d",
           "LocalAddress": ["10.0.0.1"], "RemoteAddress": "10.0.0.0/24"}
    assert _one({"MainModeRules": [rec]}) == (Kind.MM_RULE, "mm", {
        "Name": "mm", "DisplayName": "MM", "Group": GROUP, "Profile": "Private", "MainModeCryptoSet": "mm-set",
        "Phase1AuthSet": "p1", "Enabled": "False", "Description": "d", "LocalAddress": ["10.0.0.1"],
        "RemoteAddress": ["10.0.0.0/24"]})
    bare = _one({"MainModeRules": [{"InstanceID": "mm", "RuleGroup": GROUP, "Profiles": 7}]})[2]
    assert bare == {"Name": "mm", "DisplayName": "", "Group": GROUP, "Profile": "Any"}


# --- crypto sets and their proposals ------------------------------------------------------------------------

MM_PROPOSALS = [  # (CipherAlgorithm, HashAlgorithm, GroupId) codes → New-NetIPsecMainModeCryptoProposal
    ({"CipherAlgorithm": 65003, "HashAlgorithm": 65002, "GroupId": 20}, ("AES256", "SHA384", "DH20")),
    ({"CipherAlgorithm": 65001, "HashAlgorithm": 65001, "GroupId": 14}, ("AES128", "SHA256", "DH14")),
    ({"CipherAlgorithm": 6, "HashAlgorithm": 3, "GroupId": 2}, ("DES3", "SHA1", "DH2")),
    ({"CipherAlgorithm": 2, "HashAlgorithm": 2, "GroupId": 1}, ("DES", "MD5", "DH1")),
    ({"CipherAlgorithm": 65002, "HashAlgorithm": 65001, "GroupId": 19}, ("AES192", "SHA256", "DH19")),
    ({"CipherAlgorithm": 65001, "HashAlgorithm": 65001, "GroupId": 24}, ("AES128", "SHA256", "DH24")),
    # A code no page lists reads as "?", which no plan asks for: never mistaken for a real algorithm or None.
    ({"CipherAlgorithm": 9, "HashAlgorithm": 77, "GroupId": 3}, ("?", "?", "?")),
    ({}, ("?", "?", "?")),
]


@pytest.mark.parametrize(("codes", "names"), MM_PROPOSALS)
def test_main_mode_proposals(codes: dict[str, int], names: tuple[str, str, str]) -> None:
    rec = {"InstanceID": "mmset", "DisplayName": "S", "RuleGroup": GROUP, "Kind": "mm_crypto_set",
           "Proposals": [codes], "MaxLifetimeMinutes": 480}
    kind, _name, params = _one({"Sets": [rec]})
    assert kind is Kind.MM_CRYPTO_SET
    encryption, hash_, dh = names
    assert params == {"Name": "mmset", "DisplayName": "S", "Group": GROUP, "MaxMinutes": 480, "Proposal": [
        CmdletCall("New-NetIPsecMainModeCryptoProposal",
                   {"Encryption": encryption, "Hash": hash_, "KeyExchange": dh})]}


QM_PROPOSALS = [  # Encapsulation 1 AH, 2 ESP, 3 AH,ESP: only the algorithms of the encapsulations in use
    ({"Encapsulation": 2, "CipherAlgorithm": 65004, "HashAlgorithmESP": 65003, "HashAlgorithmAH": 3},
     {"Encapsulation": "ESP", "Encryption": "AESGCM128", "ESPHash": "AESGMAC128"}),
    ({"Encapsulation": 2, "CipherAlgorithm": 65006, "HashAlgorithmESP": 65005},
     {"Encapsulation": "ESP", "Encryption": "AESGCM256", "ESPHash": "AESGMAC256"}),
    ({"Encapsulation": 2, "CipherAlgorithm": 65005, "HashAlgorithmESP": 65004},
     {"Encapsulation": "ESP", "Encryption": "AESGCM192", "ESPHash": "AESGMAC192"}),
    ({"Encapsulation": 2, "CipherAlgorithm": 0, "HashAlgorithmESP": 65001},
     {"Encapsulation": "ESP", "Encryption": "None", "ESPHash": "SHA256"}),
    ({"Encapsulation": 1, "CipherAlgorithm": 65003, "HashAlgorithmESP": 65001, "HashAlgorithmAH": 3},
     {"Encapsulation": "AH", "AHHash": "SHA1"}),
    ({"Encapsulation": 3, "CipherAlgorithm": 65003, "HashAlgorithmESP": 65001, "HashAlgorithmAH": 65002},
     {"Encapsulation": "AH,ESP", "Encryption": "AES256", "ESPHash": "SHA256", "AHHash": "SHA384"}),
    ({"Encapsulation": 3, "CipherAlgorithm": 1, "HashAlgorithmESP": 1, "HashAlgorithmAH": 1},
     {"Encapsulation": "AH,ESP", "Encryption": "?", "ESPHash": "?", "AHHash": "?"}),
    ({"Encapsulation": 0}, {"Encapsulation": "None"}),
    ({"Encapsulation": 8, "CipherAlgorithm": 65003}, {"Encapsulation": "?"}),
]


@pytest.mark.parametrize(("codes", "proposal"), QM_PROPOSALS)
def test_quick_mode_proposals(codes: dict[str, int], proposal: dict[str, str]) -> None:
    rec = {"InstanceID": "qmset", "RuleGroup": GROUP, "Kind": "qm_crypto_set", "Proposals": [codes],
           "PfsGroupID": 0, "MaxLifetimeMinutes": 60}  # a QM set's lifetime is not a MaxMinutes parameter
    kind, _name, params = _one({"Sets": [rec]})
    assert kind is Kind.QM_CRYPTO_SET
    assert params == {"Name": "qmset", "DisplayName": "", "Group": GROUP, "PerfectForwardSecrecyGroup": "None",
                      "Proposal": [CmdletCall("New-NetIPsecQuickModeCryptoProposal", proposal)]}


@pytest.mark.parametrize(("code", "pfs"), [(0, "None"), (1, "DH1"), (2, "DH2"), (14, "DH14"), (19, "DH19"),
                                           (20, "DH20"), (24, "DH24"), (65535, "SameAsMainMode"), (None, "None")])
def test_quick_mode_pfs_groups(code: int | None, pfs: str) -> None:
    rec = {"InstanceID": "qmset", "RuleGroup": GROUP, "Kind": "qm_crypto_set", "PfsGroupID": code}
    assert _one({"Sets": [rec]})[2]["PerfectForwardSecrecyGroup"] == pfs


def test_set_description_and_lifetime_are_read_only_when_present() -> None:
    sets = [{"InstanceID": "a", "RuleGroup": GROUP, "Kind": "mm_crypto_set", "Description": "kept"},
            {"InstanceID": "b", "RuleGroup": GROUP, "Kind": "p1_auth_set", "Description": ""},
            {"InstanceID": "c", "RuleGroup": GROUP, "Kind": "mm_crypto_set", "MaxLifetimeMinutes": "None"}]
    got = {o.name: dict(o.params) for o in parse_state({"Sets": sets}, GROUP).observed}
    assert got == {"a": {"Name": "a", "DisplayName": "", "Group": GROUP, "Proposal": [], "Description": "kept"},
                   "b": {"Name": "b", "DisplayName": "", "Group": GROUP, "Proposal": []},
                   "c": {"Name": "c", "DisplayName": "", "Group": GROUP, "Proposal": []}}


# --- authentication proposals (MSFT_NetIKE*AuthProposal) ----------------------------------------------------

KERB, CERT, PSK = "MSFT_NetIKEKerbAuthProposal", "MSFT_NetIKECertAuthProposal", "MSFT_NetIKEPSKAuthProposal"
AUTH_PROPOSALS = [  # (AuthenticationMethod, Class, certificate fields) → New-NetIPsecAuthProposal switches
    (65001, "MSFT_NetIKEAnonymousAuthProposal", {}, {"Anonymous": True}),
    (65002, KERB, {}, {"Machine": True, "Kerberos": True}),
    (65003, "MSFT_NetIKENtlmAuthProposal", {}, {"Machine": True, "Ntlm": True}),
    (65004, KERB, {}, {"User": True, "Kerberos": True}),
    (65005, "MSFT_NetIKENtlmAuthProposal", {}, {"User": True, "Ntlm": True}),
    (65005, None, {}, {"User": True, "Ntlm": True}),
    # The pages give 65005 to machine certificates too: the class settles it.
    (65005, CERT, {"TrustedCA": "CN=Root", "TrustedCAType": 1, "SigningAlgorithm": 1},
     {"Machine": True, "Cert": True, "Authority": "CN=Root", "AuthorityType": "Root", "Signing": "RSA"}),
    (65006, CERT, {"TrustedCA": "CN=Issuing", "TrustedCAType": 2, "SigningAlgorithm": 2},
     {"Machine": True, "Cert": True, "Authority": "CN=Issuing", "AuthorityType": "Intermediate",
      "Signing": "ECDSA256"}),
    (65007, CERT, {"TrustedCA": "CN=Root", "TrustedCAType": 1, "SigningAlgorithm": 3},
     {"User": True, "Cert": True, "Authority": "CN=Root", "AuthorityType": "Root", "Signing": "ECDSA384"}),
    (65008, CERT, {"TrustedCA": "CN=Health", "TrustedCAType": 1},
     {"Machine": True, "Cert": True, "Health": True, "Authority": "CN=Health", "AuthorityType": "Root"}),
    # Certificate fields a host leaves empty or numbers oddly: no authority type, no signing parameter.
    (65006, CERT, {"TrustedCA": None, "TrustedCAType": 9, "SigningAlgorithm": 0},
     {"Machine": True, "Cert": True, "Authority": "", "AuthorityType": ""}),
    (65006, CERT, {}, {"Machine": True, "Cert": True, "Authority": "", "AuthorityType": ""}),
    # A method no page lists: a parameter no plan has, so the set always differs from the inventory's.
    (65099, KERB, {}, {"AuthenticationMethod": "code 65099"}),
    (None, KERB, {}, {"AuthenticationMethod": "code None"}),
]


@pytest.mark.parametrize(("method", "cim_class", "fields", "switches"), AUTH_PROPOSALS)
def test_auth_proposals(method: int | None, cim_class: str | None, fields: dict[str, Any],
                        switches: dict[str, Any]) -> None:
    proposal = {"AuthenticationMethod": method, "Class": cim_class, **fields}
    rec = {"InstanceID": "p1", "RuleGroup": GROUP, "Kind": "p1_auth_set", "Proposals": [proposal]}
    kind, _name, params = _one({"Sets": [rec]})
    assert kind is Kind.P1_AUTH_SET
    assert params["Proposal"] == [CmdletCall("New-NetIPsecAuthProposal", switches)]


@pytest.mark.parametrize(("psk_env", "ref"), [("LAB_PSK", "LAB_PSK"), (None, "")])
def test_a_pre_shared_key_proposal_stands_for_the_inventorys_key(psk_env: str | None, ref: str) -> None:
    """The key never leaves the host: the proposal reads as the inventory's key reference."""
    rec = {"InstanceID": "p1", "RuleGroup": GROUP, "Kind": "p1_auth_set",
           "Proposals": [{"AuthenticationMethod": 2, "Class": PSK, "HasPreSharedKey": True}]}
    params = _one({"Sets": [rec]}, psk_env)[2]
    assert params["Proposal"] == [CmdletCall("New-NetIPsecAuthProposal",
                                             {"Machine": True, "PreSharedKey": SecretRef(ref)})]


def test_a_set_keeps_its_proposals_in_order() -> None:
    rec = {"InstanceID": "p1", "RuleGroup": GROUP, "Kind": "p1_auth_set",
           "Proposals": [{"AuthenticationMethod": 65004, "Class": KERB},
                         {"AuthenticationMethod": 65002, "Class": KERB}]}
    assert _one({"Sets": [rec]})[2]["Proposal"] == [
        CmdletCall("New-NetIPsecAuthProposal", {"User": True, "Kerberos": True}),
        CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True})]


# --- facts (services, firewall profiles, unowned rules, clock, idle time, exemptions) -----------------------

def test_facts_read_every_field() -> None:
    report = {
        "Services": [{"Name": "IKEEXT", "Status": "Running", "StartType": "Manual"},
                     {"Name": "BFE", "Status": "Stopped", "StartType": "Disabled"}],
        "Profiles": [{"Name": "Domain", "Enabled": 1, "AllowLocalIPsecRules": 0},
                     {"Name": "Private", "Enabled": 0, "AllowLocalIPsecRules": 1},
                     {"Name": "Public", "Enabled": 2, "AllowLocalIPsecRules": 2},
                     {"Name": "Other", "Enabled": None}],
        "UnownedActiveRules": [
            {"InstanceID": "gpo-rule", "RuleGroup": "Corp", "Enabled": 1, "InboundSecurity": 2,
             "OutboundSecurity": 1, "RemoteAddress": ["10.0.0.0/8"], "LocalPort": ["445", "139"],
             "PolicyStoreSource": "GroupPolicy"},
            {"InstanceID": "off", "Enabled": 2, "RemoteAddress": "Any", "PolicyStoreSource": None},
            {"InstanceID": "bare"}],
        "UtcNow": "2026-12-02T06:30:00.1234567Z",
        "MaxSAIdleTimeSeconds": 300,
        "Exemptions": 9,
    }
    facts = parse_facts(report)
    assert dict(facts.services) == {"IKEEXT": ("Running", "Manual"), "BFE": ("Stopped", "Disabled")}
    assert dict(facts.profiles) == {"Domain": (True, "False"), "Private": (False, "True"),
                                    "Public": (False, "NotConfigured"), "Other": (False, "")}
    assert facts.unowned_rules == (
        RuleFacts(name="gpo-rule", group="Corp", enabled=True, inbound="Require", outbound="Request",
                  remote_address=("10.0.0.0/8",), local_port=("445", "139"), source="GroupPolicy"),
        # Enabled absent reads as enabled (the cmdlets' default): an overlap is never missed for it.
        RuleFacts(name="off", group="", enabled=False, inbound="None", outbound="None", remote_address=("Any",),
                  local_port=(), source=""),
        RuleFacts(name="bare", group="", enabled=True, inbound="None", outbound="None", remote_address=(),
                  local_port=(), source=""))
    assert facts.utc_now == datetime(2026, 12, 2, 6, 30, 0, 123456, tzinfo=timezone.utc)
    assert facts.max_sa_idle_s == 300
    assert facts.exemptions == "NeighborDiscovery, Dhcp"


@pytest.mark.parametrize(("utc_now", "parsed"), [
    ("2026-12-02T06:30:00Z", datetime(2026, 12, 2, 6, 30, tzinfo=timezone.utc)),
    ("2026-12-02T07:30:00+01:00", datetime(2026, 12, 2, 6, 30, tzinfo=timezone.utc)),
    ("not a time", None), ("", None), (None, None)])
def test_the_hosts_clock(utc_now: str | None, parsed: datetime | None) -> None:
    facts = parse_facts({"UtcNow": utc_now} if utc_now is not None else {})
    assert facts.utc_now == parsed
    if parsed is not None:
        assert facts.utc_now is not None and facts.utc_now.utcoffset() is not None


def test_an_empty_report_has_no_facts() -> None:
    facts = parse_facts({})
    assert (dict(facts.services), dict(facts.profiles), facts.unowned_rules, facts.utc_now, facts.max_sa_idle_s,
            facts.exemptions) == ({}, {}, (), None, None, "")
    state = parse_state({}, GROUP)
    assert state.observed == [] and state.facts == facts
