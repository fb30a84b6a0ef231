"""CIM value codes → the cmdlets' enum names, for what the host scripts read.

The scripts read NetSecurity objects through their documented CIM properties (``MSFT_NetConSecRule``,
``MSFT_NetIKE*Proposal``, ``MSFT_NetMainModeSA`` … on learn.microsoft.com/windows/win32/fwp/wmi/wfascimprov)
and send the raw numbers; the controller names them here, in the vocabulary of the New-* parameters the
planner compares against. ``data/wfascim.json`` (derived from shared/reference/wfascim-classes.json) holds the
pages' value lists; every documented code below is checked against it when the module loads.

Where a page is silent (the reference's open questions), the mapping reads every plausible number the same
way, so the product is right whichever Windows uses: e.g. KeyModule ``Default`` has no number, so any
value that is not a single documented module reads as Default.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any


@functools.cache
def cim_classes() -> dict[str, Any]:
    text = resources.files("ipsec_remote.data").joinpath("wfascim.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)["classes"]
    return data


CIPHER = {0: "None", 2: "DES", 6: "DES3", 65001: "AES128", 65002: "AES192", 65003: "AES256",
          65004: "AESGCM128", 65005: "AESGCM192", 65006: "AESGCM256"}
HASH = {0: "None", 2: "MD5", 3: "SHA1", 65001: "SHA256", 65002: "SHA384", 65003: "AESGMAC128",
        65004: "AESGMAC192", 65005: "AESGMAC256"}
DH = {0: "None", 1: "DH1", 2: "DH2", 14: "DH14", 19: "DH19", 20: "DH20", 24: "DH24"}
# MSFT_NetIKEQMCryptoSet.PfsGroupID lists 1..24 only; None and SameAsMainMode take the numbers that
# MSFT_NetQuickModeSA.PfsGroupId gives the same setting (0, 65535).
PFS = {**DH, 65535: "SameAsMainMode"}
ENCAPSULATION = {0: "None", 1: "AH", 2: "ESP", 3: "AH,ESP"}
SECURITY = {0: "None", 1: "Request", 2: "Require"}  # the page calls 0 "Never"; the cmdlets say None
MODE = {1: "Transport", 2: "Tunnel"}
ENABLED = {1: "True", 2: "False"}
KEY_MODULE = {1: "IKEv1", 2: "AuthIP", 4: "IKEv2"}
PROFILE_BITS = {1: "Domain", 2: "Private", 4: "Public"}
TRUSTED_CA_TYPE = {1: "Root", 2: "Intermediate"}
SIGNING = {1: "RSA", 2: "ECDSA256", 3: "ECDSA384"}
EXEMPTION_BITS = {1: "NeighborDiscovery", 2: "Icmp", 4: "RouterDiscovery", 8: "Dhcp"}
NOT_CONFIGURED_32 = 4294967295
# GPO-style booleans (documented 0/1/2 on MSFT_NetSecuritySettingData; the profile page lists no numbers).
GPO_BOOLEAN = {0: "False", 1: "True", 2: "NotConfigured"}
# AuthenticationMethod of auth proposals: the pages list 65005 twice (user NTLM, machine certificate) and
# never 65006, which public code uses for machine certificates; the proposal's class settles 65005.
AUTH_METHOD = {2: "PreSharedKey", 65001: "Anonymous", 65002: "MachineKerberos", 65003: "MachineNtlm",
               65004: "UserKerberos", 65005: "UserNtlm", 65006: "MachineCert", 65007: "UserCert",
               65008: "MachineHealthCert"}
CERT_PROPOSAL = "MSFT_NetIKECertAuthProposal"

# MSFT_NetMainModeSA.KeyModule has no value list; IKEEXT_KEY_MODULE_TYPE (WFP, iketypes.h) numbers IKE 0,
# AuthIP 1, IKEv2 2. Reported, never judged on.
SA_KEY_MODULE = {0: "IKEv1", 1: "AuthIP", 2: "IKEv2"}
# First/SecondTransformType have no value list; IPSEC_TRANSFORM_TYPE (WFP, ipsectypes.h) numbers them from
# 1: AH, ESP_AUTH, ESP_CIPHER, ESP_AUTH_AND_CIPHER, ESP_AUTH_FW.
TRANSFORM = {1: "AH", 2: "ESP_AUTH", 3: "ESP_CIPHER", 4: "ESP_AUTH_AND_CIPHER", 5: "ESP_AUTH_FW"}


# NetTCPIP classes observe.ps1 reads (learn.microsoft.com/windows/win32/fwp/wmi/nettcpipprov; MicrosoftDocs
# win32 desktop-src/FWP/wmi/nettcpipprov/msft-nettcpconnection.md and msft-netudpendpoint.md): the properties
# read, with their documented types. Not WFAS classes, so not in data/wfascim.json.
NETTCPIP_CLASSES: dict[str, dict[str, str]] = {
    "MSFT_NetTCPConnection": {"LocalAddress": "string", "LocalPort": "uint16", "RemoteAddress": "string",
                              "RemotePort": "uint16", "State": "uint8", "OwningProcess": "uint32",
                              "InstanceID": "string"},
    "MSFT_NetUDPEndpoint": {"LocalAddress": "string", "LocalPort": "uint16"},
}
# MSFT_NetTCPConnection.State (uint8), as the class page lists it.
TCP_STATE = {1: "Closed", 2: "Listen", 3: "SynSent", 4: "SynReceived", 5: "Established", 6: "FinWait1",
             7: "FinWait2", 8: "CloseWait", 9: "Closing", 10: "LastAck", 11: "TimeWait", 12: "DeleteTCB"}
# Direction of events 5156/5157 (event-5156.md, EventData "Direction": %%14592 inbound, %%14593 outbound); a
# host that hands the property over rendered says the word instead.
EVENT_DIRECTION = {"%%14592": "Inbound", "%%14593": "Outbound", "Inbound": "Inbound", "Outbound": "Outbound"}


def observe_codes() -> dict[str, Any]:
    """The codes observe.ps1 compares, as its parameters: the script aggregates on the host (one answer per
    chunk, whatever the number of samples), so the meaning of each number travels with the call."""
    return {"ListenState": next(c for c, n in TCP_STATE.items() if n == "Listen"),
            "InboundDirections": [raw for raw, word in EVENT_DIRECTION.items() if word == "Inbound"]}


def _check() -> None:
    """Every documented code above must be on its class page with the meaning we give it."""
    pages: dict[tuple[str, str], tuple[Mapping[int, str], tuple[int, ...]]] = {
        ("MSFT_NetMainModeSA", "CipherAlgorithm"): (CIPHER, ()),
        ("MSFT_NetMainModeSA", "HashAlgorithm"): (HASH, ()),
        ("MSFT_NetMainModeSA", "GroupId"): (DH, ()),
        ("MSFT_NetQuickModeSA", "PfsGroupId"): (PFS, ()),
        ("MSFT_NetIKEQMCryptoProposal", "Encapsulation"): (ENCAPSULATION, ()),
        ("MSFT_NetConSecRule", "InboundSecurity"): (SECURITY, ()),
        ("MSFT_NetConSecRule", "Mode"): (MODE, ()),
        ("MSFT_NetConSecRule", "Enabled"): (ENABLED, ()),
        ("MSFT_NetConSecRule", "KeyModule"): (KEY_MODULE, ()),
        ("MSFT_NetConSecRule", "Profiles"): (PROFILE_BITS, ()),
        ("MSFT_NetIKECertAuthProposal", "TrustedCAType"): (TRUSTED_CA_TYPE, ()),
        ("MSFT_NetIKECertAuthProposal", "SigningAlgorithm"): (SIGNING, ()),
        ("MSFT_NetSecuritySettingData", "Exemptions"): (EXEMPTION_BITS, ()),
        ("MSFT_NetSecuritySettingData", "EnableStatefulFtp"): (GPO_BOOLEAN, ()),
        ("MSFT_NetIKEPSKAuthProposal", "AuthenticationMethod"): (AUTH_METHOD, (65006,)),
    }
    for (cls, prop), (table, undocumented) in pages.items():
        listed = cim_classes()[cls]["properties"][prop]["values"]
        for code in table:
            if code not in undocumented and str(code) not in listed:
                raise AssertionError(f"{cls}.{prop}: code {code} ({table[code]}) is not on the class page")


_check()


def code(value: Any) -> int | None:
    """A CIM number as the scripts deliver it (an int; a numeric string from a lenient host), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def name(table: Mapping[int, str], value: Any, default: str | None = None) -> str | None:
    number = code(value)
    return table.get(number, default) if number is not None else default


def key_module(value: Any) -> str:
    """MSFT_NetConSecRule.KeyModule: a single documented module, else Default (its number is undocumented)."""
    return name(KEY_MODULE, value) or "Default"


def profiles(value: Any) -> str:
    """Profiles bit mask → the -Profile value: 0 (Any on rule pages, "None" on the MM rule page) and all three
    bits (0x7 "All" on the MM rule page) both mean every profile."""
    mask = code(value) or 0
    names = [n for bit, n in sorted(PROFILE_BITS.items()) if mask & bit]
    return "Any" if not names or len(names) == len(PROFILE_BITS) else ",".join(names)


def exemptions(value: Any) -> str:
    """MSFT_NetSecuritySettingData.Exemptions bit mask → ``NeighborDiscovery, Dhcp`` (as the cmdlet shows it)."""
    mask = code(value)
    if mask is None:
        return ""
    if mask == NOT_CONFIGURED_32:
        return "NotConfigured"
    names = [n for bit, n in sorted(EXEMPTION_BITS.items()) if mask & bit]
    return ", ".join(names) if names else "None"


def auth_method(value: Any, cim_class: str) -> str | None:
    number = code(value)
    if number == 65005 and cim_class == CERT_PROPOSAL:
        return "MachineCert"  # the pages' second meaning of 65005; the class says which one it is
    return AUTH_METHOD.get(number) if number is not None else None
