"""Fleet scale: ``apply`` (exemptions, sets, rules, proof) on generated tiered fleets, with the lab's latency model
on. One row per size: hosts, pairs, wall seconds, the controller's peak RSS and CPU seconds (its own rusage,
from wait4), the lab process's CPU seconds (its /stats endpoint) and WSMan requests per host.

    python bench/run.py --scale 100,1000     # these sizes only (make bench-big: 10,000)

Figures are measured, never asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from fleetgen import write_faults, write_inventory

# With the latency model a host takes ~1-4 s per phase, so the fleet is worked on 200 hosts at a time (the
# product's --forks; its default is 50). Verification polls every second.
FORKS = 200
SCALE_PLAYBOOK = ("[rollout]\nforks = {forks}\n[verify]\ntimeout_s = {verify_timeout_s}\npoll_interval_s = 1\n"
                  "[promote]\nconfirm_timeout_s = 60\n")
RTT_MS = 20
VERIFY_ROUND_S_PER_HOST = 3.0  # a verify pipeline with the latency model: the probe's bound (3 s) at worst


def verify_timeout_s(hosts: int, forks: int = FORKS) -> int:
    """The proof window an admin would give this fleet: each pair's window runs from its first probe, and
    its next look comes one round later — a round works every host with a pending pair, ``forks`` at a time.
    A fixed minute is shorter than one round past ~4,000 hosts at 200 forks, so a pair not proven at its
    first look would get no second one; the window is two rounds' worth (a minute at least)."""
    rounds_s = -(-hosts // forks) * VERIFY_ROUND_S_PER_HOST
    return max(60, int(2 * rounds_s))


def run_child(args: list[str], cwd: Path, timeout: float) -> tuple[int, str, float, dict[str, float]]:
    """Run the CLI; (exit code, stdout, wall s, {"cpu_s", "rss_mb"} of that process alone)."""
    start = time.perf_counter()
    with open(cwd / "child.out", "w") as out, open(cwd / "child.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "ipsec_remote", *args], cwd=cwd, stdout=out, stderr=err,
                                text=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, (cwd / "child.out").read_text(), wall,
            {"cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024})


def lab_stats(workdir: Path) -> dict[str, Any]:
    lab = json.loads((workdir / ".ipsec-remote" / "lab.json").read_text())
    request = urllib.request.Request(lab["control"]["url"] + "/stats",
                                     headers={"Authorization": f"Bearer {lab['control']['token']}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


class PeakFds:
    """The lab process's most open descriptors during a run (/proc/<pid>/fd, once a second): one listener per
    host plus its live connections, against the machine's open-files limit (README: bench-big's EMFILE)."""

    def __init__(self, workdir: Path) -> None:
        self.pid = int(json.loads((workdir / ".ipsec-remote" / "lab.json").read_text())["pid"])
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = len(os.listdir(f"/proc/{self.pid}/fd"))
            except OSError:
                return  # not Linux, or the lab is gone
            self.peak = max(self.peak or 0, n)
            self._stop.wait(1.0)

    def __enter__(self) -> PeakFds:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def idle_timeout_s(hosts: int) -> float | None:
    """HTTP.sys's idle-connection timeout for the lab, when its default (120 s) would not fit the fleet in one
    process: the lab holds a listener per host plus a connection per host the controller has used in the last
    timeout, against this machine's open-files hard limit (20,000 here; root cannot raise it). Below two
    descriptors a host (and some slack), the default; above, 30 s — a value an admin can set
    (IdleConnectionTimeout), which the product must cope with anyway (tests/e2e/test_idle_connections.py
    runs it at 1 s). The live connections are then about the hosts the controller reaches in 30 s (≈ 80 a
    second at 2,000 hosts: ≈ 2,400), far from the 10,000 a 10,000-host run at 120 s may hold. None: the
    lab's default."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if hard == resource.RLIM_INFINITY or 2 * hosts + 500 <= hard else 30.0


def one_size(workdir: Path, hosts: int, forks: int = FORKS) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    names = write_inventory(workdir / "inventory.toml", hosts)
    idle = idle_timeout_s(hosts)
    write_faults(workdir / "faults.toml", names, latency=True, idle_timeout_s=idle)
    (workdir / "playbooks").mkdir(exist_ok=True)
    window = verify_timeout_s(hosts, forks)
    (workdir / "playbooks" / "server-to-server.toml").write_text(
        SCALE_PLAYBOOK.format(forks=forks, verify_timeout_s=window))
    code, _, up_s, _ = run_child(["lab", "up", "inventory.toml", "--detach", "--faults", "faults.toml",
                                  "--rtt-ms", str(RTT_MS)], workdir, 1800)
    if code != 0:
        raise SystemExit(f"lab up failed ({code}): {(workdir / 'child.err').read_text()[-2000:]}")
    try:
        before, load_before = lab_stats(workdir), os.getloadavg()
        with PeakFds(workdir) as fds:
            code, out, wall, usage = run_child(["apply", "inventory.toml", "--lab", "--json"], workdir, 3600)
        after, load_after = lab_stats(workdir), os.getloadavg()
        err_tail = (workdir / "child.err").read_text()[-1500:] if code != 0 else ""
    finally:
        run_child(["lab", "down", "inventory.toml"], workdir, 600)
    report = json.loads(out) if out.startswith("{") else {}
    per_host = [after["requests"].get(n, 0) - before["requests"].get(n, 0) for n in names]
    pairs = report.get("pairs", [])
    return {
        "hosts": hosts, "pairs": len(pairs), "wall_s": round(wall, 2), "rss_mb": round(usage["rss_mb"], 1),
        "requests_per_host": round(sum(per_host) / max(1, len(per_host)), 1), "exit": code,
        "controller_cpu_s": round(usage["cpu_s"], 1), "lab_cpu_s": round(after["cpu_s"] - before["cpu_s"], 1),
        "lab_peak_rss_mb": after.get("peak_rss_mb"), "pairs_verified": sum(1 for p in pairs if p.get("verified")),
        "lab_up_s": round(up_s, 1), "forks": forks, "rtt_ms": RTT_MS, "latency_model": True,
        "verify_timeout_s": window, "lab_peak_fds": fds.peak, "lab_winrm_idle_closed": after.get("winrm_idle_closed"),
        "winrm_idle_timeout_s": idle or 120.0,
        # The lab's cyclic-GC seconds during the apply, and its longest GC pause since it started (every
        # thread stopped, its WinRM loop included): src/ipsec_remote/gcpolicy.py.
        "lab_gc_s": (round(after["gc_s"] - before["gc_s"], 2) if "gc_s" in after and "gc_s" in before else None),
        "lab_gc_longest_pause_s": after.get("gc_longest_pause_s"),
        "preflight": True,  # apply's default: the doctor's checks, riding in the read pipeline
        "load_avg": [round(load_before[0], 2), round(load_after[0], 2)],
        **({"stderr_tail": err_tail, "failed_hosts": _failed(report)} if code != 0 else {}),
    }


def _failed(report: dict[str, Any]) -> dict[str, str]:
    """The hosts the apply reports failed, with the first few reasons (a failed row says why)."""
    hosts = report.get("hosts", {})
    failed = {n: str(h.get("failed")) for n, h in hosts.items() if isinstance(h, dict) and h.get("failed")}
    return dict(list(failed.items())[:5]) | ({"…": f"{len(failed)} hosts failed"} if len(failed) > 5 else {})


def bench_scale(workdir: Path, sizes: list[int]) -> list[dict[str, Any]]:
    print(f"  {'hosts':>6} {'pairs':>6} {'wall s':>7} {'ctl RSS MB':>10} {'ctl CPU s':>9} {'lab CPU s':>9} "
          f"{'req/host':>8}  load (before, after)")
    rows = []
    for n in sizes:
        row = one_size(workdir / str(n), n)
        rows.append(row)
        print(f"  {row['hosts']:>6} {row['pairs']:>6} {row['wall_s']:>7.1f} {row['rss_mb']:>10.1f} "
              f"{row['controller_cpu_s']:>9.1f} {row['lab_cpu_s']:>9.1f} {row['requests_per_host']:>8.1f}  "
              f"{row['load_avg'][0]:.2f}, {row['load_avg'][1]:.2f}"
              + ("" if row["exit"] == 0 else f"  (exit {row['exit']}, {row['pairs_verified']} pairs verified)"),
              flush=True)
        if row["exit"] != 0:
            print("    " + json.dumps(row["failed_hosts"])[:600] + "\n    " + row["stderr_tail"][-600:].replace(
                "\n", "\n    "), flush=True)
    return rows
