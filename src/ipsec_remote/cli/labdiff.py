"""What changed in an inventory since its lab fleet started: the fleet in lab.json against the inventory now.

Only what the lab is built from counts (hosts and exemption targets with their addresses and roles, the
controller's address, the WinRM scheme): an edited pair or crypto proposal needs no new lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..lab.fleet.spec import FleetSpec


def lab_changes(spec: FleetSpec, lab_data: Mapping[str, Any]) -> list[str]:
    running = {str(name): (str(h.get("address")), str(h.get("role", "managed")))
               for name, h in (lab_data.get("hosts") or {}).items()}
    now = {h.name: (h.address, h.role) for h in spec.hosts}
    out = []
    added = [n for n in now if n not in running]
    removed = [n for n in running if n not in now]
    if added:
        out.append("added " + ", ".join(added))
    if removed:
        out.append("removed " + ", ".join(removed))
    for name in now:
        if name in running and running[name] != now[name]:
            (was_addr, was_role), (addr, role) = running[name], now[name]
            what = f"{was_addr} → {addr}" if was_addr != addr else f"role {was_role} → {role}"
            out.append(f"{name} {what}")
    controller = str(lab_data.get("controller_address", ""))
    if controller and controller != spec.controller_address:
        out.append(f"controller {controller} → {spec.controller_address}")
    endpoints = [str(h.get("endpoint", "")) for h in (lab_data.get("hosts") or {}).values()]
    if endpoints and not all(e.startswith(f"{spec.scheme}://") for e in endpoints):
        out.append(f"connection.scheme is now {spec.scheme}")
    return out
