"""Main-mode and quick-mode SAs per host (windows-behaviour.md §6).

Documented: "There is only one main mode SA between a pair of computers, but there can be many quick mode
SAs"; QM SAs are negotiated inside the MM SA (PS-Get-NetIPsecQuickModeSA); SAs are per-computer state with
Local/Remote from that host's view (PS-Get-NetIPsecMainModeSA); SAs idle longer than MaxSAIdleTimeSeconds
(default 300 s) are deleted and must be renegotiated (PS-Set-NetFirewallSetting).  Lifetime rekeying
(MM 480 min, QM 60 min) is seamless for traffic and not modelled.  Undocumented parts are Assumptions
(QM granularity, MM idle expiry, delete notification).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class SaTable:
    """The fleet's SAs.  Pure data: every call takes ``now`` (seconds, any epoch) explicitly."""

    idle_timeout_s: float | None = None  # overrides each host's MaxSAIdleTimeSeconds (tests)
    assumptions: Assumptions = field(default_factory=Assumptions)
    _mm: dict[tuple[str, str, str], _Entry] = field(default_factory=dict)
    _qm: dict[tuple[str, str, str, QmKey], _Entry] = field(default_factory=dict)
    _next_id: int = 1

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
        return [e.record for k, e in sorted(self._mm.items()) if k[0] == host and not self._expired(e, now)]

    def qm_sas(self, host: str, now: float) -> list[dict[str, object]]:
        """What Get-NetIPsecQuickModeSA lists on ``host`` at ``now``."""
        return [
            e.record
            for k, e in sorted(self._qm.items(), key=lambda kv: repr(kv[0]))
            if k[0] == host and self.find_qm(host, e.local, e.remote, k[3], now) is not None
        ]

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
    ) -> None:
        """Install an MM SA; a previous one for the same pair is replaced together with its QM SAs."""
        if (host, local, remote) in self._mm:
            self._drop_mm((host, local, remote), "replaced")
        self._mm[(host, local, remote)] = _Entry(host, peer, local, remote, record, now, self._timeout(host_timeout_s))

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
    ) -> None:
        mm_id = int(str(record["MmSaId"]))
        self._qm[(host, local, remote, key)] = _Entry(
            host, peer, local, remote, record, now, self._timeout(host_timeout_s), key, mm_id
        )

    def touch(self, host: str, local: str, remote: str, key: QmKey | None, now: float) -> None:
        """Traffic over an SA resets its idle timer (and its parent MM SA's)."""
        mm = self._mm.get((host, local, remote))
        if mm is not None:
            mm.last_used = now
        if key is not None and (qm := self._qm.get((host, local, remote, key))) is not None:
            qm.last_used = now

    def expire(self, now: float) -> list[Event]:
        """Drop idle SAs; returns 5452 (QM SA ended) / 4655 (MM SA ended) events (netsecurity.json)."""
        events: list[Event] = []
        for qkey, qm in list(self._qm.items()):
            if self._expired(qm, now):
                del self._qm[qkey]
                events.append(_qm_ended(qm, "idle"))
        for mkey, mm in list(self._mm.items()):
            if self._expired(mm, now):
                events.extend(self._drop_mm(mkey, "idle"))
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
            hosts |= {e.peer for e in self._mm.values() if e.host == host and peer in (None, e.peer)}
        if quick_mode_only or cascade:
            for qkey, qm in list(self._qm.items()):
                if self._selected(qm, host, peer, hosts):
                    del self._qm[qkey]
                    events.append(_qm_ended(qm, "removed"))
        if not quick_mode_only:
            for mkey, mm in list(self._mm.items()):
                if self._selected(mm, host, peer, hosts):
                    events.extend(self._drop_mm(mkey, "removed", cascade))
        return events

    def remove_by_name(self, host: str, name: str, cascade: bool = True) -> list[Event]:
        """Remove-NetIPsec*SA -Name on ``host``: an MM SA (with its QM SAs when ``cascade``) or a single QM SA."""
        for mm in list(self._mm.values()):
            if mm.host == host and mm.record.get("Name") == name:
                return self.remove(host, mm.peer, cascade=cascade)
        for qm in list(self._qm.values()):
            if qm.host == host and qm.record.get("Name") == name:
                return self._drop_qm(qm)
        return []

    # --- helpers ---------------------------------------------------------------------------------------
    def _drop_qm(self, qm: _Entry) -> list[Event]:
        events: list[Event] = []
        for key, other in list(self._qm.items()):
            same_pair = {other.host, other.peer} == {qm.host, qm.peer} and other.qm_key == qm.qm_key
            if other is qm or (self.assumptions.delete_notifies_peer and same_pair):
                del self._qm[key]
                events.append(_qm_ended(other, "removed"))
        return events

    def _selected(self, e: _Entry, host: str, peer: str | None, hosts: set[str]) -> bool:
        if e.host == host:
            return peer is None or e.peer == peer
        return e.host in hosts and e.peer == host

    def _drop_mm(self, key: tuple[str, str, str], why: str, cascade: bool = True) -> list[Event]:
        mm = self._mm.pop(key)
        events = []
        for qkey, qm in list(self._qm.items()):
            if qm.host == mm.host and (qm.local, qm.remote) == (mm.local, mm.remote) and not qm.orphan:
                if not cascade:
                    qm.orphan = True
                    continue
                del self._qm[qkey]
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
            children = [q for q in self._qm.values() if (q.host, q.local, q.remote) == (e.host, e.local, e.remote)]
            if any(now - q.last_used <= q.timeout for q in children):
                return False
        return now - e.last_used > e.timeout


def _qm_ended(qm: _Entry, why: str) -> Event:
    return Event(qm.host, 5452, f"QM SA {qm.record['Name']} with {qm.peer} ended ({why})")
