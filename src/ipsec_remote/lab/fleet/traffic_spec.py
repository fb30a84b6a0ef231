"""The lab's clients and flows from the faults TOML (``[[clients]]``, ``[traffic]``) and the inventory's pairs.

```toml
[[clients]]
name = "reporting"                 # a machine outside the inventory
address = "10.10.1.50"
ipsec = false                      # false: no IPsec policy at all (a non-member); true: an IPsec-capable
                                   # domain member configured like the fleet (same crypto, same authentication)
talks_to = ["sql01:1433/TCP", "app01:53/UDP"]
interval_ms = 500                  # one request and its answer every 500 ms
connection = "persistent"          # persistent: one TCP connection (one UDP 5-tuple) kept open;
                                   # per_talk: a new connection (new source port) for every request

[traffic]
between_members_interval_ms = 100  # every pair of the inventory keeps a connection a -> b (the pair's first
                                   # port, else its probe port) with a request and an answer this often
negotiation_ms = 0                 # how long IKE takes (undocumented: RTT, Kerberos); packets of the two hosts
                                   # sent meanwhile travel as if no SA existed (clear, or dropped by Require)
```

``talks_to`` names a lab host (an inventory host or exemption) by name, a port and TCP or UDP. Problems are
one ``file: key.path: problem`` line, like every other fault.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .spec import FleetSpec, LabConfigError, read_toml

Protocol = Literal["TCP", "UDP"]
_TALK = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<port>\d{1,5})/(?P<proto>[A-Za-z]+)$")
MIN_INTERVAL_MS = 10  # the lab's timer runs every 200 ms; shorter intervals only pile packets into a tick


@dataclass(frozen=True)
class Talk:
    host: str
    port: int
    protocol: Protocol


@dataclass(frozen=True)
class ClientSpec:
    name: str
    address: str
    ipsec: bool = False
    talks_to: tuple[Talk, ...] = ()
    interval_ms: int = 1000
    connection: Literal["persistent", "per_talk"] = "persistent"


@dataclass(frozen=True)
class MemberFlow:
    """Continuous traffic of one inventory pair: a connection ``a`` -> ``b``:``port``."""

    a: str
    b: str
    port: int
    protocol: Protocol


@dataclass(frozen=True)
class TrafficConfig:
    clients: tuple[ClientSpec, ...] = ()
    between_members_interval_ms: int | None = None
    negotiation_ms: int = 0
    members: tuple[MemberFlow, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.clients and self.between_members_interval_ms is None


def _interval(value: Any, label: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_INTERVAL_MS:
        raise LabConfigError(label, where, f"must be a whole number of milliseconds ≥ {MIN_INTERVAL_MS}")
    return value


def _talk(value: Any, label: str, where: str, spec: FleetSpec) -> Talk:
    match = _TALK.match(value) if isinstance(value, str) else None
    if match is None:
        raise LabConfigError(label, where, f"{value!r} is not HOST:PORT/PROTOCOL (e.g. \"sql01:1433/TCP\")")
    host = next((h.name for h in spec.hosts if h.name.lower() == match["host"].lower()), None)
    if host is None:
        raise LabConfigError(label, where, f"unknown host {match['host']!r} (not in the inventory)")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise LabConfigError(label, where, f"port {port} is not 1-65535")
    proto = match["proto"].upper()
    if proto not in ("TCP", "UDP"):
        raise LabConfigError(label, where, f"protocol {match['proto']!r} is not TCP or UDP")
    return Talk(host, port, "TCP" if proto == "TCP" else "UDP")


def _client(item: Any, label: str, where: str, spec: FleetSpec, taken: dict[str, str]) -> ClientSpec:
    if not isinstance(item, dict):
        raise LabConfigError(label, where, "must be a table")
    known = {"name", "address", "ipsec", "talks_to", "interval_ms", "connection"}
    for key in item:
        if key not in known:
            raise LabConfigError(label, f"{where}.{key}", "unknown client key")
    name = item.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", name):
        raise LabConfigError(label, f"{where}.name", "required: letters, digits, '.', '_', '-'")
    if name.lower() in taken:
        raise LabConfigError(label, f"{where}.name", f"{name!r} is already {taken[name.lower()]}")
    try:
        address = str(ipaddress.ip_address(str(item.get("address"))))
    except ValueError:
        raise LabConfigError(label, f"{where}.address", f"{item.get('address')!r} is not an IP address") from None
    if address in taken:
        raise LabConfigError(label, f"{where}.address", f"{address} is already {taken[address]}")
    ipsec = item.get("ipsec", False)
    if not isinstance(ipsec, bool):
        raise LabConfigError(label, f"{where}.ipsec", "must be true or false")
    talks = item.get("talks_to", [])
    if not isinstance(talks, list) or not talks:
        raise LabConfigError(label, f"{where}.talks_to", "must be a non-empty array of \"HOST:PORT/PROTOCOL\"")
    connection = item.get("connection", "persistent")
    if connection not in ("persistent", "per_talk"):
        raise LabConfigError(label, f"{where}.connection", f"{connection!r} is not one of persistent, per_talk")
    taken[name.lower()] = f"client '{name}'"
    taken[address] = f"client '{name}'"
    return ClientSpec(name, address, ipsec, tuple(_talk(t, label, f"{where}.talks_to[{i}]", spec)
                                                  for i, t in enumerate(talks)),
                      _interval(item.get("interval_ms", 1000), label, f"{where}.interval_ms"),
                      "persistent" if connection == "persistent" else "per_talk")


def parse_traffic(clients: Any, traffic: Any, label: str, spec: FleetSpec) -> TrafficConfig:
    """``[[clients]]`` and ``[traffic]`` of a faults file (either may be None)."""
    taken: dict[str, str] = {spec.controller_address: "the controller"}
    for host in spec.hosts:
        taken[host.name.lower()] = f"lab host '{host.name}'"
        taken[host.address] = f"lab host '{host.name}'"
    parsed: list[ClientSpec] = []
    if clients is not None:
        if not isinstance(clients, list):
            raise LabConfigError(label, "clients", "must be an array of tables ([[clients]])")
        parsed = [_client(item, label, f"clients[{i}]", spec, taken) for i, item in enumerate(clients)]
    interval: int | None = None
    negotiation_ms = 0
    if traffic is not None:
        if not isinstance(traffic, dict):
            raise LabConfigError(label, "traffic", "must be a table")
        for key, value in traffic.items():
            where = f"traffic.{key}"
            if key == "between_members_interval_ms":
                interval = _interval(value, label, where)
            elif key == "negotiation_ms":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60000:
                    raise LabConfigError(label, where, "must be a whole number of milliseconds from 0 to 60000")
                negotiation_ms = value
            else:
                raise LabConfigError(label, where, "unknown traffic key")
    members = member_flows(spec.inventory) if interval is not None else ()
    return TrafficConfig(tuple(parsed), interval, negotiation_ms, members)


def member_flows(inventory: Path) -> tuple[MemberFlow, ...]:
    """The inventory's pairs, expanded (``group:NAME`` = every host with that group), each once.

    The lab reads these keys itself (it never imports the controller's core); the controller validated the
    file before ``lab up``, so anything malformed here is skipped rather than reported twice.
    """
    data = read_toml(inventory)
    hosts = [h for h in data.get("hosts", []) if isinstance(h, dict) and isinstance(h.get("name"), str)]

    def expand(ref: Any) -> list[str]:
        if not isinstance(ref, str):
            return []
        if ref.startswith("group:"):
            return [h["name"] for h in hosts if ref[6:] in (h.get("groups") or [])]
        return [ref] if any(h["name"] == ref for h in hosts) else []

    seen: set[frozenset[str]] = set()
    flows: list[MemberFlow] = []
    for pair in data.get("pairs", []):
        if not isinstance(pair, dict):
            continue
        proto: Protocol = "UDP" if pair.get("protocol") == "UDP" else "TCP"
        ports = pair.get("ports") or []
        port = ports[0] if ports and isinstance(ports[0], int) else pair.get("probe_port", 445)
        for a in expand(pair.get("a")):
            for b in expand(pair.get("b")):
                if a != b and frozenset((a, b)) not in seen and isinstance(port, int):
                    seen.add(frozenset((a, b)))
                    flows.append(MemberFlow(a, b, port, proto))
    return tuple(flows)
