"""The plan of GPO mode: the GPO's changes once (edited on the writer in one GPO session), then a
computer-policy refresh and an RSOP check per linked host. Offline only (nothing is read): the GPO is
planned as holding none of our objects yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.gpo import gpo_writer_address
from ..model.gpo_desired import gpo_objects
from ..model.inventory import Inventory
from ..model.reference import validate_plan
from .planner import HostPlan, Plan, plan_host
from .render import _change_json, plan_text

# What each linked host runs after the Save (windows-behaviour.md §9): the refresh, then an RSOP read.
REFRESH = "gpupdate /target:computer /force; Get-NetIPsecRule -PolicyStore RSOP"


@dataclass(frozen=True)
class GpoPlan:
    store: str
    writes: HostPlan  # host = the writer: every call runs there, in one GPO session
    refresh: tuple[tuple[str, str], ...]  # (host, address) refreshed after Save-NetGPO, in inventory order

    def as_plan(self) -> Plan:
        return Plan((self.writes,))


def gpo_offline_plan(inv: Inventory) -> GpoPlan:
    writer = inv.policy.gpo_writer or ""
    writes = plan_host(writer, gpo_writer_address(inv), gpo_objects(inv), [], inv.policy.store)
    validate_plan(writes.calls)
    return GpoPlan(inv.policy.store, writes, tuple((h.name, h.address) for h in inv.hosts))


def gpo_plan_json(plan: GpoPlan) -> dict[str, Any]:
    """``plan --json`` (DESIGN §5) with the GPO's calls once under ``gpo``; hosts carry no calls of their
    own, only the refresh that brings the GPO to them."""
    return {
        "hosts": {host: {"address": address, "calls": [], "changes": [], "refresh": REFRESH}
                  for host, address in plan.refresh},
        "gpo": {"store": plan.store, "writer": plan.writes.host, "writer_address": plan.writes.address,
                "calls": [c.to_json() for c in plan.writes.calls],
                "changes": [_change_json(c) for c in plan.writes.changes]},
        "summary": plan.as_plan().summary,
    }


def gpo_plan_text(plan: GpoPlan, show_powershell: bool = False) -> str:
    body = plan_text(plan.as_plan(), show_powershell).split("\n")
    lines = [f"GPO '{plan.store}', edited on {plan.writes.host} ({plan.writes.address}) in one GPO session "
             "(Open-NetGPO, the changes, one Save-NetGPO)", *body[1:-2], "",
             f"Then each linked host refreshes computer policy and its RSOP is checked ({REFRESH}):"]
    lines += [f"  ~ {host} ({address})" for host, address in plan.refresh]
    lines += ["", "No changes. The GPO matches the inventory." if plan.as_plan().empty else body[-1]]
    return "\n".join(lines)
