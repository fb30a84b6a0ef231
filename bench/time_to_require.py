"""Time-to-Require for a large fleet with the default playbook: an ESTIMATE from the lab's latency model.

Measured on a 6-host fleet (the lab with its latency model on, rtt 20 ms, the project's default playbook:
forks 50, verify 60 s / 2 s, confirm timeout 120 s, waves canary 1 pair / 25 % / rest): for each command
(apply, status, doctor --drill, promote --to require) each host's WSMan requests and the seconds the latency
model charged it (pool opens, CIM calls, probe waits, task start). A host's time in a command is then
``requests × rtt + modelled seconds`` — what a Windows host would have made the controller wait.

Extrapolated to N hosts (the fleetgen topology: stacks of 6 web, 3 app, 1 SQL; the waves as promote plans
them on that inventory): every fleet-wide step runs ``forks`` hosts at a time, so it takes
``ceil(hosts in the step / forks) × a host's time``; promote's first part (read every host, prove every
pair) costs what ``status`` costs a host, each wave what promote cost a host per wave it took part in. What a
command spent beyond its hosts' time on 6 hosts (start-up, fixed waits such as the drill's 5 s lead, the
controller's own work) is added once.

Assumptions (each printed with the figure): the latency model's figures (lab/fleet/latency.py says which are
sourced and which are assumptions); every host costs what the 6-host fleet's average host cost; the
controller's CPU keeps up (bench/scale.py measures it); no host fails (a failure adds the revert wait,
``revert_wait_s``); authentication round trips beyond the lab's are not counted; AD replication of a GPO is
not counted for Group Policy either.

Group Policy, for comparison: computer policy refreshes in the background every 90 minutes plus a random
offset of 0 to 30 minutes (learn.microsoft.com/en-us/previous-versions/ms813077(v=msdn.10); MS-GPOD §4.1
note <2>). A change reaches a host at its next refresh; the fleet is at Require when its last host refreshed.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from fleetgen import write_faults, write_inventory

ROOT = Path(__file__).resolve().parent.parent
RTT_MS = 20
COMMANDS = [("apply", ["apply", "inventory.toml", "--lab"]),
            ("status", ["status", "inventory.toml", "--lab"]),
            ("drill", ["doctor", "inventory.toml", "--lab", "--drill"]),
            ("promote", ["promote", "--to", "require", "-i", "inventory.toml", "--lab", "--json"])]
GPO_INTERVAL_MIN, GPO_OFFSET_MIN = 90.0, 30.0


def _cli(workdir: Path, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], float]:
    import time

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=workdir, text=True,
                          capture_output=True, timeout=timeout)
    return proc, time.perf_counter() - start


def _snapshot(workdir: Path) -> dict[str, dict[str, float]]:
    proc, _ = _cli(workdir, "lab", "inspect", "inventory.toml", "--json")
    hosts = json.loads(proc.stdout)["hosts"]
    return {name: {"requests": h["requests"].get("total", 0), "creates": h["requests"].get("Create", 0),
                   "modelled_s": float(h.get("modelled_latency_s", 0.0))} for name, h in hosts.items()}


def measure(workdir: Path, hosts: int = 6) -> dict[str, Any]:
    """Run apply, status, doctor --drill and promote on a small fleet; per command: wall s, exit, and each
    host's requests, pool opens and modelled seconds; promote's waves (hosts per wave)."""
    workdir.mkdir(parents=True, exist_ok=True)
    names = write_inventory(workdir / "inventory.toml", hosts)
    write_faults(workdir / "faults.toml", names, latency=True)
    (workdir / "playbooks").mkdir(exist_ok=True)
    shutil.copy(ROOT / "playbooks" / "server-to-server.toml", workdir / "playbooks" / "server-to-server.toml")
    up, _ = _cli(workdir, "lab", "up", "inventory.toml", "--detach", "--faults", "faults.toml",
                 "--rtt-ms", str(RTT_MS))
    if up.returncode != 0:
        raise SystemExit(f"lab up failed: {up.stderr[-2000:]}")
    out: dict[str, Any] = {"hosts": hosts, "rtt_ms": RTT_MS, "commands": {}}
    try:
        for label, args in COMMANDS:
            before = _snapshot(workdir)
            proc, wall = _cli(workdir, *args)
            after = _snapshot(workdir)
            per_host = {n: {k: round(after[n][k] - before.get(n, {}).get(k, 0), 3) for k in after[n]}
                        for n in names}
            out["commands"][label] = {"wall_s": round(wall, 2), "exit": proc.returncode, "per_host": per_host}
            if label == "promote" and proc.stdout.startswith("{"):
                waves = json.loads(proc.stdout).get("waves", [])
                out["waves"] = [sorted({h for p in w["pairs"] for h in p.split(":")} | set(w["isolation_hosts"]))
                                for w in waves]
    finally:
        _cli(workdir, "lab", "down", "inventory.toml")
    return out


def host_seconds(row: dict[str, float], rtt_s: float) -> float:
    return row["requests"] * rtt_s + row["modelled_s"]


def wave_hosts(hosts: int) -> list[int]:
    """How many hosts each default-playbook wave touches on the fleetgen inventory of ``hosts`` hosts."""
    import tempfile

    from ipsec_remote.model.inventory import load_inventory
    from ipsec_remote.model.playbook import load_playbook
    from ipsec_remote.ops.promote import plan_waves

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.toml"
        write_inventory(path, hosts)
        inv = load_inventory(path)
    book = load_playbook(ROOT / "playbooks" / "server-to-server.toml")
    pairs = [(a, b) for a, b, _ in inv.expanded_pairs()]
    return [len({h for p in wave for h in p}) for _name, wave in plan_waves(pairs, book)]


def gpo_minutes(hosts: int, seed: int = 1) -> dict[str, float]:
    """When a GPO change made at a random moment reaches the median host and the last of ``hosts``
    (Monte Carlo over each host's refresh timer: 90 min + U(0, 30) per interval, free-running)."""
    rng = random.Random(seed)
    lasts, medians = [], []
    for _ in range(200):
        waits = []
        for _h in range(hosts):
            t = -rng.uniform(0, 240)  # the host's timer runs since long before the change (at t = 0)
            while t <= 0:
                t += GPO_INTERVAL_MIN + rng.uniform(0, GPO_OFFSET_MIN)
            waits.append(t)
        waits.sort()
        lasts.append(waits[-1])
        medians.append(waits[len(waits) // 2])
    return {"median_host_min": round(sum(medians) / len(medians), 1),
            "last_host_min": round(sum(lasts) / len(lasts), 1),
            "worst_case_min": GPO_INTERVAL_MIN + GPO_OFFSET_MIN}


def estimate(measured: dict[str, Any], hosts: int = 1000, forks: int = 50,
             confirm_timeout_s: float = 120.0) -> dict[str, Any]:
    rtt_s = measured["rtt_ms"] / 1000.0
    cmds = measured["commands"]
    batches = math.ceil(hosts / forks)

    def mean_host(label: str) -> float:
        rows = list(cmds[label]["per_host"].values())
        return sum(host_seconds(r, rtt_s) for r in rows) / max(1, len(rows))

    def fixed(label: str, busy: float) -> float:
        return max(0.0, cmds[label]["wall_s"] - busy)

    apply_host, drill_host, init_host = mean_host("apply"), mean_host("drill"), mean_host("status")
    small_waves = measured.get("waves") or []
    promote_total = sum(host_seconds(r, rtt_s) for r in cmds["promote"]["per_host"].values())
    small_init = init_host * len(cmds["promote"]["per_host"])
    participations = sum(len(w) for w in small_waves) or 1
    wave_host = max(0.0, promote_total - small_init) / participations
    big_waves = wave_hosts(hosts)
    wave_s = [math.ceil(n / forks) * wave_host for n in big_waves]
    steps = {
        "apply_s": batches * apply_host + fixed("apply", apply_host),
        "drill_s": batches * drill_host + fixed("drill", drill_host),
        "promote_s": batches * init_host + sum(wave_s)
        + fixed("promote", init_host + wave_host * len(small_waves)),
    }
    total = sum(steps.values())
    gpo = gpo_minutes(hosts)
    return {
        "hosts": hosts, "forks": forks, "estimate": True,
        "per_host_s": {"apply": round(apply_host, 2), "drill": round(drill_host, 2),
                       "promote_read_and_prove": round(init_host, 2), "promote_per_wave": round(wave_host, 2)},
        "wave_hosts": big_waves, "wave_s": [round(w, 1) for w in wave_s],
        "confirm_timeout_s": confirm_timeout_s,
        "waves_fit_confirm_timeout": all(w < confirm_timeout_s for w in wave_s),
        **{k: round(v, 1) for k, v in steps.items()},
        "total_min": round(total / 60, 1),
        "group_policy": gpo,
        "assumptions": [
            "latency model figures (see latency.assumptions / latency.sourced)",
            f"WinRM round trip {measured['rtt_ms']} ms per request (ASSUMPTION: a routed data-centre network)",
            "every host costs what the 6-host fleet's average host cost; forks hosts at a time per step",
            "no host fails (a failed wave adds revert_wait_s and stops the rollout)",
            "controller CPU keeps up (see the scale rows' controller CPU s)",
            "GPO: AD/SYSVOL replication not counted; timer phase uniform; no gpupdate /force",
        ],
    }


def report(workdir: Path, hosts: int = 1000) -> dict[str, Any]:
    measured = measure(workdir)
    est = estimate(measured, hosts)
    est["measured_on_6_hosts"] = {k: {"wall_s": v["wall_s"], "exit": v["exit"]}
                                  for k, v in measured["commands"].items()}
    gpo = est["group_policy"]
    print("  measured on 6 hosts: " + ", ".join(f"{k} {v['wall_s']} s (exit {v['exit']})"
                                                for k, v in measured["commands"].items()))
    print(f"  ESTIMATE for {hosts} hosts, forks {est['forks']}: apply {est['apply_s']:.0f} s + drill "
          f"{est['drill_s']:.0f} s + promote {est['promote_s']:.0f} s = {est['total_min']} min to Require "
          f"(waves of {est['wave_hosts']} hosts: {est['wave_s']} s each, confirm timeout "
          f"{est['confirm_timeout_s']:.0f} s: {'fits' if est['waves_fit_confirm_timeout'] else 'DOES NOT FIT'})")
    print(f"  Group Policy: median host {gpo['median_host_min']} min, last of {hosts} hosts "
          f"{gpo['last_host_min']} min (90 min + up to 30 at random: at most {gpo['worst_case_min']:.0f} min), "
          "with no proof and no dead-man's switch")
    for line in est["assumptions"]:
        print(f"    assumption: {line}")
    return est
