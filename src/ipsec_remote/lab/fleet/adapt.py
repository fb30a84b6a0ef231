"""The host model's policy view (``host.policy``) translated into the IKE model's inputs (``ike.model``).

The two packages were built apart on purpose: the host knows stores and cmdlets, the IKE model knows
negotiation. Only this module knows both. Proposal dicts carry the proposal cmdlets' parameter names and
enum names (``{"Encryption": "AES256", "Hash": "SHA256", "KeyExchange": "DH19"}``), which are exactly
the IKE model's enum strings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal, cast

from ..host.policy import CsRuleView, HostPolicyView, MmRuleView, SetView
from ..ike import AuthProposal, CsRule, HostPolicy, MmCryptoSet, MmProposal, MmRule, QmCryptoSet, QmProposal
from ..ike.model import AuthMethod, KeyModuleName, Security

# The documented switch of New-NetIPsecAuthProposal for each IKE authentication method.
_METHOD_SWITCHES: tuple[tuple[str, AuthMethod], ...] = (
    ("Kerberos", "Kerberos"), ("Cert", "Certificate"), ("Ntlm", "Ntlm"), ("Anonymous", "Anonymous"),
)


_MODULES = ("IKEv1", "AuthIP", "IKEv2")


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def mm_crypto(view: SetView | None) -> MmCryptoSet | None:
    if view is None or not view.proposals:
        return None
    proposals = tuple(
        MmProposal(str(p.get("Encryption", "AES256")), str(p.get("Hash", "SHA384")), str(p.get("KeyExchange", "None")))
        for p in view.proposals
    )
    return MmCryptoSet(
        proposals,
        force_diffie_hellman=_true(view.options.get("ForceDiffieHellman")),
        max_sessions=_int(view.options.get("MaxSessions"), 0),
    )


def uses_sha384(proposal: Mapping[str, Any]) -> bool:
    """A quick-mode proposal whose AH or ESP integrity is SHA384 (for the transform it actually carries)."""
    encap = [e.strip().upper() for e in str(proposal.get("Encapsulation", "ESP")).split(",")]
    return (("ESP" in encap and str(proposal.get("ESPHash")) == "SHA384")
            or ("AH" in encap and str(proposal.get("AHHash")) == "SHA384"))


def qm_crypto(view: SetView | None) -> QmCryptoSet | None:
    if view is None or not view.proposals:
        return None
    proposals = tuple(
        QmProposal(
            encapsulation=str(p.get("Encapsulation", "ESP")).replace(" ", ""),
            encryption=str(p.get("Encryption", "None")),
            esp_hash=str(p.get("ESPHash", "None")),
            ah_hash=str(p.get("AHHash", "None")),
        )
        for p in view.proposals
        # IPsec has no SHA-384 integrity (WFP IPSEC_AUTH_TYPE): a stored proposal using it never negotiates
        # (HostAssumptions.qm_sha384 = "never_negotiated"; "refused" never stores it).
        if not uses_sha384(p)
    )
    return QmCryptoSet(proposals, pfs_group=str(view.options.get("PerfectForwardSecrecyGroup") or "None"))


def auth_set(view: SetView | None) -> tuple[AuthProposal, ...] | None:
    if view is None or not view.proposals:
        return None
    out: list[AuthProposal] = []
    for p in view.proposals:
        method: AuthMethod | None = next((m for switch, m in _METHOD_SWITCHES if _true(p.get(switch))), None)
        if method is None and p.get("PreSharedKey"):
            method = "PreSharedKey"
        if method is None:
            continue  # a proposal the lab cannot use (e.g. Health certificates) offers nothing
        authority_type: Literal["Root", "Intermediate"] = (
            "Intermediate" if str(p.get("AuthorityType")) == "Intermediate" else "Root"
        )
        out.append(AuthProposal(
            method=method,
            principal="User" if _true(p.get("User")) else "Machine",
            authority=str(p["Authority"]) if p.get("Authority") else None,
            authority_type=authority_type,
            pre_shared_key=str(p["PreSharedKey"]) if p.get("PreSharedKey") else None,
        ))
    return tuple(out) or None


def cs_rule(view: CsRuleView) -> CsRule:
    mode: Literal["Transport", "Tunnel"] = "Tunnel" if view.mode == "Tunnel" else "Transport"
    return CsRule(
        name=view.name,
        mode=mode,
        inbound_security=cast(Security, view.inbound_security),
        outbound_security=cast(Security, view.outbound_security),
        local_address=view.local_address or ("Any",),
        remote_address=view.remote_address or ("Any",),
        protocol=view.protocol or "Any",
        local_port=view.local_port or ("Any",),
        remote_port=view.remote_port or ("Any",),
        key_module=cast(KeyModuleName, view.key_module if view.key_module in _MODULES else "Default"),
        qm_crypto=qm_crypto(view.qm_crypto_set),
        phase1_auth=auth_set(view.phase1_auth_set),
        phase2_auth=auth_set(view.phase2_auth_set),
    )


def mm_rule(view: MmRuleView) -> MmRule:
    return MmRule(
        name=view.name,
        local_address=view.local_address or ("Any",),
        remote_address=view.remote_address or ("Any",),
        mm_crypto=mm_crypto(view.mm_crypto_set),
        phase1_auth=auth_set(view.phase1_auth_set),
    )


def host_policy(view: HostPolicyView, is_dc: bool, subnet_prefix: int) -> HostPolicy:
    """``subnet_prefix``: the lab's ASSUMPTION for what the ``LocalSubnet`` keyword covers (the network
    each address sits in); real hosts take it from their interfaces' prefixes."""

    def running(service: str) -> bool:
        state = view.services.get(service)
        return state is None or state.running

    subnets = tuple(str(ipaddress.ip_interface(f"{a}/{subnet_prefix}").network) for a in view.addresses
                    if ipaddress.ip_address(a).version == 4)
    os_version = cast(Literal["2016", "2019", "2022", "2025"],
                      view.os_version if view.os_version in ("2016", "2019", "2022", "2025") else "2022")
    return HostPolicy(
        name=view.host,
        addresses=view.addresses,
        os_version=os_version,
        ikeext_running=running("IKEEXT"),
        bfe_running=running("BFE"),
        mpssvc_running=running("MpsSvc"),
        firewall_enabled=view.firewall_enabled,
        domain_joined=view.domain_joined,
        domain=view.domain,
        clock_skew_s=view.clock_skew_s,
        machine_cert_authorities=frozenset({view.machine_cert_ca}) if view.machine_cert_ca else frozenset(),
        cs_rules=tuple(cs_rule(r) for r in view.cs_rules),
        mm_rules=tuple(mm_rule(r) for r in view.mm_rules),
        default_mm_crypto=mm_crypto(view.default_mm_crypto),
        default_qm_crypto=qm_crypto(view.default_qm_crypto),
        default_phase1_auth=auth_set(view.default_phase1_auth),
        default_phase2_auth=auth_set(view.default_phase2_auth),
        exemptions=view.exemptions,
        is_domain_controller=is_dc,
        local_subnets=subnets,
        max_sa_idle_time_s=view.max_sa_idle_time_s,
    )
