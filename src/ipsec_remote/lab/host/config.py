"""How one lab host differs from a fresh, healthy, domain-joined Windows Server 2022 box."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .audit import Setting

# TCP ports a stock Server 2022 answers on: RPC endpoint mapper, SMB, WinRM over HTTP and HTTPS.
DEFAULT_LISTENING_PORTS = (135, 445, 5985, 5986)
# A domain controller answers besides on the KDC's TCP 88 (Kerberos over TCP first since Vista/2008, KB244474,
# windows-behaviour.md §4), LDAP 389 and the global catalog's 3268 (learn.microsoft.com/troubleshoot/
# windows-server/active-directory/specify-server-port-active-directory-powershell-cmdlet).
DC_LISTENING_PORTS = (88, 135, 389, 445, 3268, 5985, 5986)


def default_listening_ports(role: str) -> tuple[int, ...]:
    """What a lab host answers on when the faults file does not say: by its inventory role."""
    return DC_LISTENING_PORTS if role == "domain_controller" else DEFAULT_LISTENING_PORTS


@dataclass(frozen=True)
class HostAssumptions:
    """Host behaviours Windows does not document, as named choices (sources: windows-behaviour.md,
    netsecurity-notes, wfascim-classes.md; each default says why it was picked).

    These are the switches of the faults TOML's ``[assumptions]`` table (lab/fleet/faults.py reads every
    field below by name and type; add a field with its docstring and it is configurable). The product must
    be correct under every setting of every switch.
    """

    type_layer: bool = False
    """Whether NetSecurity output objects carry cmdlet-style alias/script properties (``Name``, ``Group``,
    ``Proposal``, ``Encryption``, display-string ``Enabled``/``InboundSecurity`` shadowing the CIM numbers)
    next to their CIM properties. NetSecurity's types file is not public; transcripts show such members on
    firewall rules only (wfascim-classes.md "Evidence from real use"). False: CIM properties only."""

    mm_sa_delete_cascades: bool = False
    """Whether Remove-NetIPsecMainModeSA also deletes the quick-mode SAs negotiated inside it. Not
    documented: QM SAs are negotiated inside an MM SA (PS-Get-NetIPsecQuickModeSA), but nothing says
    deleting the MM SA removes them. False: they stay until removed or idle."""

    cdxml_sees_script_preference: bool = False
    """Whether a script's ``$ErrorActionPreference = 'Stop'`` reaches the NetSecurity (CDXML) cmdlets it calls.
    They are module functions, which read preferences in their module's scope chain (PowerShell issues 4568
    and 24389): a script run from a file keeps its preference in its script scope; whether a PSRP
    ``AddScript`` runs at global scope (where modules would see it) is not documented. False: only
    ``-ErrorAction`` counts."""

    key_module_default_code: int = 0
    """MSFT_NetConSecRule.KeyModule for the cmdlet value ``Default``: the page lists IKEv1 0x1, AuthIP 0x2,
    IKEv2 0x4 only ("0 is a guess", reference open question). Plausible: 0, 3 (IKEv1|AuthIP), 7."""

    mm_rule_any_profiles_code: int = 0
    """MSFT_NetMainModeRule.Profiles for ``-Profile Any``: that page lists 0 "None" and 0x7 "All", unlike the
    ConSecRule page (0 "Any"). Plausible: 0 or 7."""

    machine_cert_auth_code: int = 65006
    """AuthenticationMethod of a machine-certificate auth proposal: the pages list 65005 twice (user NTLM and
    machine certificate) and never 65006; public code (OneMMC) uses 65006. Plausible: 65006 or 65005."""

    qm_sha384: Literal["refused", "never_negotiated"] = "refused"
    """A quick-mode proposal with AH/ESP hash SHA384: the cmdlet enum accepts it, but IPsec has no SHA-384
    integrity (WFP IPSEC_AUTH_TYPE; MSFT_NetQuickModeSA integrity list; netsecurity-notes). "refused": the
    provider rejects the set (invalid parameter); "never_negotiated": stored, but IKE never picks it."""

    inbound_security_default: Literal["None", "Require"] = "None"
    """New-NetIPsecRule without -InboundSecurity: the PS docs say None, the WFAS PowerShell guide treats a
    DisplayName-only rule as require-in (documented conflict #2). PS docs chosen."""

    rule_enabled_default: Literal["True", "False"] = "True"
    """New-NetIPsec(MainMode)Rule without -Enabled: no documented default; the WFAS tools create rules enabled."""

    mm_max_minutes_default: int = 480
    """MM crypto set -MaxMinutes: PS docs say "4800 minutes (eight hours)", outside their own 0–2879 range;
    480 is the [community] stock value (windows-behaviour §2)."""

    builtin_exemptions: tuple[str, ...] = ("NeighborDiscovery", "Dhcp")
    """IPsec exemptions when no store configures them: documented for Win7/2008 R2; 2012+ unstated."""

    qm_encapsulation_from_hashes: bool = True
    """New-NetIPsecQuickModeCryptoProposal without -Encapsulation: the reference's "None" default builds an
    unusable proposal, so the lab derives ESP/AH from the hashes given (False = keep "None")."""

    gpo_default_set_wins: bool = True
    """A GPO's -Default (GUID-named) set beats the local one; the local one applies even with local rule
    merge off (it is a global setting, not a connection security rule). Undocumented either way."""

    auditpol_text: Literal["english", "localized"] = "english"
    """Whether ``auditpol /get … /r`` prints its "Inclusion Setting" column in the host's language. The
    GUID column is language-neutral; Microsoft does not say whether the setting words are."""

    qm_failure_audit_type: Literal["failure", "success"] = "failure"
    """Event 4654 (QM negotiation failed) is an IPsec Quick Mode event (WFP auditing page); no page marks it
    success or failure. "failure" by analogy with 4652/4653 (F) on the Main Mode page."""

    trigger_utc_datetime: Literal["converted", "wall_clock"] = "converted"
    """New-ScheduledTaskTrigger -At given a DateTime of Kind Utc: the docs do not say how the cmdlet writes
    it into StartBoundary (which is host-local time without an offset, ITrigger::put_StartBoundary).
    "converted" fires at that instant; "wall_clock" takes its digits as host-local time (hours off on a
    host outside UTC). A Local (Get-Date) time fires at its instant either way."""

    system_task_logon_type: Literal["implied", "required"] = "implied"
    """A SYSTEM principal without -LogonType ServiceAccount: undocumented whether Register-ScheduledTask
    fills it in ("implied") or refuses the task ("required")."""

    unregister_running_task: Literal["keeps_running", "stops"] = "keeps_running"
    """Unregister-ScheduledTask while an instance runs: undocumented whether the instance finishes
    ("keeps_running") or is stopped before its command takes effect ("stops")."""

    long_task_command: Literal["fails_at_launch", "fails_at_register"] = "fails_at_launch"
    """A task action whose command line exceeds CreateProcess's 32,767 characters (CreateProcessW
    lpCommandLine): the Task Scheduler schema puts no limit on Arguments, so the failure may come when the
    task starts (LastTaskResult 0x800700CE, "The filename or extension is too long") or at registration."""

    programdata_users_can_create: bool = True
    """C:\\ProgramData lets local users create files and folders (community-observed default ACL; not
    documented by Microsoft). False: a hardened ACL without that right."""

    winrm_idle_close: Literal["orderly", "reset"] = "orderly"
    """How the WinRM listener (HTTP.sys) closes a keep-alive connection idle past its IdleConnectionTimeout
    (default 120 s, documented): Microsoft does not say whether it is an orderly close ("orderly": FIN, after
    TLS close_notify over HTTPS) or an abort ("reset": TCP RST). The lab's endpoints read it (winrm/http.py)."""

    own_address_traffic: Literal["loopback", "policy"] = "loopback"
    """The controller runs on a managed host and manages it through that host's own address. Microsoft does
    not say whether connection security rules apply to a host's traffic to its own address: "loopback"
    (they do not: the stack short-circuits it) or "policy" (the host's rules are evaluated for it)."""

    cs_rule_endpoints: Literal["local_remote", "mirrored"] = "local_remote"
    """Whether a connection security or main-mode rule also matches a host found in its -RemoteAddress
    (Endpoint 2) with the roles swapped — "mirrored" — or only as written — "local_remote". The fleet's
    IKE model reads it (lab/ike/model.py Assumptions.cs_rule_endpoints has the sources)."""

    cs_rule_tie_break: Literal["most_restrictive", "least_restrictive", "first_listed", "error"] = \
        "most_restrictive"
    """Which of two matching connection security rules of equal specificity with different actions applies:
    Microsoft documents no outcome (windows-behaviour.md §1). "error" makes the lab drop the flow and name
    the rules (it refuses to guess). The fleet's IKE model reads it (lab/ike/model.py Assumptions.tie_break)."""

    cs_rule_address_size_breaks_ties: bool = True
    """Among matching connection security rules with as many conditions, whether the one covering fewer
    addresses is the more specific (only "more matching criteria" is described, by the [community] Win7
    Resource Kit; windows-behaviour.md §1). The fleet's IKE model reads it (Assumptions.address_size_breaks_ties)."""

    address_display: Literal["windows", "as_given"] = "windows"
    """How rule address filters read back. The store keeps an IPv4 subnet as address + mask and a single
    address as mask 0xFFFFFFFF (MS-FASP FW_IPV4_SUBNET), so the given "/16" text cannot survive:
    "windows" shows 10.10.0.0/16 as 10.10.0.0/255.255.0.0 and 10.10.1.5/32 as 10.10.1.5 (display format
    community-observed, not documented); "as_given" keeps the script's text."""

    sa_endpoint_text: Literal["compressed", "full"] = "compressed"
    """How an SA's LocalEndpoint/RemoteEndpoint (string, MSFT_NetMainModeSA/MSFT_NetQuickModeSA) writes an IPv6
    address: the class pages give the type only, and no page shows an IPv6 value. "compressed": RFC 5952 (lower
    case, the longest run of zero groups as ``::``), as the inventory holds it; "full": all eight groups, no
    leading zeros, no ``::`` (2001:db8:0:1:0:0:0:20), as a formatter of the raw 16 bytes might. IPv4 endpoints
    are dotted quads either way. The product compares parsed addresses, so it must not matter."""


@dataclass
class HostConfig:
    """Lab host configuration (DESIGN §5 faults map onto these fields).

    ``preexisting`` lists NetSecurity objects present before the tool arrives, as cmdlet calls in the
    plan's shape: ``{"cmdlet": "New-NetIPsecRule", "params": {...}}`` with nested proposals as
    ``{"cmdlet": "New-NetIPsecQuickModeCryptoProposal", "params": {...}}`` values (DESIGN §5, plan --json).
    They run through the same cmdlet code as scripts do, but are not in the call log.
    ``gpo_stores`` are ``domain\\GPO`` policy stores applied to the host (created empty).
    ``local_ipsec_merge=False`` makes the first GPO (``<domain>\\Lab IPsec Policy`` when none is listed)
    configure ``AllowLocalIPsecRules False`` for every profile, so local rules leave the ActiveStore.
    """

    name: str
    address: str
    domain_joined: bool = True
    domain: str = "lab.local"
    machine_cert_ca: str | None = "CN=Lab Root CA"
    clock_skew_s: float = 0.0
    ikeext: Literal["manual", "disabled"] = "manual"
    # ASSUMPTION: IKEEXT (startup Manual, services reference) is trigger-started and Running on a box with
    # IPsec policy; the docs only say Stopped+Manual is not a fault by itself.
    ikeext_running: bool = True
    local_ipsec_merge: bool = True
    gpo_stores: tuple[str, ...] = ()
    preexisting: tuple[Mapping[str, Any], ...] = ()
    os_version: Literal["2016", "2019", "2022", "2025"] = "2022"
    disabled_services: tuple[str, ...] = ()
    stopped_services: tuple[str, ...] = ()
    extra_addresses: tuple[str, ...] = field(default_factory=tuple)
    # Advanced audit policy per subcategory key (lab/host/audit.py); unlisted ones are "none", as on a stock
    # server.
    audit: Mapping[str, Setting] = field(default_factory=dict)
    utc_offset_min: int = 0  # the host's time zone: local time = UTC + this (Get-Date, task triggers)
    execution_policy_gpo: str | None = None  # MachinePolicy execution policy set by Group Policy
    tamper_revert_files: bool = False  # a local non-administrator plants files in C:\ProgramData\ipsec-remote
    task_start_s: float = 0.0  # how long a task instance runs before its command takes effect
    clock_step_after_task_s: float = 0.0  # the clock steps forward this much at the next pipeline after a task
    on_battery: bool = False
    assumptions: HostAssumptions = field(default_factory=HostAssumptions)
    # TCP ports a service listens on; ``firewall_allows`` None = inbound allowed exactly on those ports.
    listening_ports: tuple[int, ...] = DEFAULT_LISTENING_PORTS
    firewall_allows: tuple[int, ...] | None = None

    @property
    def allowed_ports(self) -> tuple[int, ...]:
        return self.listening_ports if self.firewall_allows is None else self.firewall_allows

    @property
    def current_profile(self) -> str:
        # ASSUMPTION: a domain-joined server that reaches its DC is on the Domain profile; a workgroup
        # server's lab network is Public (Windows' default category for an unidentified network).
        return "Domain" if self.domain_joined else "Public"

    def default_gpo(self) -> str:
        return self.gpo_stores[0] if self.gpo_stores else f"{self.domain}\\Lab IPsec Policy"
