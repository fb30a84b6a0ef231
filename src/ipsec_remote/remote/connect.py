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


def kerberos_user(username: str | None, realm: str | None) -> str | None:
    """``DOMAIN\\user`` or ``user`` → ``user@REALM`` when a realm is configured (Kerberos principal form)."""
    if not username or not realm or "@" in username:
        return username
    return f"{username.rpartition(chr(92))[2]}@{realm.upper()}"


def _needs_gssapi(auth: str, label: str) -> None:
    if auth != "kerberos":
        return
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError:
        raise InputError(label, "connection.auth", "Kerberos needs the gssapi and krb5 Python packages "
                                                   "(pip install 'ipsec-remote[kerberos]'; make kerberos)") from None


def _pem(inventory: Path, value: str | None, key: str) -> str:
    path = inventory.resolve().parent / (value or "")
    if not value or not path.is_file():
        raise InputError(str(inventory), key, f"{path} does not exist")
    return str(path)


def _inventory_targets(inv: Inventory, inventory: Path) -> dict[str, HostTarget]:
    conn = inv.connection
    _needs_gssapi(conn.auth, str(inventory))
    username = conn.username
    if conn.username_env:
        username = os.environ.get(conn.username_env, username)
    if conn.auth in ("kerberos", "negotiate"):
        username = kerberos_user(username, conn.realm)
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
    cert = key = None
    if conn.auth == "certificate":
        cert = _pem(inventory, conn.client_cert, "connection.client_cert")
        key = _pem(inventory, conn.client_key, "connection.client_key")
    targets = {}
    for host in inv.hosts:
        endpoint = host.endpoint or f"{conn.scheme}://{host.name}:{conn.effective_port}/wsman"
        targets[host.name] = HostTarget(host.name, endpoint, username, password, conn.auth, ca,
                                        conn.operation_timeout_s, conn.connect_timeout_s,
                                        spn_service=conn.spn_service, spn_hostname=host.spn_hostname,
                                        delegate=conn.delegate, realm=conn.realm, password_env=conn.password_env,
                                        client_cert=cert, client_key=key)
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
    conn = inv.connection
    if data.get("krb5_conf"):
        # The lab is its own Kerberos realm: this process asks the lab's KDC (lab.json names its krb5.conf).
        os.environ["KRB5_CONFIG"] = str(data["krb5_conf"])
    targets = {}
    for host in inv.hosts:
        entry = hosts.get(host.name)
        if not entry:
            raise InputError(str(path), f"hosts.{host.name}", "this host is not in the running lab")
        auth = entry.get("auth", "basic")
        if auth == "kerberos":
            # A Kerberos lab answers as a Kerberos-only domain host would to whatever the inventory uses.
            auth = conn.auth
        elif auth == "negotiate":
            # The lab's NTLM listener: ask for NTLM directly, so no Kerberos attempt goes to whatever realm
            # this machine's krb5.conf names (Negotiate would try it first wherever gssapi is installed).
            auth = "ntlm"
        _needs_gssapi(auth, str(inventory))
        password = entry.get("password")
        # The lab listens with Basic over HTTPS, validated against its own CA (never unvalidated), or with the
        # authentication ``lab up --auth`` chose.
        targets[host.name] = HostTarget(host.name, entry["endpoint"], entry.get("username"),
                                        SecretStr(password) if password else None, auth,
                                        data.get("ca_bundle"), conn.operation_timeout_s, conn.connect_timeout_s,
                                        spn_service=conn.spn_service,
                                        spn_hostname=host.spn_hostname or entry.get("spn_hostname"),
                                        delegate=conn.delegate, realm=data.get("realm"),
                                        password_env=None, client_cert=data.get("client_cert"),
                                        client_key=data.get("client_key"))
    return targets
