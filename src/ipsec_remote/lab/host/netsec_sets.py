"""Crypto/auth sets (New/Get/Set/Remove for MM crypto, QM crypto, phase-1 and phase-2 auth sets) and the
proposal cmdlets whose objects the sets take through ``-Proposal``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext
from ..values import CaseInsensitiveDict, PSObject
from . import errors
from .model import (
    KINDS,
    MM_CRYPTO,
    P1_AUTH,
    P2_AUTH,
    QM_CRYPTO,
    RULE_SET_REFS,
    SET_KINDS,
    Kind,
    PolicyObject,
    Proposal,
    Store,
    as_list,
    flag_names,
)
from .netsec_common import CONTROL, netsec_command, render, select
from .reference import default_set_names

if TYPE_CHECKING:
    from .state import LabHost

# MaxMinutes comes from HostAssumptions.mm_max_minutes_default (the documented default is inconsistent).
SET_DEFAULTS: dict[str, dict[str, Any]] = {
    MM_CRYPTO.key: {"MaxSessions": 0, "ForceDiffieHellman": False},
    QM_CRYPTO.key: {"PerfectForwardSecrecyGroup": "None"},  # documented default None (notes, KB949856)
    P1_AUTH.key: {},
    P2_AUTH.key: {},
}
PROPOSAL_CMDLETS = {
    "New-NetIPsecMainModeCryptoProposal": MM_CRYPTO.proposal_cim,
    "New-NetIPsecQuickModeCryptoProposal": QM_CRYPTO.proposal_cim,
    "New-NetIPsecAuthProposal": P1_AUTH.proposal_cim,
}
# Reference defaults of the proposal parameters (New-NetIPsecMainModeCryptoProposal: Encryption AES256,
# Hash SHA384, KeyExchange None; New-NetIPsecQuickModeCryptoProposal: MaxMinutes 60, MaxKiloBytes 100000).
MM_PROPOSAL_DEFAULTS = {"Encryption": "AES256", "Hash": "SHA384", "KeyExchange": "None"}
QM_PROPOSAL_DEFAULTS = {"Encryption": "None", "ESPHash": "None", "AHHash": "None", "MaxMinutes": 60,
                        "MaxKiloBytes": 100000}
AUTH_CERT_DEFAULTS = {"AuthorityType": "Root", "Signing": "RSA", "FollowRenewal": False}


def _base_props(host: LabHost, kind: Kind) -> dict[str, Any]:
    out = {"DisplayName": None, "Description": None, "Group": None, **SET_DEFAULTS[kind.key]}
    if kind is MM_CRYPTO:
        out["MaxMinutes"] = host.config.assumptions.mm_max_minutes_default
    return out


def _proposals(host: LabHost, cmdlet: str, kind: Kind, value: Any) -> list[Proposal]:
    out = []
    for item in as_list(value):
        prop = host.proposal_of(item) if isinstance(item, PSObject) else None
        if prop is None or PROPOSAL_CMDLETS[prop.cmdlet] != kind.proposal_cim:
            raise errors.invalid_parameter(cmdlet, f"Proposal must be a {kind.proposal_cim} object.", target=item)
        if kind is QM_CRYPTO and host.config.assumptions.qm_sha384 == "refused" and _uses_sha384(prop):
            # The enum takes SHA384, but IPsec has no SHA-384 integrity (WFP IPSEC_AUTH_TYPE; no such code in
            # MSFT_NetQuickModeSA's integrity list): the provider refuses it (HostAssumptions.qm_sha384).
            raise errors.invalid_parameter(cmdlet, "SHA384 is not a quick-mode (AH/ESP) integrity algorithm.",
                                           target=item)
        out.append(prop)
    return out


def _uses_sha384(prop: Proposal) -> bool:
    encap = flag_names(prop.values.get("Encapsulation"))
    return (("ESP" in encap and str(prop.values.get("ESPHash")) == "SHA384")
            or ("AH" in encap and str(prop.values.get("AHHash")) == "SHA384"))


def _apply(host: LabHost, cmdlet: str, obj: PolicyObject, args: CaseInsensitiveDict) -> None:
    for key, value in args.items():
        low = key.lower()
        if low == "proposal":
            obj.proposals = _proposals(host, cmdlet, obj.kind, value)
        elif low == "newdisplayname":
            obj.props["DisplayName"] = value
        elif low in CONTROL or low == "name":
            continue
        else:
            canonical = next((k for k in obj.props if k.lower() == low), key)
            obj.props[canonical] = value


def new_set(kind: Kind, cmdlet: str) -> Any:
    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
        store = host.stores.writable(cmdlet, args)
        if args.get("Default"):
            # "-Default … the Name becomes {E5A5D32A-…}" (New-NetIPsec*Set -Default text; reference).
            name = default_set_names()[str(kind.default_key)]
        else:
            name = str(args.get("Name") or "{" + str(uuid.uuid4()) + "}")
        if store.get(kind, name) is not None:
            raise errors.already_exists(cmdlet, name)
        obj = PolicyObject(kind, name, _base_props(host, kind))
        _apply(host, cmdlet, obj, args)
        store.add(obj)
        return [render(host, obj, store, active=False, trace=False)]

    return handler


def get_set(kind: Kind, cmdlet: str) -> Any:
    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
        entries = host.stores.entries(cmdlet, args, kind)
        active = host.stores.store_name(args).lower() == "activestore"
        chosen = select(host, ctx, cmdlet, kind, args, entries, pipe)
        trace = bool(args.get("TracePolicyStore"))
        return [render(host, o, s, active=active, trace=trace) for o, s in chosen]

    return handler


def change_set(kind: Kind, cmdlet: str, verb: str) -> Any:
    def handler(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
        store = host.stores.writable(cmdlet, args)
        entries = [(o, store) for o in store.list(kind)]
        if verb == "Set":
            keep = {"name", "displayname", "group", "displaygroup", "inputobject"}
            sel = CaseInsensitiveDict({k: v for k, v in args.items() if k.lower() in keep})
            changes = CaseInsensitiveDict({k: v for k, v in args.items() if k.lower() not in keep})
        else:
            sel, changes = args, CaseInsensitiveDict()
        out = []
        for obj, _ in select(host, ctx, cmdlet, kind, sel, entries, pipe):
            if verb == "Remove":
                user = _referenced_by(store, obj)
                if user is not None:
                    ctx.write_error(errors.set_in_use(cmdlet, obj.name, user).record)
                    continue
                store.remove(obj)
            else:
                _apply(host, cmdlet, obj, changes)
            if args.get("PassThru"):
                out.append(render(host, obj, store, active=False, trace=False))
        return out

    return handler


def _referenced_by(store: Store, obj: PolicyObject) -> str | None:
    """The first rule in the same store that names ``obj`` (a set in use cannot be deleted)."""
    for kind in KINDS:
        for prop, set_kind in RULE_SET_REFS.get(kind.key, ()):
            if set_kind is not obj.kind:
                continue
            for rule in store.list(kind):
                if str(rule.props.get(prop) or "").lower() == obj.name.lower():
                    return rule.name
    return None


# --- proposals --------------------------------------------------------------------------------------

def _given(args: CaseInsensitiveDict) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k.lower() not in CONTROL}


def mm_proposal(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    values = {**MM_PROPOSAL_DEFAULTS, **_given(args)}
    return [host.new_proposal("New-NetIPsecMainModeCryptoProposal", values, _given(args))]


def qm_proposal(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    given = _given(args)
    values = {**QM_PROPOSAL_DEFAULTS, **given}
    encap = flag_names(given.get("Encapsulation"))
    if not encap and not host.config.assumptions.qm_encapsulation_from_hashes:
        encap.append("None")  # the reference's documented default
    elif not encap:
        # HostAssumptions.qm_encapsulation_from_hashes: ESP for -ESPHash/-Encryption, AH for -AHHash.
        if values["AHHash"] != "None":
            encap.append("AH")
        if values["ESPHash"] != "None" or values["Encryption"] != "None" or not encap:
            encap.append("ESP")
    values["Encapsulation"] = ", ".join(encap)
    return [host.new_proposal("New-NetIPsecQuickModeCryptoProposal", values, given)]


def auth_proposal(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    cmdlet = "New-NetIPsecAuthProposal"
    given = _given(args)
    methods = [m for m in ("Kerberos", "Ntlm", "Cert", "PreSharedKey", "Anonymous") if args.get(m)]
    if len(methods) != 1 or (args.get("Machine") and args.get("User")):
        raise errors.parameter_set_error(cmdlet)  # no single parameter set of the reference fits
    method = methods[0]
    principal = "User" if args.get("User") else "Machine"
    if method == "Cert" and not args.get("Authority"):
        raise errors.missing_mandatory(cmdlet, ["Authority"])  # mandatory in HealthCert/Cert (reference)
    values: dict[str, Any] = {**(AUTH_CERT_DEFAULTS if method == "Cert" else {}), **given}
    for switch in ("Machine", "User", "Kerberos", "Ntlm", "Cert", "Anonymous", "Health"):
        values[switch] = bool(args.get(switch))
    # AuthenticationMethod names: ASSUMPTION (the CIM class page was not read; reference marks unverified).
    names = {"Kerberos": f"{principal}Kerberos", "Ntlm": f"{principal}Ntlm", "Cert": f"{principal}Cert",
             "PreSharedKey": "PresharedKey", "Anonymous": "Anonymous"}
    values["AuthenticationMethod"] = names[method]
    return [host.new_proposal(cmdlet, values, given)]


def register(host: LabHost, table: CommandTable) -> None:
    for kind in SET_KINDS:
        noun = kind.noun
        table.add(netsec_command(host, f"New-{noun}", new_set(kind, f"New-{noun}")))
        table.add(netsec_command(host, f"Get-{noun}", get_set(kind, f"Get-{noun}")))
        for verb in ("Set", "Remove"):
            table.add(netsec_command(host, f"{verb}-{noun}", change_set(kind, f"{verb}-{noun}", verb)))
    table.add(netsec_command(host, "New-NetIPsecMainModeCryptoProposal", mm_proposal))
    table.add(netsec_command(host, "New-NetIPsecQuickModeCryptoProposal", qm_proposal))
    table.add(netsec_command(host, "New-NetIPsecAuthProposal", auth_proposal))
