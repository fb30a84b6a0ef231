"""Pure parsers for what the host scripts report (pyinfra style: a command, then a parser).

``read_state.ps1`` output (CIM property names and numeric codes, see ``cimcodes``) → the owned objects as
``ObservedObject``s in the planner's vocabulary (the New-* parameters and their enum names) plus the facts
``doctor`` and the diagnosis need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..model.calls import CmdletCall, ParamValue, SecretRef
from ..model.desired import Kind
from ..plan.planner import ObservedObject
from . import cimcodes as C

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


def _text(rec: Mapping[str, Any], key: str) -> str:
    value = rec.get(key)
    return "" if value in _EMPTY else str(value)


def _rule_params(rec: Mapping[str, Any]) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {
        "IPsecRuleName": _text(rec, "InstanceID"),
        "DisplayName": _text(rec, "DisplayName"),
        "Group": _text(rec, "RuleGroup"),
        "InboundSecurity": C.name(C.SECURITY, rec.get("InboundSecurity"), "None") or "None",
        "OutboundSecurity": C.name(C.SECURITY, rec.get("OutboundSecurity"), "None") or "None",
        "KeyModule": C.key_module(rec.get("KeyModule")),
        "Profile": C.profiles(rec.get("Profiles")),
    }
    mode = C.name(C.MODE, rec.get("Mode"))
    enabled = C.name(C.ENABLED, rec.get("Enabled"))
    for key, value in (("Mode", mode), ("Enabled", enabled), ("Protocol", _text(rec, "Protocol")),
                       ("QuickModeCryptoSet", _text(rec, "QuickModeCryptoSet")),
                       ("Phase1AuthSet", _text(rec, "Phase1AuthSet")), ("Phase2AuthSet", _text(rec, "Phase2AuthSet")),
                       ("Description", _text(rec, "Description"))):
        if value:
            params[key] = value
    for key in ("LocalAddress", "RemoteAddress", "LocalPort", "RemotePort"):
        values = _list(rec.get(key))
        if values:
            params[key] = values
    return params


def _proposal_calls(kind: Kind, proposals: Sequence[Mapping[str, Any]], psk: SecretRef) -> list[CmdletCall]:
    calls: list[CmdletCall] = []
    for p in proposals:
        if kind is Kind.MM_CRYPTO_SET:
            calls.append(CmdletCall("New-NetIPsecMainModeCryptoProposal", {
                "Encryption": str(C.name(C.CIPHER, p.get("CipherAlgorithm"), "?")),
                "Hash": str(C.name(C.HASH, p.get("HashAlgorithm"), "?")),
                "KeyExchange": str(C.name(C.DH, p.get("GroupId"), "?"))}))
        elif kind is Kind.QM_CRYPTO_SET:
            encap = str(C.name(C.ENCAPSULATION, p.get("Encapsulation"), "?"))
            params: dict[str, ParamValue] = {"Encapsulation": encap}
            if "ESP" in encap.split(","):
                params.update({"Encryption": str(C.name(C.CIPHER, p.get("CipherAlgorithm"), "?")),
                               "ESPHash": str(C.name(C.HASH, p.get("HashAlgorithmESP"), "?"))})
            if "AH" in encap.split(","):
                params["AHHash"] = str(C.name(C.HASH, p.get("HashAlgorithmAH"), "?"))
            calls.append(CmdletCall("New-NetIPsecQuickModeCryptoProposal", params))
        else:
            calls.append(CmdletCall("New-NetIPsecAuthProposal", _auth_params(p, psk)))
    return calls


def _auth_params(p: Mapping[str, Any], psk: SecretRef) -> dict[str, ParamValue]:
    """An auth proposal as the New-NetIPsecAuthProposal switches that make it (AuthenticationMethod code and
    proposal class; the certificate fields of MSFT_NetIKECertAuthProposal)."""
    method = C.auth_method(p.get("AuthenticationMethod"), str(p.get("Class") or "")) or "Unknown"
    if method == "PreSharedKey":
        # The key itself never leaves the host: a PSK proposal compares equal to the inventory's key reference
        # (a key changed on the host alone is not detected).
        return {"Machine": True, "PreSharedKey": psk}
    auth: dict[str, ParamValue] = {}
    for principal in ("Machine", "User"):
        if method.startswith(principal):
            auth[principal] = True
            method = method[len(principal):]
    if method in ("Kerberos", "Ntlm", "Anonymous"):
        auth[method] = True
    elif method in ("Cert", "HealthCert"):
        auth.update({"Cert": True, "Authority": _text(p, "TrustedCA"),
                     "AuthorityType": C.name(C.TRUSTED_CA_TYPE, p.get("TrustedCAType"), "") or ""})
        if method == "HealthCert":
            auth["Health"] = True
        signing = C.name(C.SIGNING, p.get("SigningAlgorithm"))
        if signing:
            auth["Signing"] = signing
    else:
        auth["AuthenticationMethod"] = f"code {p.get('AuthenticationMethod')}"  # never equal to a plan
    return auth


def parse_state(report: Mapping[str, Any], group: str, psk_env: str | None = None) -> HostState:
    """``psk_env``: the inventory's PSK variable, which a pre-shared-key proposal on the host stands for."""
    psk = SecretRef(psk_env or "")
    observed: list[ObservedObject] = []
    for rec in report.get("Rules") or []:
        if rec.get("RuleGroup") != group:
            continue  # never plan over objects we do not own
        name = _text(rec, "InstanceID")
        observed.append(ObservedObject(_kind_of_rule(name, group), name, _rule_params(rec)))
    for rec in report.get("MainModeRules") or []:
        if rec.get("RuleGroup") != group:
            continue
        name = _text(rec, "InstanceID")
        params: dict[str, ParamValue] = {"Name": name, "DisplayName": _text(rec, "DisplayName"), "Group": group,
                                         "Profile": C.profiles(rec.get("Profiles"))}
        enabled = C.name(C.ENABLED, rec.get("Enabled"))
        for key, value in (("MainModeCryptoSet", _text(rec, "MainModeCryptoSet")),
                           ("Phase1AuthSet", _text(rec, "Phase1AuthSet")), ("Enabled", enabled),
                           ("Description", _text(rec, "Description"))):
            if value:
                params[key] = value
        for key in ("LocalAddress", "RemoteAddress"):
            if _list(rec.get(key)):
                params[key] = _list(rec.get(key))
        observed.append(ObservedObject(Kind.MM_RULE, name, params))
    for rec in report.get("Sets") or []:
        kind = SET_KINDS.get(str(rec.get("Kind")))
        if kind is None or rec.get("RuleGroup") != group:
            continue
        name = _text(rec, "InstanceID")
        set_params: dict[str, ParamValue] = {"Name": name, "DisplayName": _text(rec, "DisplayName"), "Group": group,
                                             "Proposal": _proposal_calls(kind, rec.get("Proposals") or [], psk)}
        if _text(rec, "Description"):
            set_params["Description"] = _text(rec, "Description")
        minutes = C.code(rec.get("MaxLifetimeMinutes"))
        if kind is Kind.MM_CRYPTO_SET and minutes is not None:
            set_params["MaxMinutes"] = minutes
        if kind is Kind.QM_CRYPTO_SET:
            set_params["PerfectForwardSecrecyGroup"] = C.name(C.PFS, rec.get("PfsGroupID"), "None") or "None"
        observed.append(ObservedObject(kind, name, set_params))
    return HostState(observed, parse_facts(report))


def parse_facts(report: Mapping[str, Any]) -> HostFacts:
    services = {str(s.get("Name")): (str(s.get("Status")), str(s.get("StartType")))
                for s in report.get("Services") or []}
    profiles = {str(p.get("Name")): (C.name(C.GPO_BOOLEAN, p.get("Enabled")) == "True",
                                     C.name(C.GPO_BOOLEAN, p.get("AllowLocalIPsecRules"), "") or "")
                for p in report.get("Profiles") or []}
    unowned = tuple(
        RuleFacts(name=_text(r, "InstanceID"), group=_text(r, "RuleGroup"),
                  enabled=C.name(C.ENABLED, r.get("Enabled"), "True") == "True",
                  inbound=C.name(C.SECURITY, r.get("InboundSecurity"), "None") or "None",
                  outbound=C.name(C.SECURITY, r.get("OutboundSecurity"), "None") or "None",
                  remote_address=tuple(_list(r.get("RemoteAddress"))), local_port=tuple(_list(r.get("LocalPort"))),
                  source=_text(r, "PolicyStoreSource"))
        for r in report.get("UnownedActiveRules") or []
    )
    now = None
    if report.get("UtcNow"):
        try:
            now = datetime.fromisoformat(str(report["UtcNow"]).replace("Z", "+00:00"))
        except ValueError:
            now = None
    idle = C.code(report.get("MaxSAIdleTimeSeconds"))
    return HostFacts(services, C.exemptions(report.get("Exemptions")), profiles, unowned, now, idle)
