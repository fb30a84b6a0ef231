"""Authentication: Kerberos prerequisites, certificates, PSK, NTLM, phase 2 (windows-behaviour.md §4, §5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipsec_remote.lab.ike import (
    Assumptions,
    AuthProposal,
    CsRule,
    Flow,
    HostPolicy,
    NegotiationContext,
    Outcome,
    negotiate,
)

A, B, C = "10.0.0.10", "10.0.0.20", "10.0.1.30"
DC_ADDR = "10.0.0.5"
DC = HostPolicy("dc01", (DC_ADDR,), is_domain_controller=True)
CTX = NegotiationContext(dcs=(DC,))
MEMBERS = ("10.0.0.10-10.0.0.99",)


def rule(inbound: str = "Require", outbound: str = "Require", remote: tuple[str, ...] = MEMBERS,
         **kw: object) -> CsRule:
    return CsRule(str(kw.pop("name", "csr")), inbound_security=inbound,  # type: ignore[arg-type]
                  outbound_security=outbound, remote_address=remote, **kw)  # type: ignore[arg-type]


def member(name: str, addr: str, *rules: CsRule, **kw: object) -> HostPolicy:
    return replace(HostPolicy(name, (addr,), cs_rules=rules), **kw)  # type: ignore[arg-type]


def go(a: HostPolicy, b: HostPolicy, ctx: NegotiationContext = CTX) -> Outcome:
    return negotiate(a, b, Flow(a.name, a.addresses[0], b.addresses[0], "TCP", 50000, 445), ctx, 0.0)


KERBEROS_FAILURES = [
    ("responder-not-domain-joined", {}, {"domain_joined": False}),
    ("initiator-not-domain-joined", {"domain_joined": False}, {}),
    ("different-domains", {}, {"domain": "other.local"}),
    ("peer-skew-600s", {"clock_skew_s": 600.0}, {}),
    ("both-skewed-600s-vs-dc", {"clock_skew_s": 600.0}, {"clock_skew_s": 600.0}),
]


@pytest.mark.parametrize(("hi", "hr"), [pytest.param(s[1], s[2], id=s[0]) for s in KERBEROS_FAILURES])
@pytest.mark.parametrize(("security", "delivered"), [("Require", False), ("Request", True)])
def test_kerberos_prerequisites(hi: dict[str, object], hr: dict[str, object], security: str,
                                delivered: bool) -> None:
    r = rule(security, security)
    o = go(member("a", A, r, **hi), member("b", B, r, **hr))
    assert not o.secured and o.delivered is delivered, o.reason
    assert {("a", 4653), ("b", 4653)} <= {(e.host, e.id) for e in o.events}
    assert "Kerberos" in o.reason


def test_skew_within_tolerance_succeeds() -> None:
    r = rule()
    o = go(member("a", A, r, clock_skew_s=240.0), member("b", B, r, clock_skew_s=-50.0))
    assert o.secured, o.reason


def test_dc_covered_by_own_require_rule_breaks_every_require_flow() -> None:
    # Host a requires IPsec toward its whole subnet, DC included, and has no exemption for the DC.
    require_all = rule(remote=("10.0.0.0/24",), name="require-subnet")
    request_other = rule("Request", "Request", remote=("10.0.1.0/24",), name="request-other")
    a = member("a", A, require_all, request_other)
    b = member("b", B, rule())  # peers scope their rules to member servers, so they reach the DC
    c = member("c", C, rule("Request", "Request"))
    to_b, to_c = go(a, b), go(a, c)
    assert not to_b.delivered and not to_b.secured and "DC" in to_b.reason
    assert to_c.delivered and not to_c.secured  # Request: falls back to clear (negotiation discovery)
    # The documented fix: exempt the DCs (None/None) — exemptions win regardless of other rules.
    exempt_dc = CsRule("exempt-dc", inbound_security="None", outbound_security="None", remote_address=(DC_ADDR,))
    fixed = replace(a, cs_rules=(*a.cs_rules, exempt_dc))
    assert go(fixed, b).secured and go(fixed, c).secured
    # A peer covering the DC with its own Require rule is just as broken.
    assert not go(fixed, member("b", B, rule(remote=("10.0.0.0/24",)))).delivered


def test_dc_requiring_inbound_breaks_kerberos() -> None:
    dc = replace(DC, cs_rules=(rule("Require", "Require", remote=("10.0.0.0/24",)),))
    r = rule()
    o = go(member("a", A, r), member("b", B, r), NegotiationContext(dcs=(dc,)))
    assert not o.secured and "DC dc01 requires" in o.reason


def test_no_dc_in_lab_means_no_kerberos() -> None:
    r = rule("Request", "Request")
    o = go(member("a", A, r), member("b", B, r), NegotiationContext())
    assert o.delivered and not o.secured and "no domain controller" in o.reason


def test_responder_that_is_a_dc_uses_its_own_kdc() -> None:
    r = rule(remote=("10.0.0.0/24",))
    exempt_dc = CsRule("exempt-dc", inbound_security="None", outbound_security="None", remote_address=(DC_ADDR,))
    a = member("a", A, r, exempt_dc)
    o = go(a, member("b", B, r, is_domain_controller=True))
    assert o.secured, o.reason


@pytest.mark.parametrize(("reachability", "secured"), [("all", False), ("any", True)])
def test_kdc_reachability_assumption(reachability: str, secured: bool) -> None:
    dc2 = HostPolicy("dc02", ("10.0.2.5",), is_domain_controller=True)
    require_dc2 = rule(remote=("10.0.2.5",), name="require-dc2")
    ctx = NegotiationContext(dcs=(DC, dc2), assumptions=Assumptions(kdc_reachability=reachability))  # type: ignore[arg-type]
    o = go(member("a", A, rule(), require_dc2), member("b", B, rule()), ctx)
    assert o.secured is secured, o.reason


CERT_ROOT = AuthProposal("Certificate", authority="LabRootCA")
CERT_OTHER = AuthProposal("Certificate", authority="OtherCA")


@pytest.mark.parametrize(
    ("auth_i", "auth_r", "cas_i", "cas_r", "secured"),
    [
        ((CERT_ROOT,), (CERT_ROOT,), {"LabRootCA"}, {"LabRootCA"}, True),
        ((CERT_ROOT,), (CERT_ROOT,), {"LabRootCA"}, {"OtherCA"}, False),
        ((CERT_ROOT,), (CERT_ROOT,), set(), {"LabRootCA"}, False),
        ((CERT_ROOT,), (CERT_OTHER,), {"LabRootCA"}, {"LabRootCA"}, False),  # a's cert not from OtherCA
        ((CERT_ROOT,), (CERT_OTHER,), {"OtherCA"}, {"LabRootCA"}, True),  # cross: each holds what the other wants
        ((AuthProposal("Certificate"),), (AuthProposal("Certificate"),), {"X"}, {"Y"}, True),  # any CA
    ],
    ids=["common-ca", "responder-other-ca", "initiator-no-cert", "authority-mismatch", "cross-ca", "any-ca"],
)
def test_certificate_authentication(auth_i: tuple[AuthProposal, ...], auth_r: tuple[AuthProposal, ...],
                                    cas_i: set[str], cas_r: set[str], secured: bool) -> None:
    a = member("a", A, rule(phase1_auth=auth_i), machine_cert_authorities=frozenset(cas_i))
    b = member("b", B, rule(phase1_auth=auth_r), machine_cert_authorities=frozenset(cas_r))
    o = go(a, b)
    assert o.secured is secured, o.reason
    events = {(e.host, e.id) for e in o.events}
    assert ({("a", 4651), ("b", 4651)} <= events) if secured else (("a", 4653) in events)


@pytest.mark.parametrize(
    ("key_i", "key_r", "module", "secured"),
    [("s3cret", "s3cret", "Default", True), ("s3cret", "other", "Default", False),
     ("s3cret", "s3cret", "AuthIP", False)],  # PSK is IKE-only (WFP IKEEXT_AUTHENTICATION_METHOD_TYPE)
)
def test_pre_shared_key(key_i: str, key_r: str, module: str, secured: bool) -> None:
    a = member("a", A, rule(key_module=module, phase1_auth=(AuthProposal("PreSharedKey", pre_shared_key=key_i),)))
    b = member("b", B, rule(key_module=module, phase1_auth=(AuthProposal("PreSharedKey", pre_shared_key=key_r),)))
    o = go(a, b)
    assert o.secured is secured, o.reason
    if secured:
        assert o.key_module == "IKEv1"


@pytest.mark.parametrize(("module", "secured"), [("Default", True), ("IKEv1", False), ("IKEv2", False)])
def test_ntlm_needs_authip(module: str, secured: bool) -> None:
    r = rule(key_module=module, phase1_auth=(AuthProposal("Ntlm"),))
    assert go(member("a", A, r), member("b", B, r)).secured is secured


@pytest.mark.parametrize(("fallback", "secured"), [(False, False), (True, True)])
def test_auth_fallback_assumption(fallback: bool, secured: bool) -> None:
    both = (AuthProposal("Kerberos"), CERT_ROOT)
    cas = frozenset({"LabRootCA"})
    a = member("a", A, rule(phase1_auth=both), machine_cert_authorities=cas, domain_joined=False)
    b = member("b", B, rule(phase1_auth=both), machine_cert_authorities=cas)
    ctx = NegotiationContext(dcs=(DC,), assumptions=Assumptions(auth_fallback_on_failure=fallback))
    assert go(a, b, ctx).secured is secured


def test_phase1_auth_falls_back_to_host_default_and_mm_rule() -> None:
    from ipsec_remote.lab.ike import MmRule

    cas = frozenset({"LabRootCA"})
    a = member("a", A, rule(), machine_cert_authorities=cas, default_phase1_auth=(CERT_ROOT,), domain_joined=False)
    b = member("b", B, rule(), machine_cert_authorities=cas,
               mm_rules=(MmRule("mm", remote_address=MEMBERS, phase1_auth=(CERT_ROOT,)),))
    o = go(a, b)
    assert o.secured and o.mm_sa_initiator is not None and o.mm_sa_initiator["LocalFirstId"] == "CN=a"


USER_KERB = (AuthProposal("Kerberos", principal="User"),)


@pytest.mark.parametrize(
    ("p2_i", "p2_r", "module", "secured", "event"),
    [
        (USER_KERB, USER_KERB, "Default", True, 4979),
        (USER_KERB, None, "Default", False, 4983),
        (USER_KERB, USER_KERB, "IKEv1", False, 4653),  # phase-2 auth needs AuthIP
    ],
    ids=["both-user-kerberos", "one-side-only", "ikev1-pinned"],
)
def test_phase2_authentication(p2_i: tuple[AuthProposal, ...] | None, p2_r: tuple[AuthProposal, ...] | None,
                               module: str, secured: bool, event: int) -> None:
    a = member("a", A, rule(key_module=module, phase2_auth=p2_i))
    b = member("b", B, rule(key_module=module, phase2_auth=p2_r))
    o = go(a, b)
    assert o.secured is secured, o.reason
    assert ("a", event) in {(e.host, e.id) for e in o.events}
    if secured:
        assert o.key_module == "AuthIP" and o.mm_sa_initiator is not None
        assert o.mm_sa_initiator["LocalSecondId"] == "LAB\\A$"
