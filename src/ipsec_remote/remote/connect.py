"""Where each host is reached: the inventory's endpoints and credentials, or the lab's (``--lab``).

Credentials are resolved here, before any host is contacted, so a missing variable is an input error
(exit 2) and not a failure half-way through a rollout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from ..errors import InputError
from ..model.inventory import Inventory, resolve_secret
from .transport import HostTarget


def state_dir(inventory: Path) -> Path:
    return inventory.resolve().parent / ".ipsec-remote"


def lab_file(inventory: Path) -> Path:
    return state_dir(inventory) / "lab.json"


def journal_path(inventory: Path, lab: bool) -> Path:
    """The journal of the real fleet, or one per lab fleet: a new lab starts with no history, and a
    rehearsal never mixes its promotions into the production journal."""
    if not lab:
        return state_dir(inventory) / "state.db"
    try:
        pid = int(json.loads(lab_file(inventory).read_text()).get("pid", 0))
    except (OSError, ValueError):
        pid = 0
    return state_dir(inventory) / f"lab-state-{pid}.db"


def targets_for(inv: Inventory, inventory: Path, lab: bool) -> dict[str, HostTarget]:
    return _lab_targets(inv, inventory) if lab else _inventory_targets(inv, inventory)


def _inventory_targets(inv: Inventory, inventory: Path) -> dict[str, HostTarget]:
    conn = inv.connection
    username = conn.username
    if conn.username_env:
        username = os.environ.get(conn.username_env, username)
    password: SecretStr | None = None
    if conn.auth not in ("kerberos", "certificate") or (conn.password_env and conn.password_env in os.environ):
        if not conn.password_env:
            raise InputError(str(inventory), "connection.password_env", f"auth '{conn.auth}' needs a password")
        password = resolve_secret(conn.password_env)
        if not username:
            raise InputError(str(inventory), "connection.username_env",
                             f"auth '{conn.auth}' needs a user name (set {conn.username_env or 'username_env'})")
    ca = None
    if conn.ca_bundle:
        ca_path = (inventory.resolve().parent / conn.ca_bundle)
        if not ca_path.is_file():
            raise InputError(str(inventory), "connection.ca_bundle", f"{ca_path} does not exist")
        ca = str(ca_path)
    targets = {}
    for host in inv.hosts:
        endpoint = host.endpoint or f"{conn.scheme}://{host.name}:{conn.effective_port}/wsman"
        targets[host.name] = HostTarget(host.name, endpoint, username, password, conn.auth, ca,
                                        conn.operation_timeout_s, conn.connect_timeout_s)
    return targets


def _lab_targets(inv: Inventory, inventory: Path) -> dict[str, HostTarget]:
    path = lab_file(inventory)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(str(path), "", "no lab is running for this inventory (start one with "
                                        "'ipsec-remote lab up')") from None
    except (OSError, ValueError) as exc:
        raise InputError(str(path), "", f"unreadable: {exc}") from None
    hosts = data.get("hosts") or {}
    targets = {}
    for host in inv.hosts:
        entry = hosts.get(host.name)
        if not entry:
            raise InputError(str(path), f"hosts.{host.name}", "this host is not in the running lab")
        # The lab listens with Basic over HTTPS, validated against its own CA (never unvalidated).
        targets[host.name] = HostTarget(host.name, entry["endpoint"], entry.get("username"),
                                        SecretStr(entry.get("password", "")), entry.get("auth", "basic"),
                                        data.get("ca_bundle"), inv.connection.operation_timeout_s,
                                        inv.connection.connect_timeout_s)
    return targets
