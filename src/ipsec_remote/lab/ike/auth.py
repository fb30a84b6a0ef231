"""Key-module choice and authentication (windows-behaviour.md §4, §5).

Method ↔ module support, documented:
* PS-New-NetIPsecRule -KeyModule: IKEv1 = PSK, certificates, Kerberos, phase-1 only; AuthIP needed for
  phase-2 auth; IKEv2 "Not supported with Kerberos, PSK, or NTLM", phase-1 only.
* WFP IKEEXT_AUTHENTICATION_METHOD_TYPE: PSK "available only for IKE"; certificate "IKE and IKEv2"
  (AuthIP carries certificates as its SSL/TLS method); anonymous and NTLMv2 "only for AuthIP".
* User (second) Kerberos is not supported by IKEv1 (FW-configure-authentication-methods).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ipsec_remote.lab.ike.matching import effective_rule
from ipsec_remote.lab.ike.model import (
    AuthMethod,
    AuthProposal,
    CsRule,
    Flow,
    HostPolicy,
    MmRule,
    NegotiatedModule,
    NegotiationContext,
)
from ipsec_remote.lab.ike.proposals import BUILTIN_PHASE1_AUTH

_MODULE_METHODS: dict[NegotiatedModule, frozenset[AuthMethod]] = {
    "IKEv1": frozenset({"Kerberos", "Certificate", "PreSharedKey"}),
    "AuthIP": frozenset({"Kerberos", "Certificate", "Ntlm", "Anonymous"}),
    "IKEv2": frozenset({"Certificate"}),
}
KERBEROS_PORT = 88  # KB244474: Vista/2008+ reach the KDC over TCP 88 first


def phase1_auth(
    policy: HostPolicy, rule: CsRule, mm_rule: MmRule | None, ctx: NegotiationContext
) -> tuple[AuthProposal, ...]:
    """The phase-1 auth proposals a side uses: rule / MM rule (order = ``Assumptions.phase1_auth_source``),
    then the host default set ({…FE3}), then the built-in machine Kerberos (windows-behaviour.md §2)."""
    mm = mm_rule.phase1_auth if mm_rule else None
    first, second = (rule.phase1_auth, mm)
    if ctx.assumptions.phase1_auth_source == "mm_rule_first":
        first, second = second, first
    return first or second or policy.default_phase1_auth or BUILTIN_PHASE1_AUTH


def phase2_auth(policy: HostPolicy, rule: CsRule) -> tuple[AuthProposal, ...]:
    """Phase-2 (user) auth: the rule's set, else the host default ({…FE4}); no built-in (undocumented)."""
    return rule.phase2_auth or policy.default_phase2_auth or ()


def offered_modules(
    policy: HostPolicy, rule: CsRule, p1: Sequence[AuthProposal], p2: Sequence[AuthProposal]
) -> frozenset[NegotiatedModule]:
    """Keying modules a side will use for ``rule`` (PS-New-NetIPsecRule -KeyModule).

    Default = IKEv1+AuthIP before Server 2025; on 2025 IKEv1+IKEv2 and AuthIP "only if the authentication
    method(s) require it" — i.e. phase-2 auth, NTLM, anonymous or user principals (AuthIP-only above).
    """
    if rule.key_module != "Default":
        return frozenset({rule.key_module})
    if policy.os_version != "2025":
        return frozenset({"IKEv1", "AuthIP"})
    needs_authip = bool(p2) or any(
        a.method in ("Ntlm", "Anonymous") or a.principal == "User" for a in p1
    )
    return frozenset({"IKEv1", "IKEv2", "AuthIP"} if needs_authip else {"IKEv1", "IKEv2"})


def supports(module: NegotiatedModule, proposal: AuthProposal) -> bool:
    if proposal.principal == "User" and module != "AuthIP":
        return False
    return proposal.method in _MODULE_METHODS[module]


def module_candidates(
    offered_i: frozenset[NegotiatedModule],
    offered_r: frozenset[NegotiatedModule],
    p1_i: Sequence[AuthProposal],
    p1_r: Sequence[AuthProposal],
    needs_phase2: bool,
    ctx: NegotiationContext,
) -> list[NegotiatedModule]:
    """Common modules that can carry the auth, in preference order ("A common keying module will be
    negotiated… AuthIP is the preferred keying module", WFP negotiation discovery; rest: Assumptions).

    AuthIP does not interoperate with IKEv1/IKEv2 (MS-AIPS overview), hence strict intersection.
    Phase-2 auth needs AuthIP (PS-New-NetIPsecRule -KeyModule; FW-configure-with-powershell for IKEv2).
    """
    common = offered_i & offered_r
    out: list[NegotiatedModule] = []
    for module in ctx.assumptions.module_preference:
        if module not in common or (needs_phase2 and module != "AuthIP"):
            continue
        if any(supports(module, a) for a in p1_i) and any(supports(module, a) for a in p1_r):
            out.append(module)
    return out


def first_common_method(
    module: NegotiatedModule, offers_i: Sequence[AuthProposal], offers_r: Sequence[AuthProposal]
) -> AuthProposal | None:
    """The method the exchange will use: the first initiator proposal of a kind the responder lists."""
    for mine in offers_i:
        if supports(module, mine) and any(supports(module, t) and _same_kind(mine, t) for t in offers_r):
            return mine
    return None


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    method: AuthMethod | None
    reason: str
    used_certificate: bool = False


def authenticate(
    module: NegotiatedModule,
    initiator: HostPolicy,
    responder: HostPolicy,
    offers_i: Sequence[AuthProposal],
    offers_r: Sequence[AuthProposal],
    ctx: NegotiationContext,
) -> AuthResult:
    """Pick the first initiator method the responder also lists (initiator order, as for crypto
    proposals) and check the credentials.  Retrying the next method after a failed credential check
    is ``Assumptions.auth_fallback_on_failure``."""
    tried: list[str] = []
    for mine in offers_i:
        if not supports(module, mine):
            continue
        theirs = [t for t in offers_r if supports(module, t) and _same_kind(mine, t)]
        if not theirs:
            continue
        ok, why = verify(mine, theirs, initiator, responder, ctx)
        if ok:
            return AuthResult(True, mine.method, "authenticated", mine.method == "Certificate")
        tried.append(why)
        if not ctx.assumptions.auth_fallback_on_failure:
            break
    if not tried:
        return AuthResult(False, None, f"no common authentication method for {module}")
    return AuthResult(False, None, "; ".join(tried))


def _same_kind(a: AuthProposal, b: AuthProposal) -> bool:
    return a.method == b.method and a.principal == b.principal


def verify(
    mine: AuthProposal,
    theirs: Sequence[AuthProposal],
    initiator: HostPolicy,
    responder: HostPolicy,
    ctx: NegotiationContext,
) -> tuple[bool, str]:
    """Credential check for one method between the two hosts."""
    if mine.method == "Kerberos":
        return kerberos_ok(initiator, responder, ctx)
    if mine.method == "Certificate":
        return certificates_ok(mine, theirs, initiator, responder)
    if mine.method == "PreSharedKey":
        # IKE PSK: both sides must hold the same key (RFC 2409 §5.4).
        if any(t.pre_shared_key == mine.pre_shared_key for t in theirs) and mine.pre_shared_key:
            return True, "psk"
        return False, "pre-shared keys differ"
    if mine.method == "Ntlm":
        if not ctx.assumptions.ntlm_needs_domain or _same_domain(initiator, responder):
            return True, "ntlm"
        return False, "NTLM: hosts are not in the same domain (assumption ntlm_needs_domain)"
    return True, "anonymous"  # MS-AIPS: anonymous = no authentication


def certificates_ok(
    mine: AuthProposal, theirs: Sequence[AuthProposal], initiator: HostPolicy, responder: HostPolicy
) -> tuple[bool, str]:
    """Each side must present a machine certificate from a CA the other side's proposal names
    (New-NetIPsecAuthProposal -Authority; None = any CA).  Checked in both directions."""

    def accepts(authority: str | None, peer: HostPolicy) -> bool:
        if authority is None:
            return bool(peer.machine_cert_authorities)
        return authority in peer.machine_cert_authorities

    for t in theirs:
        if accepts(t.authority, initiator) and accepts(mine.authority, responder):
            return True, "certificate"
    return False, (
        f"certificate: no common CA ({initiator.name} trusts {mine.authority or 'any'}, "
        f"{responder.name} trusts {[t.authority or 'any' for t in theirs]})"
    )


def kerberos_ok(initiator: HostPolicy, responder: HostPolicy, ctx: NegotiationContext) -> tuple[bool, str]:
    """Kerberos needs: both hosts in the same domain (trusts not modelled; "First Authentication"
    cc772400), clocks within the tolerance (5 min default policy), and a KDC reachable in clear."""
    if not _same_domain(initiator, responder):
        return False, "Kerberos: both hosts must be joined to the same domain"
    limit = ctx.kerberos_max_skew_s
    if abs(initiator.clock_skew_s - responder.clock_skew_s) > limit:
        return False, f"Kerberos: clock skew between peers exceeds {limit:g}s"
    for host in (initiator, responder):
        ok, why = kdc_reachable(host, ctx)
        if not ok:
            return False, why
    return True, "kerberos"


def kdc_reachable(host: HostPolicy, ctx: NegotiationContext) -> tuple[bool, str]:
    """Can ``host`` get tickets from a DC without IPsec?

    Documented: Kerberos uses TCP 88 (KB244474) and DCs must be in the exemption list (FW-isolated-domain).
    [inference, §4] A DC whose traffic needs IPsec cannot serve the ticket that IPsec itself needs, so a
    Require rule toward the DC (on the host, outbound) or from the host (on the DC, inbound) cuts Kerberos.
    "all"/"any" DCs: ``Assumptions.kdc_reachability``.  [inference] A DC is its own KDC, so it always can.
    """
    if host.is_domain_controller:
        return True, "local KDC"
    dcs = [dc for dc in ctx.dcs if dc.domain == host.domain and dc.name != host.name]
    if not dcs:
        return False, f"Kerberos: no domain controller for {host.domain} in the lab"
    results = []
    for dc in dcs:
        if abs(host.clock_skew_s - dc.clock_skew_s) > ctx.kerberos_max_skew_s:
            results.append((False, f"Kerberos: {host.name} clock differs from DC {dc.name}"))
            continue
        flow = Flow(host.name, host.addresses[0], dc.addresses[0], "TCP", 49152, KERBEROS_PORT)
        out = effective_rule(host, flow, "outbound", ctx.assumptions)
        into = effective_rule(dc, flow, "inbound", ctx.assumptions)
        if out is not None and out.outbound_security == "Require":
            results.append((False, f"Kerberos: {host.name} requires IPsec toward DC {dc.name} ({out.name})"))
        elif into is not None and into.inbound_security == "Require":
            results.append((False, f"Kerberos: DC {dc.name} requires IPsec from {host.name} ({into.name})"))
        else:
            results.append((True, "kdc"))
    failures = [why for ok, why in results if not ok]
    if ctx.assumptions.kdc_reachability == "any":
        return (True, "kdc") if len(failures) < len(results) else (False, failures[0])
    return (False, failures[0]) if failures else (True, "kdc")


def _same_domain(a: HostPolicy, b: HostPolicy) -> bool:
    return a.domain_joined and b.domain_joined and a.domain is not None and a.domain == b.domain
