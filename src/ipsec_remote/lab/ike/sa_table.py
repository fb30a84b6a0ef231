"""Main-mode and quick-mode SAs per host (windows-behaviour.md §6).

Documented: "There is only one main mode SA between a pair of computers, but there can be many quick mode
SAs"; QM SAs are negotiated inside the MM SA (PS-Get-NetIPsecQuickModeSA); SAs are per-computer state with
Local/Remote from that host's view (PS-Get-NetIPsecMainModeSA); SAs idle longer than MaxSAIdleTimeSeconds
(default 300 s) are deleted and must be renegotiated (PS-Set-NetFirewallSetting).  Lifetime rekeying
(MM 480 min, QM 60 min) is seamless for traffic and not modelled.  Undocumented parts are Assumptions
(QM granularity, MM idle expiry, delete notification).

An SA exists from the first packet (a second flow joins its negotiation, never starts another) but is listed
by Get-NetIPsec*SA only once negotiated (``ready_at``; the latency model's ``ike_negotiation_s``, 0 without it).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from ipsec_remote.lab.ike.model import Assumptions, Event

QmKey = tuple[object, ...]


@dataclass
class _Entry:
    host: str
    peer: str
    local: str
    remote: str
    record: dict[str, object]
    last_used: float
    timeout: float
    qm_key: QmKey | None = None  # None for MM entries
    mm_id: int = 0
    orphan: bool = False  # a QM SA whose MM SA was deleted without taking it along (no cascade)
    ready_at: float = float("-inf")  # when its negotiation completes: listed from then on (-inf: no wait)


MmKey = tuple[str, str, str]  # (host, local, remote)


@dataclass
class SaTable:
    """The fleet's SAs.  Pure data: every call takes ``now`` (seconds, any epoch) explicitly.

    Indexed by host and by parent MM SA, so adding, listing or removing one host's SAs costs what that
    host holds, never the whole fleet's table (a 10,000-host lab holds tens of thousands of SAs). Idle
    expiry visits only SAs whose deadline has passed (a heap of deadlines, re-checked when popped: traffic
    moves a deadline later without touching the heap).
    """

    idle_timeout_s: float | None = None  # overrides each host's MaxSAIdleTimeSeconds (tests)
    assumptions: Assumptions = field(default_factory=Assumptions)
    _mm: dict[MmKey, _Entry] = field(default_factory=dict)
    _qm: dict[tuple[str, str, str, QmKey], _Entry] = field(default_factory=dict)
    _mm_by_host: dict[str, dict[MmKey, _Entry]] = field(default_factory=dict)
    # QM SAs by the (host, local, remote) of the MM SA they were negotiated in (orphans included).
    _qm_by_mm: dict[MmKey, dict[tuple[str, str, str, QmKey], _Entry]] = field(default_factory=dict)
    _qm_by_host: dict[str, dict[tuple[str, str, str, QmKey], _Entry]] = field(default_factory=dict)
    _next_id: int = 1
    # (deadline, tie, entry): an entry's deadline at or before its real one (touch() only moves it later).
    _deadlines: list[tuple[float, int, _Entry]] = field(default_factory=list)
    _tie: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self) -> int:
        """Deterministic SA ids (the Name property is a numeric string in the cmdlet doc example)."""
        value = self._next_id
        self._next_id += 1
        return value

    # --- lookup ----------------------------------------------------------------------------------------
    def find_mm(self, host: str, local: str, remote: str, now: float) -> dict[str, object] | None:
        entry = self._mm.get((host, local, remote))
        if entry is None or self._expired(entry, now):
            return None
        return entry.record

    def find_qm(self, host: str, local: str, remote: str, key: QmKey, now: float) -> dict[str, object] | None:
        entry = self._qm.get((host, local, remote, key))
        if entry is None or self._expired(entry, now):
            return None
        if entry.orphan:
            return entry.record  # its MM SA was deleted without cascading: it lives on until idle
        mm = self._mm.get((host, local, remote))
        if mm is None or mm.record.get("Name") != str(entry.mm_id):
            return None  # parent MM SA replaced: the QM SA went with it
        return entry.record

    def mm_sas(self, host: str, now: float) -> list[dict[str, object]]:
        """What Get-NetIPsecMainModeSA lists on ``host`` at ``now``."""
        own = self._mm_by_host.get(host, {})
        return [e.record for _k, e in sorted(own.items()) if e.ready_at <= now and not self._expired(e, now)]

    def qm_sas(self, host: str, now: float) -> list[dict[str, object]]:
        """What Get-NetIPsecQuickModeSA lists on ``host`` at ``now``."""
        own = self._qm_by_host.get(host, {})
        return [
            e.record
            for k, e in sorted(own.items(), key=lambda kv: repr(kv[0]))
            if e.ready_at <= now and self.find_qm(host, e.local, e.remote, k[3], now) is not None
        ]

    def ready_at(self, host: str, local: str, remote: str, key: QmKey | None = None) -> float:
        """When the MM SA (or, with ``key``, the QM SA) of ``host`` toward ``remote`` is negotiated (-inf: it
        took no time, or there is none)."""
        entry = self._mm.get((host, local, remote)) if key is None else self._qm.get((host, local, remote, key))
        return entry.ready_at if entry is not None else float("-inf")

    # --- mutation --------------------------------------------------------------------------------------
    def add_mm(
        self,
        host: str,
        peer: str,
        local: str,
        remote: str,
        record: dict[str, object],
        now: float,
        host_timeout_s: float,
        ready_at: float | None = None,
    ) -> None:
        """Install an MM SA; a previous one for the same pair is replaced together with its QM SAs."""
        if (host, local, remote) in self._mm:
            self._drop_mm((host, local, remote), "replaced")
        entry = _Entry(host, peer, local, remote, record, now, self._timeout(host_timeout_s),
                       ready_at=float("-inf") if ready_at is None else ready_at)
        self._mm[(host, local, remote)] = entry
        self._mm_by_host.setdefault(host, {})[(host, local, remote)] = entry
        self._schedule(entry, entry.last_used + entry.timeout)

    def add_qm(
        self,
        host: str,
        peer: str,
        local: str,
        remote: str,
        key: QmKey,
        record: dict[str, object],
        now: float,
        host_timeout_s: float,
        ready_at: float | None = None,
    ) -> None:
        mm_id = int(str(record["MmSaId"]))
        qkey = (host, local, remote, key)  # a renegotiated QM SA takes the old one's place (and index slots)
        entry = _Entry(host, peer, local, remote, record, now, self._timeout(host_timeout_s), key, mm_id,
                       ready_at=float("-inf") if ready_at is None else ready_at)
        self._qm[qkey] = entry
        self._qm_by_mm.setdefault((host, local, remote), {})[qkey] = entry
        self._qm_by_host.setdefault(host, {})[qkey] = entry
        self._schedule(entry, entry.last_used + entry.timeout)

    def touch(self, host: str, local: str, remote: str, key: QmKey | None, now: float) -> None:
        """Traffic over an SA resets its idle timer (and its parent MM SA's)."""
        mm = self._mm.get((host, local, remote))
        if mm is not None:
            mm.last_used = now
        if key is not None and (qm := self._qm.get((host, local, remote, key))) is not None:
            qm.last_used = now

    def expire(self, now: float) -> list[Event]:
        """Drop idle SAs; returns 5452 (QM SA ended) / 4655 (MM SA ended) events (netsecurity.json).

        QM SAs first, then MM SAs (an MM SA whose last QM SA just went is idle itself), each kind in
        deadline order."""
        due: list[tuple[float, int, _Entry]] = []
        while self._deadlines and self._deadlines[0][0] < now:
            due.append(heapq.heappop(self._deadlines))
        events: list[Event] = []
        later: list[_Entry] = []
        for _deadline, _tie, qm in due:
            if qm.qm_key is None:
                continue
            qkey = (qm.host, qm.local, qm.remote, qm.qm_key)
            if self._qm.get(qkey) is not qm:
                continue  # removed or renegotiated (the new entry has its own deadline)
            if self._expired(qm, now):
                self._pop_qm(qkey)
                events.append(_qm_ended(qm, "idle"))
            else:
                later.append(qm)
        for _deadline, _tie, mm in due:
            if mm.qm_key is not None:
                continue
            mkey = (mm.host, mm.local, mm.remote)
            if self._mm.get(mkey) is not mm:
                continue
            if self._expired(mm, now):
                events.extend(self._drop_mm(mkey, "idle"))
            elif self.assumptions.mm_sa_idle_expiry:
                later.append(mm)
        for entry in later:
            self._schedule(entry, self._deadline(entry))
        return events

    def remove(self, host: str, peer: str | None = None, quick_mode_only: bool = False,
               cascade: bool = True) -> list[Event]:
        """Remove-NetIPsecMainModeSA / Remove-NetIPsecQuickModeSA on ``host`` (all peers, or one).

        Removing an MM SA removes its QM SAs when ``cascade`` (HostAssumptions.mm_sa_delete_cascades: QM SAs
        live inside it, PS-Get-NetIPsecQuickModeSA, but the deletion is undocumented).  The peer's copies go
        too when ``Assumptions.delete_notifies_peer``.
        """
        events: list[Event] = []
        hosts = {host}
        if self.assumptions.delete_notifies_peer:
            hosts |= {e.peer for e in self._mm_by_host.get(host, {}).values() if peer in (None, e.peer)}
        if quick_mode_only or cascade:
            for qkey, qm in self._candidates(self._qm_by_host, hosts):
                if self._selected(qm, host, peer, hosts):
                    self._pop_qm(qkey)
                    events.append(_qm_ended(qm, "removed"))
        if not quick_mode_only:
            for mkey, mm in self._candidates(self._mm_by_host, hosts):
                if self._selected(mm, host, peer, hosts) and mkey in self._mm:
                    events.extend(self._drop_mm(mkey, "removed", cascade))
        return events

    def remove_by_name(self, host: str, name: str, cascade: bool = True) -> list[Event]:
        """Remove-NetIPsec*SA -Name on ``host``: an MM SA (with its QM SAs when ``cascade``) or a single QM SA."""
        for mm in list(self._mm_by_host.get(host, {}).values()):
            if mm.record.get("Name") == name:
                return self.remove(host, mm.peer, cascade=cascade)
        for qm in list(self._qm_by_host.get(host, {}).values()):
            if qm.record.get("Name") == name:
                return self._drop_qm(qm)
        return []

    # --- helpers ---------------------------------------------------------------------------------------
    def _schedule(self, entry: _Entry, deadline: float) -> None:
        heapq.heappush(self._deadlines, (deadline, next(self._tie), entry))

    def _deadline(self, e: _Entry) -> float:
        """The earliest time ``e`` can be idle: its own deadline, or for an MM SA its live QM SAs' last."""
        deadline = e.last_used + e.timeout
        if e.qm_key is None:
            children = self._qm_by_mm.get((e.host, e.local, e.remote), {}).values()
            deadline = max([deadline, *(q.last_used + q.timeout for q in children)])
        return deadline

    @staticmethod
    def _candidates(by_host: dict[str, dict[Any, _Entry]], hosts: set[str]) -> list[tuple[Any, _Entry]]:
        """The entries ``hosts`` hold, host by host: each host's in table (insertion) order, so every host's
        events come in the order a whole-table scan gives them."""
        return [(k, e) for h in sorted(hosts) for k, e in by_host.get(h, {}).items()]

    def _pop_qm(self, qkey: tuple[str, str, str, QmKey]) -> _Entry:
        entry = self._qm.pop(qkey)
        parent = (entry.host, entry.local, entry.remote)
        under = self._qm_by_mm.get(parent)
        if under is not None:
            under.pop(qkey, None)
            if not under:
                del self._qm_by_mm[parent]
        own = self._qm_by_host.get(entry.host)
        if own is not None:
            own.pop(qkey, None)
            if not own:
                del self._qm_by_host[entry.host]
        return entry

    def _drop_qm(self, qm: _Entry) -> list[Event]:
        events: list[Event] = []
        hosts = {qm.host, qm.peer} if self.assumptions.delete_notifies_peer else {qm.host}
        for key, other in self._candidates(self._qm_by_host, hosts):
            same_pair = {other.host, other.peer} == {qm.host, qm.peer} and other.qm_key == qm.qm_key
            if other is qm or (self.assumptions.delete_notifies_peer and same_pair):
                self._pop_qm(key)
                events.append(_qm_ended(other, "removed"))
        return events

    def _selected(self, e: _Entry, host: str, peer: str | None, hosts: set[str]) -> bool:
        if e.host == host:
            return peer is None or e.peer == peer
        return e.host in hosts and e.peer == host

    def _drop_mm(self, key: MmKey, why: str, cascade: bool = True) -> list[Event]:
        mm = self._mm.pop(key)
        own = self._mm_by_host.get(mm.host)
        if own is not None:
            own.pop(key, None)
            if not own:
                del self._mm_by_host[mm.host]
        events = []
        for qkey, qm in list(self._qm_by_mm.get(key, {}).items()):
            if not qm.orphan:
                if not cascade:
                    qm.orphan = True
                    continue
                self._pop_qm(qkey)
                events.append(_qm_ended(qm, why))
        events.append(Event(mm.host, 4655, f"MM SA {mm.record['Name']} with {mm.peer} ended ({why})"))
        return events

    def _timeout(self, host_timeout_s: float) -> float:
        return self.idle_timeout_s if self.idle_timeout_s is not None else host_timeout_s

    def _expired(self, e: _Entry, now: float) -> bool:
        if e.qm_key is None and not self.assumptions.mm_sa_idle_expiry:
            return False
        if e.qm_key is None:
            # An MM SA carrying live QM SAs is not idle (its children keep it in use).
            children = self._qm_by_mm.get((e.host, e.local, e.remote), {}).values()
            if any(now - q.last_used <= q.timeout for q in children):
                return False
        return now - e.last_used > e.timeout


def _qm_ended(qm: _Entry, why: str) -> Event:
    return Event(qm.host, 5452, f"QM SA {qm.record['Name']} with {qm.peer} ended ({why})")
