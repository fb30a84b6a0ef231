"""The baseline: the same rollout driven the way generic tools do it — a new RunspacePool per step.

Ansible's psrp connection opens a pool per task and pypsrp's ``Client.execute_ps`` one per call. Here
every step (read state, each cmdlet call, each probe) opens its own pool over the same transport, runs
the same script and closes it, so the difference measured is the connection pattern alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ipsec_remote.model.desired import desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.plan.planner import plan_host
from ipsec_remote.remote.connect import targets_for
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import HostSession, HostTarget


def _step(target: HostTarget, script: str, params: dict[str, object]) -> list[object]:
    with HostSession(target) as session:
        return session.run(script, params, retry=False).objects


def pool_per_step_apply(inventory: Path, forks: int = 50) -> None:
    inv = load_inventory(inventory)
    targets = targets_for(inv, inventory, lab=True)
    desired = desired_objects(inv)
    peers: dict[str, list[dict[str, object]]] = {}
    for a, b, pair in inv.expanded_pairs():
        peers.setdefault(a, []).append({"Target": inv.host(b).address, "Port": pair.probe_port})
        peers.setdefault(b, []).append({"Target": inv.host(a).address, "Port": pair.probe_port})

    def host(name: str) -> None:
        target = targets[name]
        report = _step(target, "read_state", {"Group": inv.policy.group, "PolicyStore": inv.policy.store})[0]
        state = parse_state(report, inv.policy.group)  # type: ignore[arg-type]
        plan = plan_host(name, inv.host(name).address, desired[name].objects, state.observed, inv.policy.store)
        for call in plan.calls:
            _step(target, "invoke_batch", {"Calls": [batch_data(call)]})
        for probe in peers.get(name, []):
            _step(target, "verify", {"Probes": [probe]})

    with ThreadPoolExecutor(max_workers=forks) as pool:
        list(pool.map(host, [h.name for h in inv.hosts]))


if __name__ == "__main__":  # run as a process, like the CLI it is compared with
    import sys

    pool_per_step_apply(Path(sys.argv[1]))
