"""Generated inventories for benchmarks: a realistic tiered topology, not all-pairs.

Hosts come in application stacks of 10: 6 web servers, 3 app servers, 1 SQL server. Web talks to app
(cross product within the stack), app talks to SQL. 1,000 hosts → 100 stacks → 2,100 pairs.
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
        for a, b in (("web", "app"), ("app", "sql")):
            if a in present and b in present:
                lines.append(f'[[pairs]]\na = "group:s{s}-{a}"\nb = "group:s{s}-{b}"\nprobe_port = 443\n')
    path.write_text("\n".join(lines))
    return names
