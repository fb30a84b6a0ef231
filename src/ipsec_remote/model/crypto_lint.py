"""Crypto lint: weak algorithm choices in an inventory, warned about or refused, each with why and what instead.

Pure: it reads a parsed ``Inventory``. The worst choices are refused (an ``InputError``, exit 2) unless the
inventory accepts the risk by name in ``crypto.allow_weak``; the others are warnings the CLI prints on stderr.

Sources for the one-line reasons:
- Microsoft, "Configure Key Exchange (Main Mode) Settings" (windows-itpro-docs, windows-firewall):
  "We recommend that you do not include MD5 or DES in any combination. They are included for backward
  compatibility only." and "We recommend that you do not use Diffie-Hellman Group 1."
- Microsoft, "Configure Data Protection (Quick Mode) Settings": the same for DES and MD5 in quick mode; data
  integrity without encryption is a supported design, encryption recommended where traffic requires it.
- New-NetIPsecAuthProposal -PreSharedKey (shared/reference/netsecurity.json notes): the key is stored in
  plain text and its use is strongly discouraged.
- NIST SP 800-131A Rev. 2 (2019): three-key TDEA encryption disallowed after 2023; finite-field
  Diffie-Hellman below 2048 bits disallowed for key agreement; SHA-1 kept for HMAC and legacy use only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError

WeakName = Literal["DES", "DES3", "MD5", "SHA1", "DH1", "DH2", "null_encryption", "psk"]

_MS_MM = "Microsoft: Configure Key Exchange (Main Mode) Settings"
_MS_QM = "Microsoft: Configure Data Protection (Quick Mode) Settings"
_NIST = "NIST SP 800-131A Rev. 2"


@dataclass(frozen=True)
class Rule:
    refused: bool
    why: str
    instead: str


RULES: dict[str, Rule] = {
    "DES": Rule(True, f"56-bit key, broken by exhaustive search; 'included for backward compatibility only' ({_MS_MM})",
                "use AES256 (AESGCM256 in quick mode)"),
    "DES3": Rule(True, f"64-bit block (Sweet32); three-key TDEA encryption is disallowed after 2023 ({_NIST})",
                 "use AES256 (AESGCM256 in quick mode)"),
    "MD5": Rule(True, f"collisions are practical; 'do not include MD5 in any combination' ({_MS_MM})",
                "use SHA256 or SHA384"),
    "DH1": Rule(True, f"768-bit group, within reach of precomputation; 'do not use Diffie-Hellman Group 1' ({_MS_MM})",
                "use DH19 (or DH14)"),
    "DH2": Rule(True, f"1024-bit group: below the 2048-bit minimum for key agreement ({_NIST}; Logjam)",
                "use DH19 (or DH14)"),
    "SHA1": Rule(False, f"deprecated; kept only for HMAC and legacy use ({_NIST})", "use SHA256 or SHA384"),
    "null_encryption": Rule(False, f"integrity only: traffic is authenticated but readable on the wire ({_MS_QM})",
                            "where confidentiality matters use encryption = \"AESGCM256\" with esp_hash = "
                            "\"AESGMAC256\""),
    "psk": Rule(False, "a pre-shared key is stored in plain text in every host's policy and is shared by all of "
                       "them (New-NetIPsecAuthProposal -PreSharedKey: strongly discouraged)",
                "use kerberos or certificate outside a lab"),
}


@dataclass(frozen=True)
class Weakness:
    key_path: str
    value: str
    name: str  # a key of RULES, as written in crypto.allow_weak

    @property
    def rule(self) -> Rule:
        return RULES[self.name]


def _weak_value(value: str) -> str | None:
    return value if value in RULES else None


def find_weaknesses(inv: Any) -> list[Weakness]:
    """Every weak choice in the inventory, in file order."""
    out: list[Weakness] = []
    for i, p in enumerate(inv.crypto.main_mode.proposals):
        base = f"crypto.main_mode.proposals[{i}]"
        for key in ("encryption", "hash", "key_exchange"):
            value = str(getattr(p, key))
            if _weak_value(value):
                out.append(Weakness(f"{base}.{key}", value, value))
    for i, p in enumerate(inv.crypto.quick_mode.proposals):
        base = f"crypto.quick_mode.proposals[{i}]"
        for key in ("encryption", "esp_hash", "ah_hash"):
            value = str(getattr(p, key))
            if _weak_value(value):
                out.append(Weakness(f"{base}.{key}", value, value))
        if "ESP" not in p.encapsulation:  # AH authenticates, never encrypts
            out.append(Weakness(f"{base}.encapsulation", f"{p.encapsulation} without ESP", "null_encryption"))
        elif p.encryption == "None":
            out.append(Weakness(f"{base}.encryption", "ESP without encryption", "null_encryption"))
    pfs = str(inv.crypto.quick_mode.pfs_group)
    if _weak_value(pfs):
        out.append(Weakness("crypto.quick_mode.pfs_group", pfs, pfs))
    if inv.auth.method == "psk":
        out.append(Weakness("auth.method", "psk", "psk"))
    return out


def refuse_weak(inv: Any, label: str) -> None:
    """The first refused choice the inventory does not explicitly allow, as one InputError line."""
    allowed = set(inv.crypto.allow_weak)
    for w in find_weaknesses(inv):
        if w.rule.refused and w.name not in allowed:
            raise InputError(label, w.key_path,
                             f"{w.value} is refused: {w.rule.why}; {w.rule.instead}, or accept the risk with "
                             f"crypto.allow_weak = [\"{w.name}\"]")


def weak_warnings(inv: Any, label: str) -> list[str]:
    """One line per weak choice that is not refused (allowed ones included), for stderr."""
    allowed = set(inv.crypto.allow_weak)
    lines = []
    for w in find_weaknesses(inv):
        if w.rule.refused and w.name not in allowed:
            continue  # refuse_weak reports it
        note = " (allowed by crypto.allow_weak)" if w.rule.refused else ""
        lines.append(f"{label}: {w.key_path}: warning: {w.value} is weak{note}: {w.rule.why}; {w.rule.instead}")
    return lines
