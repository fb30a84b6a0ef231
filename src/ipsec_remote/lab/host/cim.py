"""NetSecurity objects as the cmdlets return them: CIM instances of the WFAS provider classes.

Every instance carries exactly the properties its class page lists (``data/wfascim.json``, derived from
``shared/reference/wfascim-classes.json``: MicrosoftDocs/win32 wfascimprov pages plus the live schema for
embedded instances), typed as documented (uint16 stays uint16) and holding the documented codes
(``CipherAlgorithm`` 65003 = AES-256). That is what ``$o.PSBase.CimInstanceProperties['X'].Value`` reads.

What ``$o.X`` reads besides depends on ``HostAssumptions.type_layer``: NetSecurity's types file (not public)
adds cmdlet-style alias and script properties; real transcripts show them for firewall rules (alias
``Group = RuleGroup``, script ``Enabled``/``Profile``/``PrimaryStatus`` shadowing the CIM value with its
display text, wfascim-classes.md "Evidence from real use"). With ``type_layer`` off the instance has its CIM
properties only; with it on, the plausible cmdlet-style names are added as the console shows them (display
strings), shadowing same-named CIM properties.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..values import CaseInsensitiveDict, CimProperty, PSObject, UInt8, UInt16, UInt32, UInt64
from .model import (
    CIM_NAMESPACE,
    MM_CRYPTO,
    MM_RULE,
    P1_AUTH,
    P2_AUTH,
    QM_CRYPTO,
    RULE,
    PolicyObject,
    Proposal,
    Store,
    as_list,
    flag_names,
)

if TYPE_CHECKING:
    from .config import HostAssumptions


@functools.cache
def classes() -> dict[str, Any]:
    text = resources.files("ipsec_remote.data").joinpath("wfascim.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)["classes"]
    return data


def class_properties(cim_class: str) -> dict[str, Any]:
    found: dict[str, Any] = classes()[cim_class]["properties"]
    return found


# --- code tables (cmdlet enum name -> documented CIM code; checked against the pages in _check) -----------

# CipherAlgorithm (MM/QM proposal, MM SA, QM SA First/SecondCipherAlgorithm).
CIPHER = {"None": 0, "DES": 2, "DES3": 6, "AES128": 65001, "AES192": 65002, "AES256": 65003,
          "AESGCM128": 65004, "AESGCM192": 65005, "AESGCM256": 65006}
# HashAlgorithm (MM proposal, MM SA), HashAlgorithmAH/ESP (QM proposal), QM SA integrity (which omits 65002).
HASH = {"None": 0, "MD5": 2, "SHA1": 3, "SHA256": 65001, "SHA384": 65002,
        "AESGMAC128": 65003, "AESGMAC192": 65004, "AESGMAC256": 65005}
# GroupId (MM proposal/SA). PfsGroupID of a QM set lists 1..24 only; None (0) and SameAsMainMode (65535)
# are the numbers MSFT_NetQuickModeSA.PfsGroupId gives the same enum (open question in the reference).
DH = {"None": 0, "DH1": 1, "DH2": 2, "DH14": 14, "DH19": 19, "DH20": 20, "DH24": 24, "SameAsMainMode": 65535}
ENCAPSULATION = {"None": 0, "AH": 1, "ESP": 2, "AH, ESP": 3}
SECURITY = {"None": 0, "Request": 1, "Require": 2}  # the page names 0 "Never"
MODE = {"Transport": 1, "Tunnel": 2, "None": 0}  # None: undocumented number (0, reference open question)
ENABLED = {"True": 1, "False": 2}
PROFILE_BITS = {"Domain": 1, "Private": 2, "Public": 4}
KEY_MODULE = {"IKEv1": 1, "AuthIP": 2, "IKEv2": 4}  # "Default": HostAssumptions.key_module_default_code
TRUSTED_CA_TYPE = {"Root": 1, "Intermediate": 2}
SIGNING = {"RSA": 1, "ECDSA256": 2, "ECDSA384": 3}
CERT_NAME_TYPE = {"None": 0, "DomainName": 1, "UserPrincipalName": 2, "EmailAddress": 3, "CN": 4, "OU": 5,
                  "O": 6, "DC": 7}
EXEMPTION_BITS = {"None": 0, "NeighborDiscovery": 1, "Icmp": 2, "RouterDiscovery": 4, "Dhcp": 8}
# GPO-style booleans: documented 0 False, 1 True, 2 NotConfigured on MSFT_NetSecuritySettingData
# (EnableStatefulFtp); MSFT_NetFirewallProfile's GpoBoolean fields have no list on their page, OneMMC uses
# the same numbers.
GPO_BOOLEAN = {"False": 0, "True": 1, "NotConfigured": 2}
PRIMARY_STATUS_OK = 1
STATUS_OK = "The rule was parsed successfully from the store. (65536)"  # Find-NetIPsecRule example output
STATUS_CODE_OK = 65536
# PolicyStoreSourceType: no IPsec page gives numbers. UNVERIFIED: 1 = Local (DynamicKeywordAddress page),
# 2 = GroupPolicy (cmdlet enum order None, Local, GroupPolicy, …; one public test script's mock data).
SOURCE_TYPE = {"Local": 1, "GroupPolicy": 2}
ENFORCEMENT_FULL, ENFORCEMENT_DISABLED = 1, 4


def _check() -> None:
    """Every code above that a page lists must carry the page's meaning (guards against typos)."""
    pages = {
        ("MSFT_NetIKEMMCryptoProposal", "CipherAlgorithm"): (CIPHER, ()),
        ("MSFT_NetIKEQMCryptoProposal", "HashAlgorithmESP"): (HASH, ()),
        ("MSFT_NetIKEMMCryptoProposal", "GroupId"): (DH, ("SameAsMainMode",)),
        ("MSFT_NetIKEQMCryptoProposal", "Encapsulation"): (ENCAPSULATION, ()),
        ("MSFT_NetConSecRule", "InboundSecurity"): (SECURITY, ()),
        ("MSFT_NetConSecRule", "Mode"): (MODE, ("None",)),
        ("MSFT_NetConSecRule", "Enabled"): (ENABLED, ()),
        ("MSFT_NetConSecRule", "KeyModule"): (KEY_MODULE, ()),
        ("MSFT_NetIKECertAuthProposal", "TrustedCAType"): (TRUSTED_CA_TYPE, ()),
        ("MSFT_NetIKECertAuthProposal", "SigningAlgorithm"): (SIGNING, ()),
        ("MSFT_NetIKECertAuthProposal", "CertNameType"): (CERT_NAME_TYPE, ()),
        ("MSFT_NetSecuritySettingData", "Exemptions"): (EXEMPTION_BITS, ()),
        ("MSFT_NetSecuritySettingData", "EnableStatefulFtp"): (GPO_BOOLEAN, ()),
    }
    for (cls, prop), (table, undocumented) in pages.items():
        listed = class_properties(cls)[prop]["values"]
        for name, code in table.items():
            if name not in undocumented and str(code) not in listed:
                raise AssertionError(f"{cls}.{prop}: {name} = {code} is not on the class page")


_check()


# --- instances ----------------------------------------------------------------------------------------------

_UNSIGNED = {"uint8": UInt8, "uint16": UInt16, "uint32": UInt32, "uint64": UInt64}


def _typed(cim_type: str, value: Any) -> Any:
    if value is None:
        return None
    if cim_type.endswith("[]") and cim_type != "instance[]":
        return [_typed(cim_type[:-2], v) for v in as_list(value)]
    unsigned = _UNSIGNED.get(cim_type)
    if unsigned is not None:
        return unsigned(int(value))
    if cim_type == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if cim_type == "string":
        return str(value)
    if cim_type == "instance[]":
        return list(as_list(value))
    if cim_type in ("instance", "datetime"):
        return value
    return value


_Typing = tuple[str, str, "Callable[[Any], Any] | None"]  # (property name, CIM type, its _typed or None)


@functools.cache
def _layout(cim_class: str) -> tuple[dict[str, tuple[str, CimProperty]], dict[str, _Typing]]:
    """A class's unset instance (lowered name -> (name, ``$null`` CimProperty)) and its property types
    (lowered name -> (name, CIM type)): built once per class, as ``instance`` builds every result from them
    (a NetSecurity read renders thousands of instances). CimProperty is frozen, so sharing is safe."""
    props = class_properties(cim_class)
    unset = {name.lower(): (name, CimProperty(name, None, spec["type"])) for name, spec in props.items()}
    types = {name.lower(): (name, spec["type"], _converter(spec["type"])) for name, spec in props.items()}
    return unset, types


def _converter(cim_type: str) -> Callable[[Any], Any] | None:
    """``_typed`` for one CIM type, or None where it keeps the value as given (instance, datetime, …)."""
    unsigned = _UNSIGNED.get(cim_type)
    if unsigned is not None:
        return lambda value: None if value is None else unsigned(int(value))
    if cim_type.endswith("[]") or cim_type in ("boolean", "string"):
        return functools.partial(_typed, cim_type)
    return None


def instance(cim_class: str, values: Mapping[str, Any], type_layer: Mapping[str, Any] | None = None) -> PSObject:
    """A CIM instance of ``cim_class`` with every documented property (unset ones ``$null``).

    A value for a property the class does not have is a lab bug, not a silent extra: it raises.
    ``type_layer``: cmdlet-style properties added on top (shadowing CIM ones of the same name).
    """
    unset, types = _layout(cim_class)
    entries = dict(unset)
    for name, value in values.items():
        low = name.lower()
        found = types.get(low)
        if found is None:
            raise ValueError(f"{cim_class} has no property {name!r}")
        canonical, cim_type, convert = found
        typed = value if convert is None else convert(value)
        entries[low] = (canonical, CimProperty(canonical, typed, cim_type))
    cim = CaseInsensitiveDict.from_entries(entries)
    view = CaseInsensitiveDict.from_entries({low: (name, prop.value) for low, (name, prop) in entries.items()})
    for name, value in (type_layer or {}).items():
        view[name] = value
    obj = PSObject.cim(f"{CIM_NAMESPACE}/{cim_class}", view)
    obj.cim_props = cim
    return obj


def _profiles(names: Any, any_code: int = 0) -> int:
    wanted = [n for n in flag_names(names) if n != "Any"]
    return sum(PROFILE_BITS[n] for n in wanted) if wanted else any_code


def _profile_text(names: Any) -> str:
    wanted = [n for n in flag_names(names) if n != "Any"]
    return ", ".join(wanted) if wanted else "Any"


def _status(obj: PolicyObject, store: Store, *, active: bool, trace: bool) -> dict[str, Any]:
    enabled = str(obj.props.get("Enabled", "True")) == "True"
    return {
        "PrimaryStatus": PRIMARY_STATUS_OK, "Status": STATUS_OK, "StatusCode": STATUS_CODE_OK,
        # Only meaningful when read from the ActiveStore (class pages).
        "EnforcementStatus": [ENFORCEMENT_FULL if enabled else ENFORCEMENT_DISABLED] if active else None,
        # Read straight from a store the source is that store; from ActiveStore it is empty unless
        # -TracePolicyStore asks for it (Find-NetIPsecRule example shows an empty PolicyStoreSource).
        "PolicyStoreSource": store.name if (trace or not active) else None,
        "PolicyStoreSourceType": SOURCE_TYPE.get(store.source_type),
    }


def _status_layer(obj: PolicyObject, store: Store, *, active: bool) -> dict[str, Any]:
    return {"PrimaryStatus": "OK", "EnforcementStatus": "NotApplicable" if not active else "Full",
            "PolicyStoreSourceType": store.source_type}


def render(assumptions: HostAssumptions, obj: PolicyObject, store: Store, proposals: list[PSObject] | None,
           *, active: bool, trace: bool) -> PSObject:
    """A stored rule or set as Get-/New-NetIPsec… returns it."""
    p = obj.props
    common = {"InstanceID": obj.name, "ElementName": p.get("DisplayName"), "DisplayName": p.get("DisplayName"),
              "Description": p.get("Description"), "RuleGroup": p.get("Group"), "DisplayGroup": p.get("Group"),
              **_status(obj, store, active=active, trace=trace)}
    layer: dict[str, Any] = {"Name": obj.name, "ID": obj.name, "Group": p.get("Group"),
                             **_status_layer(obj, store, active=active)}
    if obj.kind is RULE:
        values = {
            **common, "Enabled": ENABLED[str(p.get("Enabled", "True"))], "Profiles": _profiles(p.get("Profile")),
            "Platforms": list(as_list(p.get("Platform"))), "Mode": MODE[str(p.get("Mode", "Transport"))],
            "InboundSecurity": SECURITY[str(p.get("InboundSecurity"))],
            "OutboundSecurity": SECURITY[str(p.get("OutboundSecurity"))],
            "KeyModule": _key_module(assumptions, str(p.get("KeyModule") or "Default")),
            "QuickModeCryptoSet": p.get("QuickModeCryptoSet"), "Phase1AuthSet": p.get("Phase1AuthSet"),
            "Phase2AuthSet": p.get("Phase2AuthSet"), "AllowWatchKey": p.get("AllowWatchKey"),
            "AllowSetKey": p.get("AllowSetKey"), "LocalTunnelEndpoint": list(as_list(p.get("LocalTunnelEndpoint"))),
            "RemoteTunnelEndpoint": list(as_list(p.get("RemoteTunnelEndpoint"))),
            "RemoteTunnelEndpointDNSName": p.get("RemoteTunnelHostname"),
            "MaxReturnPathLifetimeSeconds": p.get("ForwardPathLifetime"),
            "BypassTunnelIfEncrypted": p.get("EncryptedTunnelBypass"),
            "RequireAuthorization": p.get("RequireAuthorization"), "Users": p.get("User"),
            "Machines": p.get("Machine"),
        }
        layer.update({
            "IPsecRuleName": obj.name, "Enabled": str(p.get("Enabled", "True")),
            "Profile": _profile_text(p.get("Profile")),
            "Platform": list(as_list(p.get("Platform"))), "Mode": str(p.get("Mode", "Transport")),
            "InboundSecurity": str(p.get("InboundSecurity")), "OutboundSecurity": str(p.get("OutboundSecurity")),
            "KeyModule": str(p.get("KeyModule") or "Default"), "RemoteTunnelHostname": p.get("RemoteTunnelHostname"),
            "ForwardPathLifetime": p.get("ForwardPathLifetime"),
            "EncryptedTunnelBypass": p.get("EncryptedTunnelBypass"), "User": p.get("User"),
            "Machine": p.get("Machine"),
        })
        return instance(RULE.cim_class, values, layer if assumptions.type_layer else None)
    if obj.kind is MM_RULE:
        values = {**common, "Enabled": ENABLED[str(p.get("Enabled", "True"))],
                  "Profiles": _profiles(p.get("Profile"), assumptions.mm_rule_any_profiles_code),
                  "Platforms": list(as_list(p.get("Platform"))), "MainModeCryptoSet": p.get("MainModeCryptoSet"),
                  "Phase1AuthSet": p.get("Phase1AuthSet")}
        layer.update({"Enabled": str(p.get("Enabled", "True")), "Profile": _profile_text(p.get("Profile")),
                      "Platform": list(as_list(p.get("Platform")))})
        return instance(MM_RULE.cim_class, values, layer if assumptions.type_layer else None)
    values = {**common, "Proposals": list(proposals or [])}
    layer["Proposal"] = list(proposals or [])
    if obj.kind is MM_CRYPTO:
        values.update({"MaxLifetimeMinutes": p.get("MaxMinutes"), "MaxLifetimeSessions": p.get("MaxSessions"),
                       "ForceDiffieHellman": p.get("ForceDiffieHellman")})
        layer.update({"MaxMinutes": p.get("MaxMinutes"), "MaxSessions": p.get("MaxSessions")})
    elif obj.kind is QM_CRYPTO:
        pfs = str(p.get("PerfectForwardSecrecyGroup") or "None")
        values["PfsGroupID"] = DH[pfs]
        layer["PerfectForwardSecrecyGroup"] = pfs
    elif obj.kind not in (P1_AUTH, P2_AUTH):
        raise ValueError(f"no CIM rendering for {obj.kind.key}")
    return instance(obj.kind.cim_class, values, layer if assumptions.type_layer else None)


def _key_module(assumptions: HostAssumptions, name: str) -> int:
    return KEY_MODULE.get(name, assumptions.key_module_default_code)


# --- proposals ----------------------------------------------------------------------------------------------

AUTH_CLASSES = {"Kerberos": "MSFT_NetIKEKerbAuthProposal", "Cert": "MSFT_NetIKECertAuthProposal",
                "PreSharedKey": "MSFT_NetIKEPSKAuthProposal", "Ntlm": "MSFT_NetIKEBasicAuthProposal",
                "Anonymous": "MSFT_NetIKEBasicAuthProposal"}


def auth_method(values: Mapping[str, Any]) -> str:
    """Kerberos | Ntlm | Cert | PreSharedKey | Anonymous, from New-NetIPsecAuthProposal's switches."""
    for method in ("Kerberos", "Ntlm", "Cert", "Anonymous"):
        if values.get(method):
            return method
    return "PreSharedKey"


def auth_method_code(assumptions: HostAssumptions, values: Mapping[str, Any]) -> int:
    """AuthenticationMethod (auth proposal pages; 65005 is listed twice there, 65006 never: the machine
    certificate code is HostAssumptions.machine_cert_auth_code)."""
    method = auth_method(values)
    user = bool(values.get("User"))
    if method == "Cert":
        if values.get("Health"):
            return 65008
        return 65007 if user else assumptions.machine_cert_auth_code
    return {"Kerberos": 65004 if user else 65002, "Ntlm": 65005 if user else 65003,
            "PreSharedKey": 2, "Anonymous": 65001}[method]


def render_proposal(assumptions: HostAssumptions, proposal: Proposal) -> PSObject:
    v = proposal.values
    layer: dict[str, Any]
    values: dict[str, Any]
    if proposal.cmdlet == "New-NetIPsecMainModeCryptoProposal":
        values = {"CipherAlgorithm": CIPHER[str(v["Encryption"])], "HashAlgorithm": HASH[str(v["Hash"])],
                  "GroupId": DH[str(v["KeyExchange"])]}
        layer = {"Encryption": v["Encryption"], "Hash": v["Hash"], "KeyExchange": v["KeyExchange"]}
        cls = "MSFT_NetIKEMMCryptoProposal"
    elif proposal.cmdlet == "New-NetIPsecQuickModeCryptoProposal":
        encap = ", ".join(flag_names(v.get("Encapsulation"))) or "None"
        values = {"Encapsulation": ENCAPSULATION[encap], "CipherAlgorithm": CIPHER[str(v["Encryption"])],
                  "HashAlgorithmAH": HASH[str(v["AHHash"])], "HashAlgorithmESP": HASH[str(v["ESPHash"])],
                  "MaxLifetimeMinutes": v.get("MaxMinutes"), "MaxLifetimeKilobytes": v.get("MaxKiloBytes")}
        layer = {"Encapsulation": encap, "Encryption": v["Encryption"], "AHHash": v["AHHash"],
                 "ESPHash": v["ESPHash"], "MaxMinutes": v.get("MaxMinutes"), "MaxKiloBytes": v.get("MaxKiloBytes")}
        cls = "MSFT_NetIKEQMCryptoProposal"
    else:
        method = auth_method(v)
        cls = AUTH_CLASSES[method]
        values = {"AuthenticationMethod": auth_method_code(assumptions, v)}
        principal = "User" if v.get("User") else "Machine"
        display = {"PreSharedKey": "PreSharedKey", "Anonymous": "Anonymous"}.get(method, f"{principal}{method}")
        layer = {"AuthenticationMethod": display}
        if method == "Cert":
            values.update({
                "TrustedCA": v.get("Authority"), "TrustedCAType": TRUSTED_CA_TYPE.get(str(v.get("AuthorityType"))),
                "SigningAlgorithm": SIGNING.get(str(v.get("Signing"))), "CertName": v.get("SubjectName"),
                "CertNameType": CERT_NAME_TYPE.get(str(v.get("SubjectNameType"))) if v.get("SubjectNameType") else None,
                "EKUs": as_list(v.get("ExtendedKeyUsage")) or None, "Thumbprint": v.get("Thumbprint"),
                "FollowRenewal": v.get("FollowRenewal"), "ExcludeCAName": v.get("ExcludeCAName"),
                "SelectionCriteria": v.get("SelectionCriteria"), "ValidationCriteria": v.get("ValidationCriteria"),
                "MapToAccount": v.get("AccountMapping"),
            })
            layer.update({"Authority": v.get("Authority"), "AuthorityType": v.get("AuthorityType"),
                          "Signing": v.get("Signing"), "SubjectName": v.get("SubjectName"),
                          "ExtendedKeyUsage": v.get("ExtendedKeyUsage"), "AccountMapping": v.get("AccountMapping")})
        elif method == "Kerberos":
            values["KerbProxy"] = v.get("Proxy")
            layer["Proxy"] = v.get("Proxy")
        elif method == "PreSharedKey":
            values["PreSharedKey"] = v.get("PreSharedKey")  # stored and returned in clear (class page)
    return instance(cls, values, layer if assumptions.type_layer else None)


def proposal_values(cim_class: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A proposal instance that came back from a client (deserialised, CIM names) -> (cmdlet, parameters)."""
    def name_of(table: Mapping[str, int], code: Any) -> str | None:
        return next((n for n, c in table.items() if str(c) == str(code)), None)

    if cim_class == "MSFT_NetIKEMMCryptoProposal":
        return "New-NetIPsecMainModeCryptoProposal", {
            "Encryption": name_of(CIPHER, props.get("CipherAlgorithm")),
            "Hash": name_of(HASH, props.get("HashAlgorithm")),
            "KeyExchange": name_of(DH, props.get("GroupId"))}
    if cim_class == "MSFT_NetIKEQMCryptoProposal":
        return "New-NetIPsecQuickModeCryptoProposal", {
            "Encapsulation": name_of(ENCAPSULATION, props.get("Encapsulation")),
            "Encryption": name_of(CIPHER, props.get("CipherAlgorithm")),
            "AHHash": name_of(HASH, props.get("HashAlgorithmAH")),
            "ESPHash": name_of(HASH, props.get("HashAlgorithmESP")),
            "MaxMinutes": props.get("MaxLifetimeMinutes"), "MaxKiloBytes": props.get("MaxLifetimeKilobytes")}
    if cim_class in AUTH_CLASSES.values():
        code = int(props.get("AuthenticationMethod") or 0)
        values: dict[str, Any] = {"Machine": code in (65002, 65003, 65005, 65006, 65008) and code != 65005}
        if cim_class == "MSFT_NetIKEKerbAuthProposal":
            values.update(Kerberos=True, User=code == 65004, Proxy=props.get("KerbProxy"))
        elif cim_class == "MSFT_NetIKECertAuthProposal":
            values.update(Cert=True, Machine=code != 65007, User=code == 65007, Health=code == 65008,
                          Authority=props.get("TrustedCA"),
                          AuthorityType=name_of(TRUSTED_CA_TYPE, props.get("TrustedCAType")),
                          Signing=name_of(SIGNING, props.get("SigningAlgorithm")))
        elif cim_class == "MSFT_NetIKEPSKAuthProposal":
            values.update(PreSharedKey=props.get("PreSharedKey"), Machine=True)
        elif code == 65001:
            values.update(Anonymous=True)
        else:
            values.update(Ntlm=True, User=code == 65005, Machine=code == 65003)
        return "New-NetIPsecAuthProposal", values
    return None
