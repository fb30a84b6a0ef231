"""What the lab needs from an inventory, read with tomllib alone.

The lab must not import the controller's core (DESIGN §2), so it reads only the keys it needs:
``controller.address``, ``connection.scheme/port``, ``auth.authority``, ``policy.store``, ``hosts[].name/address`` and
``exemptions[].name/address/role``. Validation of everything else is the controller's business; problems
found here are still reported as one ``file: key.path: problem`` line (DESIGN §7).
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# The machine-certificate authority every lab host trusts and holds a certificate from, unless the
# inventory pins one (auth.authority) — the lab's `machine_cert = false` fault removes a host's certificate.
DEFAULT_MACHINE_CERT_CA = "CN=ipsec-remote lab root CA"


class LabConfigError(Exception):
    """A one-line problem in a file the lab reads: ``file: key.path: problem`` (exit code 2)."""

    def __init__(self, file: str, key_path: str, problem: str) -> None:
        self.file, self.key_path, self.problem = file, key_path, problem
        super().__init__(f"{file}: {key_path}: {problem}" if key_path else f"{file}: {problem}")


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    role: str = "managed"  # managed | domain_controller | dns | dhcp | other (an exemption target)

    @property
    def is_dc(self) -> bool:
        return self.role == "domain_controller"


@dataclass(frozen=True)
class FleetSpec:
    inventory: Path
    controller_address: str
    scheme: Literal["https", "http"]  # the lab endpoints use the scheme the controller will use
    winrm_port: int  # the *modelled* WinRM port (5986/5985): the port of the controller's flow
    machine_cert_ca: str
    hosts: list[HostSpec] = field(default_factory=list)
    policy_store: str = "PersistentStore"  # policy.store: a 'domain\GPO' is created in the lab's domain

    @property
    def state_dir(self) -> Path:
        """``.ipsec-remote/`` beside the inventory (DESIGN §4)."""
        return self.inventory.resolve().parent / ".ipsec-remote"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)


def read_toml(path: Path) -> dict[str, Any]:
    label = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LabConfigError(label, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8-sig"))  # Notepad writes a byte order mark
    except UnicodeDecodeError:
        raise LabConfigError(label, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(label, "", f"invalid TOML: {exc}") from None
    return data


def _table(data: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise LabConfigError(label, key, "must be a table")
    return value


def _address(value: Any, label: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise LabConfigError(label, where, f"{value!r} is not an IP address") from None


def _entries(data: dict[str, Any], key: str, label: str) -> list[tuple[str, dict[str, Any]]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise LabConfigError(label, key, "must be an array of tables")
    return [(f"{key}[{n}]", item) for n, item in enumerate(items)]


def load_fleet_spec(path: str | Path) -> FleetSpec:
    path = Path(path)
    label = str(path)
    data = read_toml(path)
    controller = _table(data, "controller", label)
    if "address" not in controller:
        raise LabConfigError(label, "controller.address", "required key is missing")
    connection = _table(data, "connection", label)
    scheme = connection.get("scheme", "https")
    if scheme not in ("https", "http"):
        raise LabConfigError(label, "connection.scheme", f"{scheme!r} is not one of https, http")
    port = connection.get("port") or (5986 if scheme == "https" else 5985)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise LabConfigError(label, "connection.port", f"{port!r} is not a TCP port")
    authority = _table(data, "auth", label).get("authority") or DEFAULT_MACHINE_CERT_CA

    hosts: list[HostSpec] = []
    seen: dict[str, str] = {}
    for kind, role in (("hosts", None), ("exemptions", "other")):
        for where, item in _entries(data, kind, label):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise LabConfigError(label, f"{where}.name", "required key is missing")
            address = _address(item.get("address"), label, f"{where}.address")
            if name.lower() in seen:
                # The same machine listed as host and exemption target is one lab host.
                continue
            seen[name.lower()] = address
            hosts.append(HostSpec(name, address, "managed" if role is None else str(item.get("role", role))))
    if not any(h.role == "managed" for h in hosts):
        raise LabConfigError(label, "hosts", "at least one host is required")
    return FleetSpec(
        inventory=path.resolve(),
        controller_address=_address(controller["address"], label, "controller.address"),
        scheme=scheme,
        winrm_port=port,
        machine_cert_ca=str(authority),
        hosts=hosts,
        policy_store=str(_table(data, "policy", label).get("store") or "PersistentStore"),
    )
