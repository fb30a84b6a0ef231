"""Generated inventories for benchmarks: a realistic tiered topology, not all-pairs.

Hosts come in application stacks of 10: 6 web servers, 3 app servers, 1 SQL server. Web talks to app
(cross product within the stack, HTTPS 443), app talks to SQL (1433). 1,000 hosts → 100 stacks → 2,100 pairs.
``write_faults`` gives each host the ports its role listens on (and, optionally, turns the lab's latency
model on), so a proof's probe meets what it would meet on such a fleet: the service answers, and the
reverse probe toward a client that does not listen on the port waits out its bound.
"""

from __future__ import annotations

from pathlib import Path

HEADER = """[controller]
address = "10.255.255.100"

[policy]
group = "ipsec-remote"

[auth]
method = "kerberos"

[[exemptions]]
name = "dc01"
address = "10.255.0.5"
role = "domain_controller"

[[exemptions]]
name = "dc02"
address = "10.255.0.6"
role = "domain_controller"
"""
WINDOWS_PORTS = [135, 445, 5985, 5986]  # the lab's stock listeners (RPC, SMB, WinRM)
ROLE_PORTS = {"web": [80, 443], "app": [443], "sql": [1433]}
PAIR_PORTS = {("web", "app"): 443, ("app", "sql"): 1433}


def write_inventory(path: Path, hosts: int) -> list[str]:
    names: list[str] = []
    lines = [HEADER]
    stacks = max(1, hosts // 10)
    for s in range(stacks):
        size = 10 if s < stacks - 1 else hosts - 10 * (stacks - 1)
        app = max(1, round(size * 0.3))
        roles = ["web"] * (size - app - 1) + ["app"] * app + ["sql"]
        for i, role in enumerate(roles):
            n = len(names)
            name = f"{role}{s:03d}-{i:02d}"
            names.append(name)
            lines.append(f'[[hosts]]\nname = "{name}"\naddress = "10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"\n'
                         f'groups = ["s{s}-{role}"]\n')
        present = set(roles)
        for (a, b), port in PAIR_PORTS.items():
            if a in present and b in present:
                lines.append(f'[[pairs]]\na = "group:s{s}-{a}"\nb = "group:s{s}-{b}"\nprobe_port = {port}\n')
    path.write_text("\n".join(lines))
    return names


def write_faults(path: Path, names: list[str], latency: bool = True, idle_timeout_s: float | None = None) -> None:
    """Each host's listening ports by role (the name's prefix); the latency model with its default figures;
    ``idle_timeout_s``: every WinRM listener's idle-connection timeout (None: the lab's, HTTP.sys's 120 s)."""
    lines = [f"winrm_idle_timeout_s = {idle_timeout_s}\n"] if idle_timeout_s is not None else []
    lines += ["[latency]\nenabled = true\n"] if latency else []
    for name in names:
        role = name[:3]
        lines.append(f"[hosts.{name}]\nlistening_ports = {WINDOWS_PORTS + ROLE_PORTS.get(role, [])}\n")
    path.write_text("\n".join(lines))
