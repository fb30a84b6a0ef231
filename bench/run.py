"""Benchmarks on the lab: WSMan requests per host, a pool-per-step baseline, fleet scale.

    python bench/run.py                     # everything; scale at 10, 100 and 1,000 hosts
    python bench/run.py --quick             # scale at 10 and 100 hosts, no time-to-Require (make bench-quick)
    python bench/run.py --only requests     # one part (requests, baseline, scale); the others keep their figures
    python bench/run.py --scale 100,1000    # only the scale part, these sizes (make bench-big: 10,000)
    python bench/run.py --time-to-require   # only the time-to-Require estimate (bench/time_to_require.py)

Prints tables and writes bench/results/*.json (summary.json in the shape the README quotes; --scale writes
scale.json) and a PNG plot. The scale part and the time-to-Require estimate run with the lab's latency model
on; every run prints its figures and which of them are assumptions. Figures are measured, never asserted:
nothing here is a test. The machine is shared: run it under ``nice`` and read the load printed next to each
row; request counts and RSS do not depend on load, wall and CPU seconds do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from fleetgen import write_inventory  # noqa: E402
from scale import bench_scale  # noqa: E402
from time_to_require import report as time_to_require  # noqa: E402

from ipsec_remote.lab.fleet.latency import LatencyModel  # noqa: E402

FAST_PLAYBOOK = "[verify]\ntimeout_s = 60\npoll_interval_s = 1\n[promote]\nconfirm_timeout_s = 60\n"
# Continuous traffic along every pair while the requests are measured: packets dropped by promote and rollback.
MEMBER_TRAFFIC = "[traffic]\nbetween_members_interval_ms = 100\n"


def cli(workdir: Path, *args: str, timeout: float = 1800) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run the CLI as a child; return the result, wall seconds and the child's peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=workdir, text=True,
                          capture_output=True, timeout=timeout)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return proc, wall, max(peak, before) / 1024.0


def requests(workdir: Path) -> dict[str, dict[str, int]]:
    proc, _, _ = cli(workdir, "lab", "inspect", "inventory.toml", "--json")
    hosts = json.loads(proc.stdout)["hosts"]
    return {name: dict(h["requests"]) for name, h in hosts.items() if h.get("requests")}


def per_host(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], hosts: list[str]) -> float:
    totals = [after[h].get("total", 0) - before.get(h, {}).get("total", 0) for h in hosts]
    return sum(totals) / max(1, len(totals))


def requests_and_traffic(workdir: Path) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    """``requests`` and ``traffic`` from one ``lab inspect`` (a CLI start each costs seconds under load)."""
    proc, _, _ = cli(workdir, "lab", "inspect", "inventory.toml", "--json")
    seen = json.loads(proc.stdout)
    return ({name: dict(h["requests"]) for name, h in seen["hosts"].items() if h.get("requests")},
            dict(seen.get("traffic") or {}))


def prepare(workdir: Path, hosts: int, rtt_ms: int, faults: str | None = None) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    names = write_inventory(workdir / "inventory.toml", hosts)
    (workdir / "playbooks").mkdir(exist_ok=True)
    (workdir / "playbooks" / "server-to-server.toml").write_text(FAST_PLAYBOOK)
    extra: list[str] = []
    if faults is not None:
        (workdir / "faults.toml").write_text(faults)
        extra = ["--faults", "faults.toml"]
    up, wall, _ = cli(workdir, "lab", "up", "inventory.toml", "--detach", "--rtt-ms", str(rtt_ms), *extra)
    if up.returncode != 0:
        raise SystemExit(f"lab up failed: {up.stderr}")
    print(f"  lab up with {hosts} hosts: {wall:.1f} s")
    return names


def bench_requests(workdir: Path) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """Requests per host of each step; and, with member traffic every 100 ms along the 8 pairs, the packets
    each step dropped between members."""
    names = prepare(workdir, 6, 0, MEMBER_TRAFFIC)
    figures: dict[str, float] = {}
    drops: dict[str, Any] = {"interval_ms": 100}
    hosts_per_wave: list[int] = []
    try:
        steps = [("fresh_apply", ("apply", "inventory.toml", "--lab")),
                 ("noop_apply", ("apply", "inventory.toml", "--lab")),
                 ("status", ("status", "inventory.toml", "--lab")),
                 ("promote", ("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill",
                              "--json")),
                 ("rollback", ("rollback", "-i", "inventory.toml", "--lab"))]
        for label, args in steps:
            before, sent = requests_and_traffic(workdir)
            proc, wall, _ = cli(workdir, *args)
            after, now = requests_and_traffic(workdir)
            figures[label] = round(per_host(before, after, names), 1)
            lost = now.get("dropped_between_members", 0) - sent.get("dropped_between_members", 0)
            if label in ("promote", "rollback"):
                drops[label] = {"dropped": lost, "sent": now.get("sent", 0) - sent.get("sent", 0)}
            if label == "promote" and proc.stdout.startswith("{"):
                # Hosts each wave touched: each pays arm, change, proof, fresh session and confirm (README).
                done = json.loads(proc.stdout).get("waves") or []
                hosts_per_wave[:] = [len({h for p in w["pairs"] for h in p.split(":")}) for w in done]
            print(f"  {label:<12} {figures[label]:>6} requests/host  ({wall:.1f} s, exit {proc.returncode}, "
                  f"{lost} member packets dropped)")
    finally:
        cli(workdir, "lab", "down", "inventory.toml")
    # Promotion's accounting (README): 5 requests per host per command, 11 per host per wave it touches.
    waves = {"hosts_per_wave": hosts_per_wave, "host_waves": sum(hosts_per_wave), "hosts": len(names),
             "floor_requests_per_host": round((5 * len(names) + 11 * sum(hosts_per_wave)) / len(names), 1)}
    print(f"  promote waves touched {hosts_per_wave} hosts: (5 x {len(names)} + 11 x {sum(hosts_per_wave)}) / "
          f"{len(names)} = {waves['floor_requests_per_host']} requests/host by the accounting")
    return figures, drops, waves


def bench_baseline(workdir: Path) -> dict[str, float]:
    names = prepare(workdir / "ours", 6, 20)
    try:
        before = requests(workdir / "ours")
        _, ours_wall, _ = cli(workdir / "ours", "apply", "inventory.toml", "--lab")
        ours = per_host(before, requests(workdir / "ours"), names)
    finally:
        cli(workdir / "ours", "lab", "down", "inventory.toml")
    names = prepare(workdir / "base", 6, 20)
    try:
        before = requests(workdir / "base")
        start = time.perf_counter()
        # A process of its own, as the CLI run it is compared with (same interpreter start-up and imports).
        subprocess.run([sys.executable, str(HERE / "baseline.py"), str(workdir / "base" / "inventory.toml")],
                       check=True, timeout=1800)
        base_wall = time.perf_counter() - start
        base = per_host(before, requests(workdir / "base"), names)
    finally:
        cli(workdir / "base", "lab", "down", "inventory.toml")
    print(f"  ours: {ours:.1f} requests/host, {ours_wall:.1f} s;  pool per step: {base:.1f} requests/host, "
          f"{base_wall:.1f} s")
    return {"requests_ratio": round(ours / base, 3), "wall_ratio": round(ours_wall / base_wall, 3),
            "ours_requests_per_host": round(ours, 1), "baseline_requests_per_host": round(base, 1),
            "ours_wall_s": round(ours_wall, 2), "baseline_wall_s": round(base_wall, 2)}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["hosts"] for r in rows]
    ax.plot(xs, [r["wall_s"] for r in rows], marker="o", label="apply + verify wall time (s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hosts")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["requests_per_host"] for r in rows], marker="s", color="tab:orange", label="requests/host")
    ax2.set_ylabel("WSMan requests per host")
    ax2.set_ylim(0, max(r["requests_per_host"] for r in rows) * 1.6)
    ax.set_ylabel("seconds")
    ax.set_title("ipsec-remote apply on the lab (rtt 20 ms)")
    fig.legend(loc="lower right", bbox_to_anchor=(0.88, 0.18))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def latency_figures() -> dict[str, Any]:
    """The latency model's default figures (the scale part turns it on), printed with every run."""
    figures = LatencyModel(enabled=True).describe()
    assumed = ", ".join(f"{k} = {figures[k]}" for k in figures["assumptions"])
    sourced = ", ".join(f"{k} = {figures[k]}" for k in figures["sourced"])
    print(f"Latency model (lab/fleet/latency.py): ASSUMPTIONS (no public figure): {assumed}; "
          f"from public figures: {sourced}; WinRM round trip 20 ms (ASSUMPTION)")
    return figures


def machine() -> str:
    return (f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--scale: {text!r} is not a comma-separated list of host counts") from None
    if not sizes or any(n < 1 for n in sizes):
        raise SystemExit(f"--scale: {text!r} is not a comma-separated list of host counts ≥ 1")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="scale at 10 and 100 hosts; no time-to-Require")
    parser.add_argument("--only", choices=("requests", "baseline", "scale"), help="run one part only")
    parser.add_argument("--scale", metavar="N[,M...]", help="run only the scale part, for these fleet sizes")
    parser.add_argument("--time-to-require", action="store_true",
                        help="run only the time-to-Require estimate (1,000 hosts, from a 6-host measurement)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "summary.json"
    summary: dict[str, Any] = json.loads(path.read_text()) if args.only and path.exists() else {}
    work = Path(tempfile.mkdtemp(prefix="ipsec-remote-bench-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({machine()})")
    latency = latency_figures()
    try:
        if args.scale:
            print("Scale (apply with proof, latency model on, rtt 20 ms):")
            scale = bench_scale(work / "scale", parse_sizes(args.scale))
            out = {"machine": machine(), "latency": latency, "scale": scale}
            (RESULTS / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
            print(f"wrote {RESULTS / 'scale.json'}")
            return
        if args.time_to_require:
            print("Time to Require, 1,000 hosts, default playbook (an ESTIMATE from the latency model):")
            ttr_only = {"machine": machine(), "latency": latency, "time_to_require": time_to_require(work / "ttr")}
            (RESULTS / "time_to_require.json").write_text(json.dumps(ttr_only, indent=2) + "\n")
            print(f"wrote {RESULTS / 'time_to_require.json'}")
            return
        sizes = [10, 100] if args.quick else [10, 100, 1000]
        if args.only in (None, "requests"):
            print("Requests per host (6-host lab, member traffic every 100 ms):")
            (summary["requests_per_host"], summary["member_drops"],
             summary["promote_waves"]) = bench_requests(work / "requests")
        if args.only in (None, "baseline"):
            print("Baseline, same rollout with a new RunspacePool per step (6 hosts, rtt 20 ms):")
            summary["baseline"] = bench_baseline(work / "baseline")
        if args.only in (None, "scale"):
            print("Scale (apply with proof, latency model on, rtt 20 ms):")
            summary["scale"] = bench_scale(work / "scale", sizes)
        if args.only is None and not args.quick:
            print("Time to Require, 1,000 hosts, default playbook (an ESTIMATE from the latency model):")
            summary["time_to_require"] = time_to_require(work / "ttr", 1000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["machine"] = machine()
    summary["latency"] = latency
    summary["load_avg_end"] = round(os.getloadavg()[0], 2)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    if args.only in (None, "scale"):
        plot(summary["scale"], RESULTS / "scale.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
