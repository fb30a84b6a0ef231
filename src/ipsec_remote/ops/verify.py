"""Pure checks of a pair's SAs against the inventory, and the diagnosis when a pair does not verify.

SA algorithm properties are numeric codes (MSFT_NetMainModeSA / MSFT_NetQuickModeSA class pages, kept
in data/netsecurity.json); the inventory speaks the cmdlets' enum names. The maps below join the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model.inventory import Inventory
from ..remote.hoststate import HostFacts

# Cmdlet enum name → SA code (codes: reference output_properties of Get-NetIPsec*SA).
CIPHER_CODES = {"DES": 2, "DES3": 6, "AES128": 65001, "AES192": 65002, "AES256": 65003,
                "AESGCM128": 65004, "AESGCM192": 65005, "AESGCM256": 65006, "None": 0}
MM_HASH_CODES = {"MD5": 2, "SHA1": 3, "SHA256": 65001, "SHA384": 65002}
QM_INTEGRITY_CODES = {"None": 0, "MD5": 2, "SHA1": 3, "SHA256": 65001, "AESGMAC128": 65003,
                      "AESGMAC192": 65004, "AESGMAC256": 65005}  # SHA384 has no documented QM code
DH_CODES = {"DH1": 1, "DH2": 2, "DH14": 14, "DH19": 19, "DH20": 20, "DH24": 24}
CODE_NAMES = {
    "cipher": {v: k for k, v in CIPHER_CODES.items()},
    "mm_hash": {v: k for k, v in MM_HASH_CODES.items()},
    "qm_integrity": {v: k for k, v in QM_INTEGRITY_CODES.items()},
    "dh": {v: k for k, v in DH_CODES.items()},
}
EVENT_MEANING = {
    5453: "IKEEXT is not running (event 5453)",
    4653: "main mode negotiation failed (event 4653)",
    4652: "main mode negotiation failed (event 4652)",
    4654: "quick mode negotiation failed (event 4654)",
    4963: "clear-text packets that should have been secured were dropped (event 4963)",
}


@dataclass(frozen=True)
class Expected:
    mm: frozenset[tuple[int, int, int]]  # (cipher, hash, group)
    qm: frozenset[tuple[int, int | None]]  # (cipher, integrity or None when undocumented)


def expected(inv: Inventory) -> Expected:
    mm = frozenset((CIPHER_CODES[p.encryption], MM_HASH_CODES[p.hash], DH_CODES[p.key_exchange])
                   for p in inv.crypto.main_mode.proposals)
    qm = frozenset((CIPHER_CODES[p.encryption], QM_INTEGRITY_CODES.get(p.esp_hash))
                   for p in inv.crypto.quick_mode.proposals)
    return Expected(mm, qm)


@dataclass
class EndView:
    """One host's view of the pair after a verification round."""

    mm: dict[str, Any] | None = None
    qm: dict[str, Any] | None = None
    probe_ok: bool | None = None


@dataclass
class PairResult:
    a: str
    b: str
    verified: bool
    ends: dict[str, EndView] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stale: bool = False  # an SA exists but uses proposals the inventory no longer has (rekey drops it)

    def to_json(self, security: tuple[str, str] = ("?", "?")) -> dict[str, Any]:
        """One pair as every command prints it (status, apply, promote, rekey)."""
        ends = [self.ends.get(h) for h in (self.a, self.b)]
        return {"a": self.a, "b": self.b, "verified": self.verified,
                "main_mode_sa": all(e is not None and e.mm is not None for e in ends),
                "quick_mode_sa": all(e is not None and e.qm is not None for e in ends),
                "inbound_security": security[0], "outbound_security": security[1],
                "sa": self.sa_summary(), "stale_sa": self.stale, "problems": self.problems}

    def sa_summary(self) -> dict[str, Any]:
        end = self.ends.get(self.a) or EndView()
        mm, qm = end.mm or {}, end.qm or {}
        return {
            "mm": {"cipher": CODE_NAMES["cipher"].get(mm.get("CipherAlgorithm", -1)),
                   "hash": CODE_NAMES["mm_hash"].get(mm.get("HashAlgorithm", -1)),
                   "group": CODE_NAMES["dh"].get(mm.get("GroupId", -1))} if mm else None,
            "qm": {"cipher": CODE_NAMES["cipher"].get(qm.get("FirstCipherAlgorithm", -1)),
                   "integrity": CODE_NAMES["qm_integrity"].get(qm.get("FirstIntegrityAlgorithm", -1))}
            if qm else None,
        }


def end_view(report: Mapping[str, Any], peer_address: str) -> EndView:
    mm = next((s for s in report.get("MainModeSAs") or [] if s.get("RemoteEndpoint") == peer_address), None)
    qm = next((s for s in report.get("QuickModeSAs") or [] if s.get("RemoteEndpoint") == peer_address), None)
    probe = next((p for p in report.get("Probes") or [] if p.get("Target") == peer_address), None)
    return EndView(mm, qm, None if probe is None else bool(probe.get("TcpTestSucceeded")))


def check_pair(a: str, b: str, views: Mapping[str, EndView], want: Expected) -> PairResult:
    """Verified when both ends hold an MM and a QM SA for the pair with algorithms from the inventory."""
    result = PairResult(a, b, False, dict(views))
    for host in (a, b):
        view = views.get(host) or EndView()
        if view.mm is None:
            result.problems.append(f"{host}: no main-mode SA with {b if host == a else a}")
        elif (view.mm.get("CipherAlgorithm"), view.mm.get("HashAlgorithm"), view.mm.get("GroupId")) not in want.mm:
            result.problems.append(f"{host}: main-mode SA uses {_mm_text(view.mm)}, not an inventory proposal")
            result.stale = True
        if view.qm is None:
            result.problems.append(f"{host}: no quick-mode SA with {b if host == a else a}")
        else:
            got = (view.qm.get("FirstCipherAlgorithm"), view.qm.get("FirstIntegrityAlgorithm"))
            if not any(got[0] == c and (i is None or got[1] == i) for c, i in want.qm):
                result.problems.append(f"{host}: quick-mode SA uses {_qm_text(view.qm)}, not an inventory proposal")
                result.stale = True
    result.verified = not result.problems
    return result


def _mm_text(mm: Mapping[str, Any]) -> str:
    return "/".join(str(CODE_NAMES[t].get(mm.get(k, -1), mm.get(k))) for t, k in
                    (("cipher", "CipherAlgorithm"), ("mm_hash", "HashAlgorithm"), ("dh", "GroupId")))


def _qm_text(qm: Mapping[str, Any]) -> str:
    return "/".join(str(CODE_NAMES[t].get(qm.get(k, -1), qm.get(k))) for t, k in
                    (("cipher", "FirstCipherAlgorithm"), ("qm_integrity", "FirstIntegrityAlgorithm")))


def diagnose(host: str, facts: HostFacts | None, events: Sequence[Mapping[str, Any]], store: str,
             peer_facts: HostFacts | None = None) -> list[str]:
    """Likely causes on one host, from its state and recent IPsec audit events."""
    found: list[str] = []
    if facts is not None:
        _status, start = facts.services.get("IKEEXT", ("", ""))
        if start.lower() == "disabled":
            found.append(f"{host}: IKEEXT disabled" + (" (event 5453)" if any(e.get("Id") == 5453 for e in events)
                                                       else ""))
        for svc in ("BFE", "MpsSvc"):
            if svc in facts.services and facts.services[svc][0].lower() != "running":
                found.append(f"{host}: {svc} is {facts.services[svc][0]}")
        if store == "PersistentStore" and any(allow.lower() == "false" for _, allow in facts.profiles.values()):
            found.append(f"{host}: GPO disables local IPsec rules — rules created in PersistentStore are not "
                         "enforced (AllowLocalIPsecRules = False)")
        if peer_facts is not None and facts.utc_now and peer_facts.utc_now:
            skew = abs((facts.utc_now - peer_facts.utc_now).total_seconds())
            if skew > 300:  # Kerberos' default maximum tolerance is 5 minutes (windows-behaviour.md §4)
                found.append(f"Kerberos: clock skew {round(skew)} s between the two hosts (max 300 s)")
    seen: set[int] = set()
    for event in events:
        eid = int(event.get("Id", 0))
        if eid in EVENT_MEANING and eid not in seen and not (eid == 5453 and any("IKEEXT" in f for f in found)):
            seen.add(eid)
            message = str(event.get("Message") or "").strip().splitlines()
            detail = f": {message[0]}" if message and message[0] else ""
            found.append(f"{host}: {EVENT_MEANING[eid]}{detail}")
    return found
