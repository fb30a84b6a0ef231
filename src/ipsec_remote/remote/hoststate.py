"""Pure parsers for what the host scripts report (pyinfra style: a command, then a parser).

``read_state.ps1`` output → the owned objects as ``ObservedObject``s in the planner's vocabulary (the
New-* parameters) plus the facts ``doctor`` and the diagnosis need. ``read_sas.ps1`` output → SA records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..model.calls import CmdletCall, ParamValue
from ..model.desired import Kind
from ..plan.planner import ObservedObject

SET_KINDS = {"mm_crypto_set": Kind.MM_CRYPTO_SET, "qm_crypto_set": Kind.QM_CRYPTO_SET,
             "p1_auth_set": Kind.P1_AUTH_SET}
_EMPTY = (None, "", "None")


@dataclass(frozen=True)
class RuleFacts:
    """An IPsec rule in the ActiveStore, reduced to what overlap checks need."""

    name: str
    group: str
    enabled: bool
    inbound: str
    outbound: str
    remote_address: tuple[str, ...]
    local_port: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class HostFacts:
    services: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (Status, StartType)
    exemptions: str = ""
    profiles: Mapping[str, tuple[bool, str]] = field(default_factory=dict)  # name -> (Enabled, AllowLocalIPsecRules)
    unowned_rules: tuple[RuleFacts, ...] = ()
    utc_now: datetime | None = None
    max_sa_idle_s: int | None = None


@dataclass(frozen=True)
class HostState:
    observed: list[ObservedObject]
    facts: HostFacts


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v not in _EMPTY]


def _kind_of_rule(name: str, group: str) -> Kind:
    return Kind.EXEMPTION if name.startswith(f"{group}-exempt-") else Kind.RULE


def _rule_params(rec: Mapping[str, Any]) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {
        "IPsecRuleName": str(rec.get("Name", "")),
        "DisplayName": str(rec.get("DisplayName", "")),
        "Group": str(rec.get("Group", "")),
    }
    for key in ("Mode", "InboundSecurity", "OutboundSecurity", "KeyModule", "QuickModeCryptoSet",
                "Phase1AuthSet", "Phase2AuthSet", "Profile", "Protocol", "Enabled"):
        if rec.get(key) not in _EMPTY or key in ("InboundSecurity", "OutboundSecurity"):
            params[key] = str(rec.get(key) or "None")
    for key in ("LocalAddress", "RemoteAddress", "LocalPort", "RemotePort"):
        values = _list(rec.get(key))
        if values:
            params[key] = values
    return params


def _proposal_calls(kind: Kind, proposals: Sequence[Mapping[str, Any]]) -> list[CmdletCall]:
    calls: list[CmdletCall] = []
    for p in proposals:
        if kind is Kind.MM_CRYPTO_SET:
            calls.append(CmdletCall("New-NetIPsecMainModeCryptoProposal",
                                    {"Encryption": str(p.get("Encryption")), "Hash": str(p.get("Hash")),
                                     "KeyExchange": str(p.get("KeyExchange"))}))
        elif kind is Kind.QM_CRYPTO_SET:
            params: dict[str, ParamValue] = {"Encapsulation": str(p.get("Encapsulation"))}
            if "ESP" in str(p.get("Encapsulation")):
                params.update({"Encryption": str(p.get("Encryption")), "ESPHash": str(p.get("ESPHash"))})
            if "AH" in str(p.get("Encapsulation")).split(",") and p.get("AHHash") not in _EMPTY:
                params["AHHash"] = str(p.get("AHHash"))
            calls.append(CmdletCall("New-NetIPsecQuickModeCryptoProposal", params))
        else:
            auth: dict[str, ParamValue] = {"Machine": True} if p.get("Machine") else {}
            if p.get("Kerberos"):
                auth["Kerberos"] = True
            elif p.get("Cert"):
                auth.update({"Cert": True, "Authority": str(p.get("Authority", "")),
                             "AuthorityType": str(p.get("AuthorityType", ""))})
                if p.get("Signing") not in _EMPTY:
                    auth["Signing"] = str(p.get("Signing"))
            else:
                auth["AuthenticationMethod"] = str(p.get("AuthenticationMethod", ""))
            calls.append(CmdletCall("New-NetIPsecAuthProposal", auth))
    return calls


def parse_state(report: Mapping[str, Any], group: str) -> HostState:
    observed: list[ObservedObject] = []
    for rec in report.get("Rules") or []:
        if rec.get("Group") != group:
            continue  # never plan over objects we do not own
        name = str(rec.get("Name"))
        observed.append(ObservedObject(_kind_of_rule(name, group), name, _rule_params(rec)))
    for rec in report.get("MainModeRules") or []:
        if rec.get("Group") != group:
            continue
        params: dict[str, ParamValue] = {"Name": str(rec.get("Name")), "DisplayName": str(rec.get("DisplayName")),
                                         "Group": group}
        for key in ("MainModeCryptoSet", "Phase1AuthSet", "Profile", "Enabled"):
            if rec.get(key) not in _EMPTY:
                params[key] = str(rec.get(key))
        for key in ("LocalAddress", "RemoteAddress"):
            if _list(rec.get(key)):
                params[key] = _list(rec.get(key))
        observed.append(ObservedObject(Kind.MM_RULE, str(rec.get("Name")), params))
    for rec in report.get("Sets") or []:
        kind = SET_KINDS.get(str(rec.get("Kind")))
        if kind is None or rec.get("Group") != group:
            continue
        set_params: dict[str, ParamValue] = {"Name": str(rec.get("Name")),
                                             "DisplayName": str(rec.get("DisplayName")), "Group": group,
                                             "Proposal": _proposal_calls(kind, rec.get("Proposal") or [])}
        if kind is Kind.MM_CRYPTO_SET and rec.get("MaxMinutes") is not None:
            set_params["MaxMinutes"] = int(rec["MaxMinutes"])
        if kind is Kind.QM_CRYPTO_SET:
            set_params["PerfectForwardSecrecyGroup"] = str(rec.get("PerfectForwardSecrecyGroup") or "None")
        observed.append(ObservedObject(kind, str(rec.get("Name")), set_params))
    return HostState(observed, parse_facts(report))


def parse_facts(report: Mapping[str, Any]) -> HostFacts:
    services = {str(s.get("Name")): (str(s.get("Status")), str(s.get("StartType")))
                for s in report.get("Services") or []}
    profiles = {str(p.get("Name")): (str(p.get("Enabled")).lower() == "true", str(p.get("AllowLocalIPsecRules")))
                for p in report.get("Profiles") or []}
    unowned = tuple(
        RuleFacts(name=str(r.get("Name")), group=str(r.get("Group") or ""),
                  enabled=str(r.get("Enabled", "True")).lower() == "true",
                  inbound=str(r.get("InboundSecurity") or "None"), outbound=str(r.get("OutboundSecurity") or "None"),
                  remote_address=tuple(_list(r.get("RemoteAddress"))), local_port=tuple(_list(r.get("LocalPort"))),
                  source=str(r.get("PolicyStoreSource") or ""))
        for r in report.get("UnownedActiveRules") or []
    )
    now = None
    if report.get("UtcNow"):
        try:
            now = datetime.fromisoformat(str(report["UtcNow"]).replace("Z", "+00:00"))
        except ValueError:
            now = None
    idle = report.get("MaxSAIdleTimeSeconds")
    return HostFacts(services, str(report.get("Exemptions") or ""), profiles, unowned, now,
                     int(idle) if isinstance(idle, int) else None)
