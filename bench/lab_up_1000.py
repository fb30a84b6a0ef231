"""``ipsec-remote lab up --detach`` with 1,000 generated hosts: start time, memory, inspect and down.

    .venv/bin/python bench/lab_up_1000.py [--hosts 1000] [--keep]

Generates an inventory (hosts 10.20.x.y, one DC and the controller as exemption targets) in a temporary
directory, then times the real CLI from a subprocess, as a user would run it. Figures are printed; nothing
is asserted (DESIGN §7: benchmarks report, tests assert).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "ipsec_remote"]


def inventory(hosts: int) -> str:
    lines = [
        '[controller]\naddress = "10.20.255.100"\n',
        '[connection]\nscheme = "https"\nauth = "basic"\nusername_env = "IPSEC_REMOTE_USER"\n',
    ]
    for n in range(hosts):
        lines.append(f'[[hosts]]\nname = "srv{n:04d}"\naddress = "10.20.{n // 250}.{n % 250 + 1}"\n')
    lines.append('[[exemptions]]\nname = "dc01"\naddress = "10.20.255.5"\nrole = "domain_controller"\n')
    return "\n".join(lines)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample(lab: dict[str, object], count: int) -> float:
    """Seconds per pypsrp round trip (pool open + one script + close) on ``count`` hosts, sequentially."""
    from urllib.parse import urlsplit

    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    hosts = lab["hosts"]
    assert isinstance(hosts, dict)
    names = sorted(hosts)[:: max(1, len(hosts) // count)][:count]
    started = time.perf_counter()
    for name in names:
        entry = hosts[name]
        url = urlsplit(entry["endpoint"])
        with WSMan(url.hostname or "127.0.0.1", port=url.port, username=entry["username"],
                   password=entry["password"], auth="basic", cert_validation=str(lab["ca_bundle"])) as wsman, \
                RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_script("@(Get-NetIPsecRule -PolicyStore ActiveStore).Count -eq 0")
            assert ps.invoke() == [True] and not ps.streams.error, name
    return (time.perf_counter() - started) / len(names)


def run(*args: str, cwd: Path, timeout: float = 600) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run([*CLI, *args], cwd=cwd, text=True, capture_output=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="leave the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lab-up-bench-"))
    (tmp / "inventory.toml").write_text(inventory(args.hosts))
    up_s, _ = run("lab", "up", "inventory.toml", "--detach", cwd=tmp)
    lab = json.loads((tmp / ".ipsec-remote" / "lab.json").read_text())
    rss = rss_mib(int(lab["pid"]))
    try:
        per_host = sample(lab, 20)
        inspect_s, proc = run("lab", "inspect", "inventory.toml", "--json", cwd=tmp)
        doc = json.loads(proc.stdout)
        reachable = sum(1 for h in doc["hosts"].values() if h["reachable_from_controller"])
    finally:
        down_s, _ = run("lab", "down", "inventory.toml", cwd=tmp)
    print(f"hosts                    {len(lab['hosts'])} ({args.hosts} generated + 1 DC)")
    print(f"lab up --detach          {up_s:.2f} s (until lab.json is written and every endpoint serves)")
    print(f"lab process RSS          {rss:.0f} MiB after start")
    print(f"pypsrp round trip        {per_host * 1000:.0f} ms per host (pool + script + close, 20 hosts)")
    print(f"lab inspect --json       {inspect_s:.2f} s, {len(proc.stdout) / 1e6:.1f} MB, "
          f"{reachable} reachable from the controller")
    print(f"lab down                 {down_s:.2f} s")
    if args.keep:
        print(f"kept {tmp}")


if __name__ == "__main__":
    main()
