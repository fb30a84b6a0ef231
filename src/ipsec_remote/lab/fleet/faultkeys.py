"""Every key the faults TOML accepts, listed from the parsers' own tables (faults.py, HostAssumptions, the
audit subcategories): docs/lab.md must document each one with an example the real parser accepts."""

from __future__ import annotations

import dataclasses

from ..host import HostAssumptions
from ..host.audit import BY_KEY
from .domain import DOMAIN_KEYS
from .faults import _SCALARS, HOST_TABLES, KERBEROS_KEYS, PREEXISTING_KINDS, TOP_KEYS
from .latency import LATENCY_KEYS
from .traffic_spec import TRAFFIC_KEYS

HOST = "hosts.NAME"  # how a host's table is written in the key paths (NAME: a host of the inventory)


def fault_keys() -> list[str]:
    """Key paths, e.g. ``rtt_ms``, ``hosts.NAME.down``, ``hosts.NAME.preexisting.rules``, ``assumptions.type_layer``."""
    keys: list[str] = []
    for top in TOP_KEYS:
        if top == "hosts":
            keys += [f"{HOST}.{k}" for k in _SCALARS]
            for table in HOST_TABLES:
                subs = PREEXISTING_KINDS if table == "preexisting" else BY_KEY
                keys += [f"{HOST}.{table}.{k}" for k in subs]
        elif top == "audit":
            keys += [f"audit.{k}" for k in BY_KEY]
        elif top == "kerberos":
            keys += [f"kerberos.{k}" for k in KERBEROS_KEYS]
        elif top == "assumptions":
            keys += [f"assumptions.{f.name}" for f in dataclasses.fields(HostAssumptions)]
        elif top == "domain":
            keys += [f"domain.{k}" for k in DOMAIN_KEYS]
        elif top == "latency":
            keys += [f"latency.{k}" for k in LATENCY_KEYS]
        elif top == "traffic":
            keys += [f"traffic.{k}" for k in TRAFFIC_KEYS]
        else:
            keys.append(top)  # e.g. ``clients``: an array of tables, documented as a whole
    return keys
