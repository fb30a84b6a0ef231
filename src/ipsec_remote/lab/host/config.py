"""How one lab host differs from a fresh, healthy, domain-joined Windows Server 2022 box."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .audit import Setting


@dataclass(frozen=True)
class HostAssumptions:
    """Host behaviours Windows does not document, as named choices (sources: windows-behaviour.md,
    netsecurity-notes; each default says why it was picked)."""

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

    address_display: Literal["windows", "as_given"] = "windows"
    """How rule address filters read back. The store keeps an IPv4 subnet as address + mask and a single
    address as mask 0xFFFFFFFF (MS-FASP FW_IPV4_SUBNET), so the given "/16" text cannot survive:
    "windows" shows 10.10.0.0/16 as 10.10.0.0/255.255.0.0 and 10.10.1.5/32 as 10.10.1.5 (display format
    community-observed, not documented); "as_given" keeps the script's text."""


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

    @property
    def current_profile(self) -> str:
        # ASSUMPTION: a domain-joined server that reaches its DC is on the Domain profile; a workgroup
        # server's lab network is Public (Windows' default category for an unidentified network).
        return "Domain" if self.domain_joined else "Public"

    def default_gpo(self) -> str:
        return self.gpo_stores[0] if self.gpo_stores else f"{self.domain}\\Lab IPsec Policy"
