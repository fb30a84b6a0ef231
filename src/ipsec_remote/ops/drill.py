"""doctor --drill: prove on each host that the dead-man's switch works there, before any promotion.

The drill arms a harmless task through the very mechanism a promotion uses (arm_revert.ps1, the inline
revert_task.ps1 with an empty rule list, the protected folder, SYSTEM with ServiceAccount logon), waits for
it to fire, and checks that it ran — so no execution policy blocked it — as SYSTEM (the S-1-5-18 its marker
reports, read by whoami), that it removed its own task, and that its marker came from the protected folder.
Each host's result goes to the journal; promote --to require needs a successful one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.deadman import record_drill
from ..journal.store import Journal
from ..model.gpo import is_gpo_store
from ..model.inventory import Inventory
from ..remote.deadman import DRILL_TASK, REFRESH_LINE, SYSTEM_SID
from ..remote.sessions import open_fleet
from ..remote.transport import HostTarget
from .switch import Switch

DRILL_DELAY_S = 5  # the task is armed this far in the future: far enough to be registered before it is due


@dataclass
class DrillResult:
    host: str
    ok: bool
    problem: str = ""
    ran_as: str = ""
    policy: str = ""
    took_over: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "ok": self.ok, "problem": self.problem, "ran_as": self.ran_as,
                "execution_policy": self.policy, "took_over_folder": self.took_over}


def drill(inv: Inventory, targets: Mapping[str, HostTarget], journal: Journal, forks: int,
          wait_s: float) -> list[DrillResult]:
    run_id = journal.begin_run("doctor --drill")
    fleet = open_fleet(targets, forks)
    results: dict[str, DrillResult] = {}
    try:
        hosts = [h.name for h in inv.hosts if h.name in fleet.sessions]
        switch = Switch(fleet, targets, journal, run_id, task=DRILL_TASK)
        # GPO mode: the task's deadline action is a computer-policy refresh (promote's, ops/gpo_promote.py),
        # so the drill runs one as SYSTEM — it applies the GPO as it stands, as a background refresh would.
        lines = [REFRESH_LINE] if is_gpo_store(inv.policy.store) else []
        problems = switch.arm({h: list(lines) for h in hosts}, DRILL_DELAY_S)
        for host, problem in problems.items():
            results[host] = DrillResult(host, False, f"could not arm the drill task: {problem}")
        armed = [h for h in hosts if h in switch.armed]
        outcomes = switch.wait_for_tasks(armed, wait_s)
        for host in armed:
            outcome = outcomes[host]
            marker = outcome.marker
            ran_as = marker.ran_as if marker is not None else ""
            if outcome.status != "reverted-by-task":
                results[host] = DrillResult(host, False, outcome.detail, ran_as)
            elif ran_as != SYSTEM_SID:
                results[host] = DrillResult(host, False, f"the task ran as {ran_as or 'an unknown account'}, not "
                                                         f"SYSTEM ({SYSTEM_SID})", ran_as)
            else:
                results[host] = DrillResult(host, True, "", ran_as)
        switch.disarm(hosts)  # removes any task left and the marker
        for host, arm in switch.arm_reports.items():
            if host in results:
                gpo = str(arm.get("MachinePolicy") or "Undefined")
                results[host].policy = str(arm.get("Effective") or "?") + (
                    f" (Group Policy: {gpo})" if gpo != "Undefined" else "")
                results[host].took_over = bool(arm.get("TookOver"))
    finally:
        for host, reason in fleet.failed.items():
            results.setdefault(host, DrillResult(host, False, f"WinRM: {reason}"))
        fleet.close()
        for result in results.values():
            record_drill(journal, run_id, result.host, result.ok, result.to_json())
        journal.finish_run(run_id, "ok" if results and all(r.ok for r in results.values()) else "failed",
                           {"hosts": len(results)})
    return [results[h.name] for h in inv.hosts if h.name in results]
