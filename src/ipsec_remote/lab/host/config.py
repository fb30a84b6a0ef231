"""How one lab host differs from a fresh, healthy, domain-joined Windows Server 2022 box."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


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
    # How rule address filters read back. The store keeps an IPv4 subnet as address + mask and a single
    # address as mask 0xFFFFFFFF (MS-FASP FW_IPV4_SUBNET), so the given "/16" text cannot survive;
    # "windows" renders 10.10.0.0/16 as 10.10.0.0/255.255.0.0 and 10.10.1.5/32 as 10.10.1.5 (display
    # format: ASSUMPTION, community-observed, not documented). "as_given" keeps the script's text.
    address_display: Literal["windows", "as_given"] = "windows"

    @property
    def current_profile(self) -> str:
        # ASSUMPTION: a domain-joined server that reaches its DC is on the Domain profile; a workgroup
        # server's lab network is Public (Windows' default category for an unidentified network).
        return "Domain" if self.domain_joined else "Public"

    def default_gpo(self) -> str:
        return self.gpo_stores[0] if self.gpo_stores else f"{self.domain}\\Lab IPsec Policy"
