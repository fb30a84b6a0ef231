"""Built-in defaults, proposal choice and the enum-name → SA numeric-code tables.

Code sources: netsecurity.json ``cmdlets.Get-NetIPsecMainModeSA.output_properties`` and
``Get-NetIPsecQuickModeSA`` (from the MSFT_NetMainModeSA / MSFT_NetQuickModeSA class pages).  Enum names
are the New-NetIPsec*CryptoProposal ``-Encryption/-Hash/-KeyExchange/-ESPHash/-AHHash`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ipsec_remote.lab.ike.model import (
    AuthProposal,
    MmCryptoSet,
    MmProposal,
    NegotiatedModule,
    QmCryptoSet,
    QmProposal,
)

# --- codes -------------------------------------------------------------------------------------------
# CipherAlgorithm (MM) and First/SecondCipherAlgorithm (QM): same table in the reference.
CIPHER_CODES: Mapping[str, int] = {
    "None": 0, "DES": 2, "DES3": 6, "AES128": 65001, "AES192": 65002, "AES256": 65003,
    "AESGCM128": 65004, "AESGCM192": 65005, "AESGCM256": 65006,
}
# HashAlgorithm (MM).  The QM First/SecondIntegrityAlgorithm table is identical except that it omits
# SHA-384; QM SHA384 -> 65002 is an UNVERIFIED inference from the MM table.
HASH_CODES: Mapping[str, int] = {
    "None": 0, "MD5": 2, "SHA1": 3, "SHA256": 65001, "SHA384": 65002,
    "AESGMAC128": 65003, "AESGMAC192": 65004, "AESGMAC256": 65005,
}
# GroupId (MM) and PfsGroupId (QM; "Same as Main Mode" = 65535 only there).
DH_CODES: Mapping[str, int] = {
    "None": 0, "DH1": 1, "DH2": 2, "DH14": 14, "DH19": 19, "DH20": 20, "DH24": 24, "SameAsMainMode": 65535,
}
# FirstTransformType: the class page gives no codes.  UNVERIFIED: values of WFP IPSEC_TRANSFORM_TYPE
# (ipsectypes.h: AH=1, ESP_AUTH=2, ESP_CIPHER=3, ESP_AUTH_AND_CIPHER=4).
TRANSFORM_CODES: Mapping[str, int] = {"AH": 1, "ESP_AUTH": 2, "ESP_CIPHER": 3, "ESP_AUTH_AND_CIPHER": 4}
# EncapsulationMode is documented "This field is ignored"; UNVERIFIED: the lab fills it with the
# Get-NetIPsecRule Mode CIM enum (Transport=1, Tunnel=2).
MODE_CODES: Mapping[str, int] = {"Transport": 1, "Tunnel": 2}
# IANA protocol numbers for the New-NetIPsecRule -Protocol keywords.
PROTOCOL_NUMBERS: Mapping[str, int] = {"TCP": 6, "UDP": 17, "ICMPV4": 1, "ICMPV6": 58}

# --- built-in defaults (windows-behaviour.md §2) -----------------------------------------------------
# Documented (KB949856 netsh help): mmsecmethods default = dhgroup2-aes128-sha1, dhgroup2-3des-sha1.
BUILTIN_MM = MmCryptoSet(
    proposals=(MmProposal("AES128", "SHA1", "DH2"), MmProposal("DES3", "SHA1", "DH2")),
)
# Undocumented list; [community/vendor] AWS guide: ESP SHA1-AES128 then ESP SHA1-3DES, PFS none
# (PFS none is documented: KB949856 qmpfs default=none).
BUILTIN_QM = QmCryptoSet(
    proposals=(QmProposal("ESP", "AES128", "SHA1"), QmProposal("ESP", "DES3", "SHA1")),
    pfs_group="None",
)
# Partially documented (PS-New-NetIPsecRule example 2, FW-configure-with-powershell): machine Kerberos.
BUILTIN_PHASE1_AUTH: tuple[AuthProposal, ...] = (AuthProposal("Kerberos", "Machine"),)


@dataclass(frozen=True)
class MmChoice:
    proposal: MmProposal
    group: str  # DH group actually used ("None" when AuthIP skips the DH exchange)


def choose_mm(
    initiator: MmCryptoSet, responder: MmCryptoSet, module: NegotiatedModule, dh_required: bool
) -> MmChoice | None:
    """The MM proposal both sides accept, or None.

    IKE: "the first proposal that the responder has in common with the sender" (PS-New-NetIPsec-
    MainModeCryptoProposal), walking the initiator's order (FW-configure-key-exchange-main-mode-settings).
    AuthIP: only the initiator's top encryption+integrity combination is offered, and no DH exchange
    unless ForceDiffieHellman or the auth method needs one (same page; MS-AIPS 3.2.4: anonymous/NTLM).
    """
    if module == "AuthIP":
        top = initiator.proposals[0] if initiator.proposals else None
        if top is None:
            return None
        use_dh = dh_required or initiator.force_diffie_hellman
        for theirs in responder.proposals:
            if (theirs.encryption, theirs.hash) != (top.encryption, top.hash):
                continue
            if use_dh and theirs.key_exchange != top.key_exchange:
                continue
            return MmChoice(top, top.key_exchange if use_dh else "None")
        return None
    for mine in initiator.proposals:
        if mine in responder.proposals:
            return MmChoice(mine, mine.key_exchange)
    return None


def choose_qm(initiator: QmCryptoSet, responder: QmCryptoSet, module: NegotiatedModule) -> QmProposal | None:
    """QM: "the first proposal that the peers have in common" (PS-New-NetIPsecQuickModeCryptoSet),
    in the initiator's order.  AH is not supported with transport-mode IKEv2
    (PS-New-NetIPsecQuickModeCryptoProposal -Encapsulation), so IKEv2 skips AH proposals."""
    for mine in initiator.proposals:
        if module == "IKEv2" and "AH" in _encaps(mine):
            continue
        if mine in responder.proposals:
            return mine
    return None


def pfs_compatible(initiator: QmCryptoSet, responder: QmCryptoSet) -> bool:
    """PFS is a set-level setting (PS-New-NetIPsecQuickModeCryptoSet -PerfectForwardSecrecyGroup); a QM
    exchange with PFS on one side only cannot agree (RFC 2409 §5.5 KE payload), so groups must match."""
    return initiator.pfs_group == responder.pfs_group


def mm_sa_crypto(choice: MmChoice) -> dict[str, object]:
    """CipherAlgorithm/HashAlgorithm/GroupId of an MM SA (codes: MSFT_NetMainModeSA)."""
    return {
        "CipherAlgorithm": CIPHER_CODES[choice.proposal.encryption],
        "HashAlgorithm": HASH_CODES[choice.proposal.hash],
        "GroupId": DH_CODES[choice.group],
    }


def qm_sa_crypto(proposal: QmProposal, pfs_group: str) -> dict[str, object]:
    """First/Second transform, cipher and integrity of a QM SA (codes: MSFT_NetQuickModeSA).

    "AH,ESP" puts AH first and ESP second, the order the cmdlet's Encapsulation value lists them.
    """
    transforms = [_transform(kind, proposal) for kind in _encaps(proposal)]
    out: dict[str, object] = {}
    for prefix, (ttype, cipher, integrity) in zip(("First", "Second"), transforms, strict=False):
        out[f"{prefix}TransformType"] = TRANSFORM_CODES[ttype]
        out[f"{prefix}CipherAlgorithm"] = CIPHER_CODES[cipher]
        out[f"{prefix}IntegrityAlgorithm"] = HASH_CODES[integrity]
    if len(transforms) == 1:
        out.update(SecondTransformType=0, SecondCipherAlgorithm=0, SecondIntegrityAlgorithm=0)
    out["PfsGroupId"] = DH_CODES[pfs_group]
    return out


def _encaps(proposal: QmProposal) -> list[str]:
    return [part.strip().upper() for part in proposal.encapsulation.split(",") if part.strip()]


def _transform(kind: str, proposal: QmProposal) -> tuple[str, str, str]:
    if kind == "AH":
        return "AH", "None", proposal.ah_hash
    has_cipher = proposal.encryption != "None"
    has_auth = proposal.esp_hash != "None"
    if has_cipher and has_auth:
        return "ESP_AUTH_AND_CIPHER", proposal.encryption, proposal.esp_hash
    if has_cipher:
        return "ESP_CIPHER", proposal.encryption, "None"
    return "ESP_AUTH", "None", proposal.esp_hash
