"""Orchestration of plan / apply / verify / promote / rollback over a fleet.

This build provides the offline plan; the remote steps build on the transport (issue: apply/status).
"""

from __future__ import annotations

from .desired import desired_objects
from .inventory import Inventory
from .planner import Plan, plan_host
from .reference import validate_plan


def offline_plan(inv: Inventory) -> Plan:
    """The plan for hosts that have none of our objects yet (observed = empty), validated."""
    desired = desired_objects(inv)
    plan = Plan(tuple(plan_host(name, hd.host.address, hd.objects, [], inv.policy.store)
                      for name, hd in desired.items()))
    for host in plan.hosts:
        validate_plan(host.calls)
    return plan
