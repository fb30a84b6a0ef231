"""Every call the planner can emit for the example inventories passes the cmdlet reference validator."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.model.reference import validate_call, validate_plan
from ipsec_remote.plan.planner import CMDLETS, WINDOWS_DEFAULTS, ObservedObject, plan_host

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = [ROOT / "inventory.toml", ROOT / "examples" / "three-tier-local.toml"]


def every_call(path: Path, isolation: bool = False) -> list[CmdletCall]:
    """Creates (fresh hosts), in-place updates of every settable parameter, replaces and destroys."""
    inv = load_inventory(path)
    if isolation:
        inv = inv.model_copy(update={"policy": inv.policy.model_copy(update={"server_isolation": True})})
    store = inv.policy.store
    calls: list[CmdletCall] = []
    for hd in desired_objects(inv).values():
        fresh = plan_host(hd.host.name, hd.host.address, hd.objects, [], store)
        validate_plan(fresh.calls)  # the whole fresh plan, including set references across calls
        calls += fresh.calls
        for obj in hd.objects:
            spec = CMDLETS[obj.kind]
            for param in spec.settable:
                drifted = dict(obj.params)
                drifted[param] = ["10.99.0.1"] if param.endswith("Address") else "drifted"
                if param not in obj.params and param not in WINDOWS_DEFAULTS:
                    continue
                seen = [ObservedObject(obj.kind, obj.name, drifted)]
                calls += plan_host(hd.host.name, hd.host.address, [obj], seen, store).calls
            seen = [ObservedObject(obj.kind, obj.name, {**obj.params, "Platform": ["6.1+"]})]
            calls += plan_host(hd.host.name, hd.host.address, [obj], seen, store).calls  # replace
            calls += plan_host(hd.host.name, hd.host.address, [], [ObservedObject(obj.kind, obj.name, obj.params)],
                               store).calls  # destroy
    return calls


@pytest.mark.parametrize("isolation", [False, True], ids=["pairs", "isolation"])
@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.name)
def test_every_emitted_call_is_valid(path: Path, isolation: bool) -> None:
    calls = every_call(path, isolation)
    if isolation:
        assert any(c.params.get("IPsecRuleName") == "ipsec-remote-isolation" and "RemoteAddress" not in c.params
                   for c in calls)
    cmdlets = {c.cmdlet for c in calls}
    # The enumeration really covers creates, updates and removals of every kind.
    assert {"New-NetIPsecRule", "Set-NetIPsecRule", "Remove-NetIPsecRule", "New-NetIPsecMainModeRule",
            "Set-NetIPsecMainModeRule", "Remove-NetIPsecMainModeRule", "Set-NetIPsecQuickModeCryptoSet",
            "Set-NetIPsecMainModeCryptoSet", "Set-NetIPsecPhase1AuthSet"} <= cmdlets
    for call in calls:
        validate_call(call)
