"""Journal records of ``observe``: per host, each observation (when, how long, which sources) and the flows it
saw that IPsec did not protect. ``promote`` reads the latest one per host (would-break), ``status`` shows it.

Kept beside the core tables, as deadman.py keeps the drills.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .store import Journal

TABLES = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY, run_id INTEGER, host TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    window_s REAL NOT NULL, samples INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observed_flows (
    observation_id INTEGER NOT NULL, remote_address TEXT NOT NULL, port INTEGER NOT NULL, protocol TEXT NOT NULL,
    direction TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, count INTEGER NOT NULL,
    sources TEXT NOT NULL, blocked INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class ClearFlow:
    """A flow the host had with a peer, not protected by IPsec. ``port`` is the service port: the host's own
    for inbound flows, the peer's for outbound ones. ``count``: samples (connection tables) plus events."""

    remote_address: str
    port: int
    protocol: str  # TCP, UDP or an IP protocol number
    direction: str  # inbound | outbound
    first_seen: str
    last_seen: str
    count: int
    sources: tuple[str, ...] = ("connections",)  # connections | events
    blocked: bool = False  # only 5157 (blocked) events: the peer tried and was already refused

    def to_json(self) -> dict[str, Any]:
        return {"remote_address": self.remote_address, "port": self.port, "protocol": self.protocol,
                "direction": self.direction, "first_seen": self.first_seen, "last_seen": self.last_seen,
                "count": self.count, "sources": list(self.sources), "blocked": self.blocked}


@dataclass
class Observation:
    host: str
    started_at: str  # UTC ISO, the host's clock
    finished_at: str
    window_s: float
    samples: int
    flows: list[ClearFlow] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # sources, protected peers, UDP ports, problems
    recorded_at: str = ""  # the controller's clock when journaled (what the playbook's age limit reads)

    def to_json(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "finished_at": self.finished_at, "window_s": self.window_s,
                "samples": self.samples, "clear_text": [f.to_json() for f in self.flows], **self.detail}


def _ensure(journal: Journal) -> None:
    with journal._lock:
        journal._db.executescript(TABLES)


def record_observation(journal: Journal, run_id: int, obs: Observation) -> None:
    _ensure(journal)
    with journal._tx() as db:
        detail = {**obs.detail, "recorded_at": obs.recorded_at}
        cur = db.execute("INSERT INTO observations (run_id, host, started_at, finished_at, window_s, samples, detail) "
                         "VALUES (?,?,?,?,?,?,?)", (run_id, obs.host, obs.started_at, obs.finished_at, obs.window_s,
                                                    obs.samples, json.dumps(detail)))
        oid = int(cur.lastrowid or 0)
        db.executemany("INSERT INTO observed_flows (observation_id, remote_address, port, protocol, direction, "
                       "first_seen, last_seen, count, sources, blocked) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       [(oid, f.remote_address, f.port, f.protocol, f.direction, f.first_seen, f.last_seen, f.count,
                         json.dumps(list(f.sources)), int(f.blocked)) for f in obs.flows])


def latest_observations(journal: Journal) -> dict[str, Observation]:
    """Each host's most recent observation, with its clear-text flows."""
    _ensure(journal)
    rows = journal._query("SELECT id, host, started_at, finished_at, window_s, samples, detail FROM observations "
                          "WHERE id IN (SELECT MAX(id) FROM observations GROUP BY host)")
    out: dict[str, Observation] = {}
    for oid, host, started, finished, window, samples, detail_text in rows:
        detail = json.loads(detail_text)
        recorded = str(detail.pop("recorded_at", ""))
        flows = [ClearFlow(r[0], int(r[1]), r[2], r[3], r[4], r[5], int(r[6]), tuple(json.loads(r[7])), bool(r[8]))
                 for r in journal._query("SELECT remote_address, port, protocol, direction, first_seen, last_seen, "
                                         "count, sources, blocked FROM observed_flows WHERE observation_id = ? "
                                         "ORDER BY remote_address, port", (oid,))]
        out[host] = Observation(host, started, finished, float(window), int(samples), flows, detail, recorded)
    return out
