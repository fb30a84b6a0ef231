"""negotiate(): outcomes, events and SA records (windows-behaviour.md §2–§6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipsec_remote.lab.ike import (
    AuthProposal,
    CsRule,
    Flow,
    HostPolicy,
    MmCryptoSet,
    MmProposal,
    MmRule,
    NegotiationContext,
    Outcome,
    QmCryptoSet,
    QmProposal,
    SaTable,
    negotiate,
)

A, B = "10.0.0.10", "10.0.0.20"
MEMBERS = ("10.0.0.10-10.0.0.99",)  # member servers; the DC (10.0.0.5) is outside every rule here
DC = HostPolicy("dc01", ("10.0.0.5",), is_domain_controller=True)
CTX = NegotiationContext(dcs=(DC,))
CERT = (AuthProposal("Certificate", authority="LabRootCA"),)
QM_AES256 = QmCryptoSet((QmProposal("ESP", "AES256", "SHA256"),))
QM_AES128_ONLY = QmCryptoSet((QmProposal("ESP", "AES128", "SHA256"),))
MM_STRONG = MmCryptoSet((MmProposal("AES256", "SHA256", "DH19"),))
MM_OTHER = MmCryptoSet((MmProposal("AES128", "SHA256", "DH14"),))


def rule(inbound: str = "Request", outbound: str = "Request", **kw: object) -> CsRule:
    return CsRule(kw.pop("name", "csr"), inbound_security=inbound, outbound_security=outbound,  # type: ignore[arg-type]
                  remote_address=MEMBERS, **kw)  # type: ignore[arg-type]


def pair(ri: CsRule | None, rr: CsRule | None, hi: dict[str, object] | None = None,
         hr: dict[str, object] | None = None) -> tuple[HostPolicy, HostPolicy]:
    a = HostPolicy("a", (A,), cs_rules=(ri,) if ri else (), machine_cert_authorities=frozenset({"LabRootCA"}))
    b = HostPolicy("b", (B,), cs_rules=(rr,) if rr else (), machine_cert_authorities=frozenset({"LabRootCA"}))
    return replace(a, **(hi or {})), replace(b, **(hr or {}))  # type: ignore[arg-type]


def run(ri: CsRule | None, rr: CsRule | None, hi: dict[str, object] | None = None,
        hr: dict[str, object] | None = None, table: SaTable | None = None, now: float = 0.0) -> Outcome:
    a, b = pair(ri, rr, hi, hr)
    return negotiate(a, b, Flow("a", A, B, "TCP", 50000, 445), CTX, now, table)


def ids(o: Outcome) -> set[tuple[str, int]]:
    return {(e.host, e.id) for e in o.events}


REQ = rule()
REQUIRE = rule("Require", "Require")
REQUIRE_IN = rule("Require", "Request")

# id, initiator rule, responder rule, initiator host changes, responder host changes,
# delivered, secured, expected events (host, id), forbidden events
SCENARIOS = [
    ("request-request", REQ, REQ, {}, {}, True, True, {("a", 4650), ("b", 4650), ("a", 5451), ("b", 5451)}, set()),
    ("require-require", REQUIRE, REQUIRE, {}, {}, True, True, {("a", 5451), ("b", 5451)}, set()),
    ("qm-mismatch-request", rule(qm_crypto=QM_AES256), rule(qm_crypto=QM_AES128_ONLY), {}, {}, True, False,
     {("a", 4654), ("b", 4654)}, {("a", 5451)}),
    ("qm-mismatch-require", rule("Require", "Require", qm_crypto=QM_AES256),
     rule("Require", "Require", qm_crypto=QM_AES128_ONLY), {}, {}, False, False, {("a", 4654), ("b", 4654)},
     {("b", 4963)}),
    ("qm-mismatch-responder-require-in", rule(qm_crypto=QM_AES256),
     rule("Require", "Request", qm_crypto=QM_AES128_ONLY), {}, {}, False, False, {("a", 4654), ("b", 4963)}, set()),
    ("pfs-mismatch", rule(qm_crypto=replace(QM_AES256, pfs_group="DH14")), rule(qm_crypto=QM_AES256), {}, {},
     True, False, {("a", 4654), ("b", 4654)}, set()),
    ("mm-mismatch", rule(key_module="IKEv1"), rule(key_module="IKEv1"), {"default_mm_crypto": MM_STRONG},
     {"default_mm_crypto": MM_OTHER}, True, False, {("a", 4653), ("b", 4653)}, {("a", 4650)}),
    ("mm-mismatch-require", REQUIRE, REQUIRE, {"default_mm_crypto": MM_STRONG}, {"default_mm_crypto": MM_OTHER},
     False, False, {("a", 4653), ("b", 4653)}, {("b", 4963)}),
    ("ikeext-off-responder-request", REQ, REQ, {}, {"ikeext_running": False}, True, False,
     {("b", 5453), ("a", 4653)}, set()),
    ("ikeext-off-responder-require", REQUIRE, REQUIRE, {}, {"ikeext_running": False}, False, False,
     {("b", 5453)}, set()),
    ("ikeext-off-initiator", REQ, REQUIRE_IN, {"ikeext_running": False}, {}, False, False,
     {("a", 5453), ("b", 4963)}, {("a", 4653)}),
    ("responder-no-rule-request", REQ, None, {}, {}, True, False, {("a", 4653)}, {("b", 4653)}),
    ("responder-no-rule-require", REQUIRE, None, {}, {}, False, False, {("a", 4653)}, set()),
    ("initiator-no-rule-responder-require", None, REQUIRE, {}, {}, False, False, {("b", 4963)}, set()),
    ("initiator-no-rule-responder-request", None, REQ, {}, {}, True, False, set(), {("b", 4963)}),
    ("neither-has-rules", None, None, {}, {}, True, False, set(), set()),
    ("responder-exempts-initiator-requires", REQUIRE, rule("None", "None"), {}, {}, False, False,
     {("a", 4653)}, set()),
    ("responder-firewall-off", REQ, REQ, {}, {"firewall_enabled": False}, True, False, {("a", 4653)}, set()),
    ("ikev2-kerberos", rule(key_module="IKEv2"), rule(key_module="IKEv2"), {}, {}, True, False,
     {("a", 4653), ("b", 4653)}, set()),
    ("ikev2-certificates", rule(key_module="IKEv2", phase1_auth=CERT), rule(key_module="IKEv2", phase1_auth=CERT),
     {}, {}, True, True, {("a", 4651), ("b", 4651), ("a", 5451)}, {("a", 4650)}),
    ("ikev2-vs-2022-default", rule(key_module="IKEv2", phase1_auth=CERT), rule(phase1_auth=CERT), {}, {}, True,
     False, {("a", 4653), ("b", 4653)}, set()),
    ("authip-vs-ikev1-pinned", rule(key_module="AuthIP"), rule(key_module="IKEv1"), {}, {}, True, False,
     {("a", 4653)}, set()),
]


@pytest.mark.parametrize(
    ("ri", "rr", "hi", "hr", "delivered", "secured", "expected", "forbidden"),
    [pytest.param(*s[1:], id=s[0]) for s in SCENARIOS],
)
def test_scenarios(ri: CsRule | None, rr: CsRule | None, hi: dict[str, object], hr: dict[str, object],
                   delivered: bool, secured: bool, expected: set[tuple[str, int]],
                   forbidden: set[tuple[str, int]]) -> None:
    o = run(ri, rr, hi, hr)
    assert (o.delivered, o.secured) == (delivered, secured), o.reason
    assert expected <= ids(o), o.events
    assert not (forbidden & ids(o)), o.events
    if not secured:
        assert o.qm_sa_initiator is None and o.qm_sa_responder is None


def test_success_records_builtin_defaults_on_both_ends() -> None:
    o = run(REQ, REQ)
    assert o.key_module == "AuthIP"  # Default/Default on 2022: AuthIP preferred (documented)
    mi, mr, qi, qr = o.mm_sa_initiator, o.mm_sa_responder, o.qm_sa_initiator, o.qm_sa_responder
    assert mi is not None and mr is not None and qi is not None and qr is not None
    # Built-in MM: DH2-AES128-SHA1; AuthIP with Kerberos does no DH exchange → GroupId 0.
    assert (mi["CipherAlgorithm"], mi["HashAlgorithm"], mi["GroupId"], mi["KeyModule"]) == (65001, 3, 0, 1)
    assert (mi["LocalEndpoint"], mi["RemoteEndpoint"]) == (A, B)
    assert (mr["LocalEndpoint"], mr["RemoteEndpoint"]) == (B, A)
    assert (mi["LocalFirstId"], mi["RemoteFirstId"]) == (mr["RemoteFirstId"], mr["LocalFirstId"])
    assert (qi["FirstTransformType"], qi["FirstCipherAlgorithm"], qi["FirstIntegrityAlgorithm"]) == (4, 65001, 3)
    assert qi["MmSaId"] == int(str(mi["Name"])) and qr["MmSaId"] == int(str(mr["Name"]))
    assert (qi["IpProtocol"], qi["LocalPort"], qi["RemotePort"], qi["PfsGroupId"]) == (0, 0, 0, 0)
    assert (qr["LocalEndpoint"], qr["RemoteEndpoint"]) == (B, A)


def test_negotiated_algorithms_ikev1_custom_sets() -> None:
    mm = MmCryptoSet((MmProposal("AES128", "SHA1", "DH2"), MmProposal("AES256", "SHA256", "DH19")))
    qm = QmCryptoSet((QmProposal("ESP", "AESGCM256", "AESGMAC256"), QmProposal("ESP", "AES256", "SHA256")),
                     pfs_group="DH19")
    ri = rule(key_module="IKEv1", qm_crypto=qm, protocol="TCP", remote_port=("445",))
    rr = rule(key_module="IKEv1", qm_crypto=replace(qm, proposals=qm.proposals[1:]), protocol="TCP",
              local_port=("445",))
    o = run(ri, rr, {"default_mm_crypto": mm}, {"default_mm_crypto": MM_STRONG})
    assert o.secured and o.key_module == "IKEv1"
    mi, qi, qr = o.mm_sa_initiator, o.qm_sa_initiator, o.qm_sa_responder
    assert mi is not None and qi is not None and qr is not None
    # First initiator proposal the responder has: AES256/SHA256/DH19.
    assert (mi["CipherAlgorithm"], mi["HashAlgorithm"], mi["GroupId"], mi["KeyModule"]) == (65003, 65001, 19, 0)
    assert (qi["FirstCipherAlgorithm"], qi["FirstIntegrityAlgorithm"], qi["PfsGroupId"]) == (65003, 65001, 19)
    assert (qi["IpProtocol"], qi["LocalPort"], qi["RemotePort"]) == (6, 0, 445)
    assert (qr["IpProtocol"], qr["LocalPort"], qr["RemotePort"]) == (6, 445, 0)


def test_mm_rule_crypto_overrides_default() -> None:
    mm_rule = MmRule("mm", remote_address=MEMBERS, mm_crypto=MM_STRONG)
    o = run(rule(key_module="IKEv1"), rule(key_module="IKEv1"), {"mm_rules": (mm_rule,), "default_mm_crypto": MM_OTHER},
            {"default_mm_crypto": MM_STRONG})
    assert o.secured and o.mm_sa_initiator is not None and o.mm_sa_initiator["GroupId"] == 19


def test_authip_force_dh_uses_group() -> None:
    forced = replace(MM_STRONG, force_diffie_hellman=True)
    o = run(REQ, REQ, {"default_mm_crypto": forced}, {"default_mm_crypto": MM_STRONG})
    assert o.key_module == "AuthIP" and o.mm_sa_initiator is not None and o.mm_sa_initiator["GroupId"] == 19


def test_authip_offers_only_top_proposal() -> None:
    # Documented: AuthIP uses only the top encryption+integrity combination, so a match on the 2nd fails.
    two = MmCryptoSet((MmProposal("AES256", "SHA384", "DH20"), MmProposal("AES128", "SHA256", "DH14")))
    o = run(REQ, REQ, {"default_mm_crypto": two}, {"default_mm_crypto": MM_OTHER})
    assert not o.secured and ("a", 4653) in ids(o)
    o = run(rule(key_module="IKEv1"), rule(key_module="IKEv1"), {"default_mm_crypto": two},
            {"default_mm_crypto": MM_OTHER})
    assert o.secured


def test_ah_esp_transforms() -> None:
    qm = QmCryptoSet((QmProposal("AH,ESP", "AES256", "SHA256", "SHA256"),))
    o = run(rule(qm_crypto=qm), rule(qm_crypto=qm))
    q = o.qm_sa_initiator
    assert q is not None
    assert (q["FirstTransformType"], q["FirstIntegrityAlgorithm"], q["FirstCipherAlgorithm"]) == (1, 65001, 0)
    assert (q["SecondTransformType"], q["SecondCipherAlgorithm"]) == (4, 65003)


def test_ikev2_skips_ah() -> None:
    qm = QmCryptoSet((QmProposal("AH", "None", "None", "SHA256"),))
    ri = rule(key_module="IKEv2", phase1_auth=CERT, qm_crypto=qm)
    o = run(ri, ri)
    assert not o.secured and ("a", 4654) in ids(o)


def test_qm_failure_keeps_mm_sa() -> None:
    table = SaTable()
    o = run(rule(qm_crypto=QM_AES256), rule(qm_crypto=QM_AES128_ONLY), table=table)
    assert not o.secured and o.mm_sa_initiator is not None
    assert len(table.mm_sas("a", 0)) == 1 and table.qm_sas("a", 0) == [] and table.qm_sas("b", 0) == []


@pytest.mark.parametrize(
    ("os_i", "os_r", "auth", "module"),
    [
        ("2022", "2022", None, "AuthIP"),
        ("2019", "2016", None, "AuthIP"),
        ("2025", "2022", None, "IKEv1"),
        ("2025", "2025", None, "IKEv1"),  # Kerberos: IKEv2 cannot carry it
        ("2025", "2025", CERT, "IKEv2"),  # assumption: IKEv2 preferred over IKEv1
        ("2025", "2022", CERT, "IKEv1"),
        ("2025", "2025", (AuthProposal("Ntlm"),), "AuthIP"),  # 2025 adds AuthIP when the auth needs it
    ],
)
def test_default_key_module_by_os(os_i: str, os_r: str, auth: tuple[AuthProposal, ...] | None,
                                  module: str) -> None:
    o = run(rule(phase1_auth=auth), rule(phase1_auth=auth), {"os_version": os_i}, {"os_version": os_r})
    assert o.secured, o.reason
    assert o.key_module == module


@pytest.mark.parametrize(
    ("km_i", "km_r", "module"),
    [("Default", "IKEv1", "IKEv1"), ("AuthIP", "Default", "AuthIP"), ("IKEv1", "IKEv1", "IKEv1")],
)
def test_pinned_key_module_against_default(km_i: str, km_r: str, module: str) -> None:
    o = run(rule(key_module=km_i), rule(key_module=km_r))
    assert o.secured and o.key_module == module
    assert o.mm_sa_initiator is not None and o.mm_sa_initiator["GroupId"] == (0 if module == "AuthIP" else 2)


@pytest.mark.parametrize(("match", "secured", "mode_code"), [(True, True, 2), (False, False, None)])
def test_tunnel_rule_assumption(match: bool, secured: bool, mode_code: int | None) -> None:
    from ipsec_remote.lab.ike import Assumptions

    tunnel = rule(mode="Tunnel")
    a, b = pair(tunnel, tunnel)
    ctx = replace(CTX, assumptions=Assumptions(tunnel_rules_match=match))
    o = negotiate(a, b, Flow("a", A, B, "TCP", 50000, 445), ctx)
    assert o.secured is secured
    assert (o.qm_sa_initiator or {}).get("EncapsulationMode") == mode_code
