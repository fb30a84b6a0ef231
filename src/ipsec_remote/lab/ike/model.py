"""Input and output values of the pure IKE negotiation model.

The host layer adapts its policy view to these frozen dataclasses; nothing here knows about stores,
cmdlets or the network.  Enumerated strings use the NetSecurity cmdlet enum names
(``shared/reference/netsecurity.json``), e.g. ``"AES256"``, ``"SHA256"``, ``"DH19"``, ``"ESP"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Security = Literal["None", "Request", "Require"]
KeyModuleName = Literal["Default", "IKEv1", "AuthIP", "IKEv2"]
NegotiatedModule = Literal["IKEv1", "AuthIP", "IKEv2"]
Direction = Literal["inbound", "outbound"]
AuthMethod = Literal["Kerberos", "Certificate", "PreSharedKey", "Ntlm", "Anonymous"]


@dataclass(frozen=True)
class MmProposal:
    """One New-NetIPsecMainModeCryptoProposal (enum names as the cmdlet takes them)."""

    encryption: str = "AES256"  # cmdlet default per reference: AES256
    hash: str = "SHA384"  # cmdlet default per reference: SHA384
    key_exchange: str = "None"  # cmdlet default per reference: None


@dataclass(frozen=True)
class MmCryptoSet:
    """A main-mode crypto set: ordered proposals plus the set-level options that matter here."""

    proposals: tuple[MmProposal, ...]
    force_diffie_hellman: bool = False  # PS-Copy/New-NetIPsecMainModeCryptoSet -ForceDiffieHellman
    max_sessions: int = 0  # -MaxSessions, 0 = no limit (documented default)


@dataclass(frozen=True)
class QmProposal:
    """One New-NetIPsecQuickModeCryptoProposal; ``encapsulation`` is "ESP", "AH" or "AH,ESP"."""

    encapsulation: str = "ESP"
    encryption: str = "None"
    esp_hash: str = "None"
    ah_hash: str = "None"


@dataclass(frozen=True)
class QmCryptoSet:
    """A quick-mode crypto set; PFS lives on the set, not the proposal (netsecurity-notes §1 #1)."""

    proposals: tuple[QmProposal, ...]
    pfs_group: str = "None"  # -PerfectForwardSecrecyGroup; documented default None (KB949856 qmpfs)


@dataclass(frozen=True)
class AuthProposal:
    """One New-NetIPsecAuthProposal.

    ``principal`` is "Machine" or "User" (the cmdlet's -Machine/-User switches).  ``authority`` is the
    CA name for certificates (None = any CA the verifier trusts), ``pre_shared_key`` the PSK text.
    """

    method: AuthMethod
    principal: Literal["Machine", "User"] = "Machine"
    authority: str | None = None
    authority_type: Literal["Root", "Intermediate"] = "Root"
    pre_shared_key: str | None = None


@dataclass(frozen=True)
class CsRule:
    """A connection security rule as enforced (ActiveStore view).

    Address entries: "Any", an IP, a CIDR, a range "a-b", or the keyword "LocalSubnet".  Port entries:
    "Any", a number, or a range "a-b".  ``protocol``: "Any", "TCP", "UDP", "ICMPv4", "ICMPv6" or a number.
    ``None`` sets mean "use the host default" (PS-New-NetIPsecRule: rules without sets use defaults).
    """

    name: str
    enabled: bool = True
    mode: Literal["Transport", "Tunnel"] = "Transport"
    inbound_security: Security = "Request"
    outbound_security: Security = "Request"
    local_address: tuple[str, ...] = ("Any",)
    remote_address: tuple[str, ...] = ("Any",)
    protocol: str = "Any"
    local_port: tuple[str, ...] = ("Any",)
    remote_port: tuple[str, ...] = ("Any",)
    key_module: KeyModuleName = "Default"
    qm_crypto: QmCryptoSet | None = None
    phase1_auth: tuple[AuthProposal, ...] | None = None
    phase2_auth: tuple[AuthProposal, ...] | None = None

    @property
    def is_exemption(self) -> bool:
        """None/None is the authentication-exemption pair (PS-New-NetIPsecRule -OutboundSecurity)."""
        return self.inbound_security == "None" and self.outbound_security == "None"


@dataclass(frozen=True)
class MmRule:
    """A main-mode rule: address scope only, no ports/protocol (windows-behaviour.md §8)."""

    name: str
    enabled: bool = True
    local_address: tuple[str, ...] = ("Any",)
    remote_address: tuple[str, ...] = ("Any",)
    mm_crypto: MmCryptoSet | None = None
    phase1_auth: tuple[AuthProposal, ...] | None = None


@dataclass(frozen=True)
class HostPolicy:
    """Everything about one host that the negotiation depends on.

    ``addresses[0]`` is the primary address (used to reach DCs).  ``clock_skew_s`` is the host clock's
    offset from true time.  ``exemptions`` holds Set-NetFirewallSetting -Exemptions flag names; the
    documented local default since Win7/2008 R2 is NeighborDiscovery,Dhcp (windows-behaviour.md §2).
    Default crypto/auth sets of None mean the Windows built-ins (``proposals.BUILTIN_*``).
    """

    name: str
    addresses: tuple[str, ...]
    os_version: Literal["2016", "2019", "2022", "2025"] = "2022"
    ikeext_running: bool = True
    bfe_running: bool = True
    mpssvc_running: bool = True
    firewall_enabled: bool = True
    domain_joined: bool = True
    domain: str | None = "lab.local"
    clock_skew_s: float = 0.0
    machine_cert_authorities: frozenset[str] = frozenset()
    cs_rules: tuple[CsRule, ...] = ()
    mm_rules: tuple[MmRule, ...] = ()
    default_mm_crypto: MmCryptoSet | None = None
    default_qm_crypto: QmCryptoSet | None = None
    default_phase1_auth: tuple[AuthProposal, ...] | None = None
    default_phase2_auth: tuple[AuthProposal, ...] | None = None
    exemptions: frozenset[str] = frozenset({"NeighborDiscovery", "Dhcp"})
    is_domain_controller: bool = False
    local_subnets: tuple[str, ...] = ()
    max_sa_idle_time_s: int = 300  # Set-NetFirewallSetting -MaxSAIdleTimeSeconds default 300


@dataclass(frozen=True)
class Flow:
    """One connection attempt from ``src_host`` (the initiator).  Ports are ignored for non-TCP/UDP."""

    src_host: str
    src_address: str
    dst_address: str
    protocol: str = "TCP"
    src_port: int = 49152
    dst_port: int = 445


@dataclass(frozen=True)
class Assumptions:
    """Every behaviour Windows does not document, as a named, configurable choice.

    Each field below is an ASSUMPTION of the lab, not a documented Windows fact; the docstrings say what
    is known and why the default was picked (see windows-behaviour.md for the sources).
    """

    tie_break: Literal["most_restrictive", "least_restrictive", "first_listed", "error"] = "most_restrictive"
    """ASSUMPTION: two matching CS rules of equal specificity with different actions (§1: no documented
    outcome).  "most_restrictive" picks the rule whose security in the flow's direction is strongest."""

    address_size_breaks_ties: bool = True
    """ASSUMPTION: among rules with the same number of matching criteria, the one covering fewer addresses
    is more specific ([community] Win7 Resource Kit "more matching criteria"; [historical] legacy
    most-specific-first ordering; WFP auto-weighting favours more specific filters)."""

    tunnel_rules_match: bool = True
    """ASSUMPTION (simplification): the lab has no tunnel gateways, so a Tunnel-mode rule is matched on its
    addresses like a transport rule (its QM SA then shows the Tunnel mode code); False = ignore such rules."""

    unknown_keyword_matches: bool = False
    """ASSUMPTION: address/port keywords the lab cannot resolve (DNS, Intranet, RPC, …) match nothing."""

    bfe_down_means_no_policy: bool = True
    """ASSUMPTION: with BFE stopped no IPsec policy is enforced (docs only say 'unpredictable behavior')."""

    mpssvc_down_means_no_policy: bool = True
    """ASSUMPTION: stopping MpsSvc (unsupported) behaves like disabling the firewall, which is documented
    to lose the ability to use connection security rules."""

    module_preference: tuple[NegotiatedModule, ...] = ("AuthIP", "IKEv2", "IKEv1")
    """AuthIP first is documented (WFP negotiation discovery: 'AuthIP is the preferred keying module').
    ASSUMPTION: IKEv2 before IKEv1 when both are common (2025 Default) — undocumented."""

    phase1_auth_source: Literal["cs_rule_first", "mm_rule_first"] = "cs_rule_first"
    """ASSUMPTION: precedence between a CS rule's Phase1AuthSet and a matching MM rule's (§8 undocumented).
    Either way, unset sets fall back to the host default, then to the built-in (machine Kerberos)."""

    auth_fallback_on_failure: bool = False
    """ASSUMPTION: after the first common auth method fails its credential check, do not retry the next
    common method (IKE responder selects one method; Windows retry behaviour is undocumented)."""

    cs_rule_endpoints: Literal["local_remote", "mirrored"] = "local_remote"
    """How a rule's -LocalAddress/-RemoteAddress (MS-FASP Endpoint1/Endpoint2) meet a flow. The WS2008 WFAS
    help says a connection security rule "will apply to communications between any computer in Endpoint 1
    and any computer in Endpoint 2" (cc811531, windows-behaviour.md §9), which reads as symmetric; the
    cmdlets call the endpoints local and remote, and whether Windows today also matches a host found in
    Endpoint 2 (ports swapped with the addresses) is not stated. ASSUMPTION: "local_remote" = the host's
    address must be in -LocalAddress (as the names say); "mirrored" = either orientation matches."""

    kdc_reachability: Literal["all", "any"] = "all"
    """ASSUMPTION: Kerberos needs every listed DC ("all", conservative: flags a DC covered by Require as a
    configuration error, §4 inference) or at least one ("any", DC locator fails over)."""

    ntlm_needs_domain: bool = True
    """ASSUMPTION: NTLM (AuthIP only) succeeds when both hosts are joined to the same domain."""

    responder_without_rule_logs_4653: bool = False
    """A responder with no (non-exempt) CS rule for the flow has no IPsec policy for it, so the initiator's
    negotiation fails [inference].  ASSUMPTION: only the initiator audits it (4653); True = both do."""

    keep_mm_sa_after_qm_failure: bool = True
    """ASSUMPTION: a failed quick mode leaves the already established MM SA in place (QM runs inside the MM
    SA, PS-Get-NetIPsecQuickModeSA; whether Windows tears it down is undocumented)."""

    ikeext_down_peer_logs_4653: bool = True
    """ASSUMPTION: when the responder's IKEEXT is down the initiator gets no answer and logs 4653."""

    qm_sa_granularity: Literal["rule", "flow"] = "rule"
    """ASSUMPTION (§6 undocumented): one QM SA per (initiator rule, responder rule, address pair) covering
    every flow of that rule pair ("rule"), or one per 5-tuple ("flow")."""

    mm_sa_idle_expiry: bool = True
    """ASSUMPTION (§6): MM SAs use the same MaxSAIdleTimeSeconds idle timer as QM SAs."""

    delete_notifies_peer: bool = True
    """ASSUMPTION: Remove-NetIPsec*SA on one host also removes the peer's SAs (IKE delete notification)."""

    sa_key_module_codes: tuple[tuple[str, int], ...] = (("IKEv1", 0), ("AuthIP", 1), ("IKEv2", 2))
    """ASSUMPTION: MSFT_NetMainModeSA.KeyModule numbers.  The reference marks them UNVERIFIED: only the
    WFP IKEEXT_KEY_MODULE_TYPE (IKE=0, AuthIP=1, IKEv2=2) is documented, not this property's mapping."""

    em_success_event: int = 4979
    """ASSUMPTION: the Extended Mode success event (4979–4982 differ by certificate use; lab emits one)."""


@dataclass(frozen=True)
class NegotiationContext:
    """Fleet-level facts: the domain controllers and the Kerberos clock tolerance."""

    dcs: tuple[HostPolicy, ...] = ()
    kerberos_max_skew_s: float = 300.0  # "Maximum tolerance for computer clock synchronization" = 5 min
    assumptions: Assumptions = field(default_factory=Assumptions)
    # Seconds from the first packet to a negotiated MM + QM SA (the latency model's ike_negotiation_s; 0 =
    # at once). A QM SA inside a live MM SA takes no time of its own (a small fraction of a main mode).
    negotiation_s: float = 0.0


class Event(NamedTuple):
    """A Security-log audit event raised on ``host`` (netsecurity.json ``events``)."""

    host: str
    id: int
    message: str


@dataclass(frozen=True)
class Outcome:
    """What happened to a flow.  SA records are dicts with MSFT_Net*ModeSA property names, each from the
    named side's perspective; ``reused`` means an existing SA carried the flow (no negotiation)."""

    delivered: bool
    secured: bool
    reason: str
    events: tuple[Event, ...] = ()
    key_module: NegotiatedModule | None = None
    initiator_rule: str | None = None
    responder_rule: str | None = None
    mm_sa_initiator: dict[str, object] | None = None
    mm_sa_responder: dict[str, object] | None = None
    qm_sa_initiator: dict[str, object] | None = None
    qm_sa_responder: dict[str, object] | None = None
    reused: bool = False
    # When the flow's SAs are negotiated (the ``now`` given when no wait), and whether its first packet went
    # in clear meanwhile and was accepted (negotiation discovery: Request out, not Require in).
    ready_at: float = 0.0
    clear_first: bool = False
