"""Pure checks of a pair's SAs against the inventory, and the diagnosis when a pair does not verify.

verify.ps1 reports the SAs' CIM properties as numbers (MSFT_NetMainModeSA / MSFT_NetQuickModeSA class
pages); ``remote/cimcodes.py`` names them. A quick-mode SA carries up to two transforms (First/Second):
an ``AH,ESP`` proposal negotiates an AH transform and an ESP transform, so the SA is judged transform by
transform, by type (AH or ESP) and algorithms, never by its first transform alone.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model.inventory import Inventory, QuickModeProposal
from ..remote import cimcodes as C
from ..remote.hoststate import HostFacts

CODES = {name: {n: c for c, n in table.items()} for name, table in
         (("cipher", C.CIPHER), ("hash", C.HASH), ("dh", C.DH))}
EVENT_MEANING = {
    5453: "IKEEXT is not running (event 5453)",
    4653: "main mode negotiation failed (event 4653)",
    4652: "main mode negotiation failed (event 4652)",
    4654: "quick mode negotiation failed (event 4654)",
    4963: "clear-text packets that should have been secured were dropped (event 4963)",
}

Transform = tuple[str, int, int]  # ("AH" | "ESP", cipher code, integrity code)


def proposal_transforms(p: QuickModeProposal) -> tuple[Transform, ...]:
    """The transforms an SA from this proposal carries: AH (integrity only), then ESP (cipher, integrity)."""
    out: list[Transform] = []
    parts = [x.strip() for x in p.encapsulation.split(",")]
    if "AH" in parts:
        out.append(("AH", 0, CODES["hash"][p.ah_hash or "None"]))
    if "ESP" in parts:
        out.append(("ESP", CODES["cipher"][p.encryption], CODES["hash"][p.esp_hash]))
    return tuple(out)


@dataclass(frozen=True)
class Expected:
    mm: frozenset[tuple[int, int, int]]  # (cipher, hash, group)
    qm: frozenset[frozenset[Transform]]  # each proposal's transforms (order-free)


def expected(inv: Inventory) -> Expected:
    mm = frozenset((CODES["cipher"][p.encryption], CODES["hash"][p.hash], CODES["dh"][p.key_exchange])
                   for p in inv.crypto.main_mode.proposals)
    qm = frozenset(frozenset(proposal_transforms(p)) for p in inv.crypto.quick_mode.proposals)
    return Expected(mm, qm)


def sa_transforms(qm: Mapping[str, Any]) -> tuple[Transform, ...] | None:
    """The QM SA's transforms, or None when a transform type is not one we can place (then the SA is not
    judged a match). Types: IPSEC_TRANSFORM_TYPE (cimcodes.TRANSFORM); a zero/absent second type = none."""
    out: list[Transform] = []
    for prefix in ("First", "Second"):
        kind = C.code(qm.get(f"{prefix}TransformType"))
        if not kind:
            if prefix == "First":
                return None
            continue
        name = C.TRANSFORM.get(kind)
        if name is None:
            return None
        out.append(("AH" if name == "AH" else "ESP", C.code(qm.get(f"{prefix}CipherAlgorithm")) or 0,
                    C.code(qm.get(f"{prefix}IntegrityAlgorithm")) or 0))
    return tuple(out)


@dataclass
class EndView:
    """One host's view of the pair after a verification round."""

    mm: dict[str, Any] | None = None
    qm: dict[str, Any] | None = None
    probe_ok: bool | None = None
    probe: str | None = None  # connected | refused | timeout | error | secured (SA up, connect not finished)


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
        transforms = sa_transforms(qm) if qm else None
        return {
            "mm": {"cipher": C.name(C.CIPHER, mm.get("CipherAlgorithm")),
                   "hash": C.name(C.HASH, mm.get("HashAlgorithm")),
                   "group": C.name(C.DH, mm.get("GroupId")),
                   "key_module": _key_module_text(mm.get("KeyModule"))} if mm else None,
            "qm": {"cipher": C.name(C.CIPHER, qm.get("FirstCipherAlgorithm")),
                   "integrity": C.name(C.HASH, qm.get("FirstIntegrityAlgorithm")),
                   "transforms": [_transform_text(t) for t in transforms or ()],
                   "pfs_group": C.name(C.PFS, qm.get("PfsGroupId"))} if qm else None,
        }


def _key_module_text(value: Any) -> str | None:
    number = C.code(value)
    if number is None:
        return None
    return C.SA_KEY_MODULE.get(number, f"code {number}")


def same_address(a: Any, b: str) -> bool:
    """Endpoints as parsed addresses: ``2001:DB8::1`` and ``2001:db8:0::1`` are the same peer."""
    return _address_key(str(a)) == _address_key(b)


@functools.lru_cache(maxsize=65536)
def _address_key(text: str) -> str:
    """An address's canonical text (the parsed address), or the trimmed lower-case text if it is not one.
    Cached: a proof compares every SA of a host with every peer's address (a 1,000-host fleet parses the same
    few thousand addresses hundreds of thousands of times)."""
    try:
        return "ip:" + ipaddress.ip_address(text.strip()).exploded
    except ValueError:
        return "text:" + text.strip().lower()


def end_view(report: Mapping[str, Any], peer_address: str) -> EndView:
    mm = next((s for s in report.get("MainModeSAs") or [] if same_address(s.get("RemoteEndpoint"), peer_address)),
              None)
    qms = [s for s in report.get("QuickModeSAs") or [] if same_address(s.get("RemoteEndpoint"), peer_address)]
    if mm is not None:
        # The QM SA negotiated inside this MM SA first (a stale one from an earlier MM SA may linger).
        qms.sort(key=lambda s: C.code(s.get("MmSaId")) != C.code(mm.get("InstanceID")))
    probe = next((p for p in report.get("Probes") or [] if same_address(p.get("Target"), peer_address)), None)
    return EndView(mm, qms[0] if qms else None, None if probe is None else bool(probe.get("Connected")),
                   None if probe is None else str(probe.get("Outcome") or ""))


def check_pair(a: str, b: str, views: Mapping[str, EndView], want: Expected) -> PairResult:
    """Verified when both ends hold an MM and a QM SA for the pair with algorithms from the inventory."""
    result = PairResult(a, b, False, dict(views))
    for host in (a, b):
        view = views.get(host) or EndView()
        peer = b if host == a else a
        if view.mm is None:
            result.problems.append(f"{host}: no main-mode SA with {peer}")
        elif tuple(C.code(view.mm.get(k)) for k in ("CipherAlgorithm", "HashAlgorithm", "GroupId")) not in want.mm:
            result.problems.append(f"{host}: main-mode SA uses {_mm_text(view.mm)}, not an inventory proposal")
            result.stale = True
        if view.qm is None:
            result.problems.append(f"{host}: no quick-mode SA with {peer}")
        else:
            got = sa_transforms(view.qm)
            if got is None or frozenset(got) not in want.qm or len(set(got)) != len(got):
                result.problems.append(f"{host}: quick-mode SA uses {_qm_text(view.qm)}, not an inventory proposal")
                result.stale = True
    result.verified = not result.problems
    return result


def _mm_text(mm: Mapping[str, Any]) -> str:
    return "/".join(str(C.name(t, mm.get(k)) or mm.get(k)) for t, k in
                    ((C.CIPHER, "CipherAlgorithm"), (C.HASH, "HashAlgorithm"), (C.DH, "GroupId")))


def _transform_text(t: Transform) -> str:
    kind, cipher, integrity = t
    if kind == "AH":
        return f"AH {C.name(C.HASH, integrity) or integrity}"
    return f"ESP {C.name(C.CIPHER, cipher) or cipher}/{C.name(C.HASH, integrity) or integrity}"


def _qm_text(qm: Mapping[str, Any]) -> str:
    transforms = sa_transforms(qm)
    if transforms is None:
        return (f"transform types {qm.get('FirstTransformType')}/{qm.get('SecondTransformType')} "
                f"({C.name(C.CIPHER, qm.get('FirstCipherAlgorithm'))}/"
                f"{C.name(C.HASH, qm.get('FirstIntegrityAlgorithm'))})")
    return " + ".join(_transform_text(t) for t in transforms)


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
