"""An Ansible inventory as an ipsec-remote inventory TOML: hosts, groups, the WinRM connection.

Mapped: ``ansible_host`` → address (an IP; a name only with ``resolve``) and, where it differs from the host
name, the WinRM endpoint; ``ansible_port``; ``ansible_winrm_scheme`` / ``ansible_psrp_protocol``;
``ansible_winrm_transport`` / ``ansible_psrp_auth``; ``ansible_winrm_ca_trust_path`` / ``ansible_psrp_ca_cert``;
``ansible_user``. Never copied: passwords (credentials come from the environment). Refused:
``ansible_winrm_server_cert_validation = ignore`` (and ``ansible_psrp_cert_validation``). Hosts whose
``ansible_connection`` is not winrm/psrp (Linux over ssh) are left out, and said so in the output.
What Ansible does not know — the controller, the domain controllers, the pairs — is left as TODO comments.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..model.inventory import NAME_RE, parse_inventory
from .ansible import AnsibleInventory, Vaulted

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

WINDOWS_CONNECTIONS = ("winrm", "psrp")
# pywinrm / pypsrp transport names → [connection] auth. 'ssl' is pywinrm's Basic over HTTPS.
TRANSPORTS = {"kerberos": "kerberos", "ntlm": "ntlm", "credssp": "credssp", "basic": "basic", "ssl": "basic",
              "certificate": "certificate", "negotiate": "negotiate"}
CERT_IGNORED = ("ignore", "false", "no", "0")
Resolver = Callable[[str], str]


@dataclass
class ImportedHost:
    name: str
    address: str
    groups: list[str]
    scheme: str
    port: int
    auth: str | None
    connect_to: str  # what WinRM connects to (ansible_host or the name)
    user: str | None
    ca: str | None


def resolve_name(name: str) -> str:
    """The first IPv4 address of a name (else IPv6), through the system resolver."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"cannot resolve '{name}': {exc.strerror or exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    v4 = [a for a in addresses if ":" not in a]
    return (v4 or addresses)[0]


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Vaulted):
        return None
    text = str(value).strip()
    return None if not text or "{{" in text or "{%" in text else text  # a Jinja template cannot be evaluated


def _transport(label: str, host: str, variables: dict[str, Any]) -> str | None:
    for key in ("ansible_winrm_transport", "ansible_psrp_auth"):
        raw = variables.get(key)
        if raw is None:
            continue
        items = raw if isinstance(raw, list) else str(raw).split(",")
        names = [str(i).strip().lower() for i in items if str(i).strip()]
        if "plaintext" in names:
            raise InputError(label, f"{host}: {key}", "'plaintext' (Basic over http) sends the password in clear; "
                                                     "use https with ntlm, kerberos or basic")
        if {"kerberos", "ntlm"} <= set(names):
            return "negotiate"  # SPNEGO: Kerberos where it can, else NTLM — what the list asks for
        for name in names:
            if name in TRANSPORTS:
                return TRANSPORTS[name]
        raise InputError(label, f"{host}: {key}", f"'{raw}' is not a WinRM transport ipsec-remote knows "
                                                 f"({', '.join(sorted(TRANSPORTS))})")
    return None


def _host(ansible: AnsibleInventory, name: str, resolve: Resolver | None) -> ImportedHost | str:
    """The host, or why it is left out."""
    label = ansible.path
    v = ansible.effective_vars(name)
    connection = _text(v.get("ansible_connection"))
    if connection is not None and connection not in WINDOWS_CONNECTIONS:
        return f"ansible_connection = {connection}"
    for key in ("ansible_winrm_server_cert_validation", "ansible_psrp_cert_validation"):
        if str(v.get(key, "")).strip().lower() in CERT_IGNORED:
            raise InputError(label, f"{name}: {key}",
                             f"'{v[key]}' is refused: ipsec-remote always validates the WinRM server's certificate "
                             "(without it anyone on the path can pose as the server and take the admin's "
                             "credentials); give the issuing CA as [connection] ca_bundle instead")
    if not re.match(NAME_RE, name):
        raise InputError(label, name, "is not a host name ipsec-remote accepts (letters, digits, '.', '_', '-')")
    connect_to = _text(v.get("ansible_host")) or name
    address = _ip(connect_to)
    if address is None:
        if resolve is None:
            raise InputError(label, f"{name}: ansible_host", f"'{connect_to}' is a name, not an IP address: pass "
                                                             "--resolve to look it up, or set ansible_host to the "
                                                             "address")
        try:
            address = resolve(connect_to)
        except ValueError as exc:
            raise InputError(label, f"{name}: ansible_host", str(exc)) from None
    port_raw = v.get("ansible_port")
    try:
        port = int(port_raw) if port_raw is not None else None
    except (TypeError, ValueError):
        raise InputError(label, f"{name}: ansible_port", f"'{port_raw}' is not a port number") from None
    scheme = (_text(v.get("ansible_winrm_scheme")) or _text(v.get("ansible_psrp_protocol")) or "").lower()
    if scheme and scheme not in ("http", "https"):
        raise InputError(label, f"{name}: ansible_winrm_scheme", f"'{scheme}' is neither http nor https")
    # Ansible's winrm default: https, except on port 5985.
    scheme = scheme or ("http" if port == 5985 else "https")
    port = port or (5986 if scheme == "https" else 5985)
    user = _text(v.get("ansible_user")) or _text(v.get("ansible_winrm_user")) or _text(v.get("ansible_psrp_user"))
    ca = _text(v.get("ansible_winrm_ca_trust_path")) or _text(v.get("ansible_psrp_ca_cert"))
    groups = [g for g in ansible.groups_of(name) if re.match(NAME_RE, g)]
    return ImportedHost(name, address, groups, scheme, port, _transport(label, name, v), connect_to, user, ca)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _uniform(label: str, hosts: list[ImportedHost], attr: str, what: str) -> Any:
    """The one value the hosts that set it agree on (a host that leaves it unset takes it), or None."""
    values = Counter(getattr(h, attr) for h in hosts if getattr(h, attr) is not None)
    if len(values) > 1:
        detail = ", ".join(f"{v} on {next(h.name for h in hosts if getattr(h, attr) == v)}" for v in values)
        raise InputError(label, attr, f"hosts use different {what} ({detail}); ipsec-remote uses one per inventory: "
                                      "import them as separate inventories or align the variable")
    return next(iter(values)) if values else None


def to_toml(ansible: AnsibleInventory, resolve: Resolver | None = None) -> str:
    label = ansible.path
    hosts: list[ImportedHost] = []
    skipped: list[str] = []
    for name in ansible.host_vars:
        got = _host(ansible, name, resolve)
        if isinstance(got, str):
            skipped.append(f"{name} ({got})")
        else:
            hosts.append(got)
    if not hosts:
        raise InputError(label, "", "no Windows host found (hosts with ansible_connection winrm or psrp, or unset)")
    auth = _uniform(label, hosts, "auth", "WinRM transports") or "negotiate"
    user = _uniform(label, hosts, "user", "user names")
    ca = _uniform(label, hosts, "ca", "CA paths")
    scheme, port = Counter((h.scheme, h.port) for h in hosts).most_common(1)[0][0]
    groups = sorted({g for h in hosts for g in h.groups})

    out = [f"# ipsec-remote inventory imported from the Ansible inventory {label}.",
           "# group_vars/ and host_vars/ folders were not read: check the connection below.",
           "# Fill in the TODO parts (controller, domain controllers, pairs), then: ipsec-remote plan --offline",
           "", "# TODO: the address of the workstation that runs ipsec-remote (exempted on every host's WinRM "
               "ports).", "# [controller]", '# address = "192.0.2.10"', "",
           "[connection]", f"scheme = {_quote(scheme)}", f"port = {port}", f"auth = {_quote(auth)}"]
    if user:
        out.append(f"username = {_quote(user)}")
    out += ['username_env = "IPSEC_REMOTE_USER"',
            'password_env = "IPSEC_REMOTE_PASSWORD"   # credentials come from the environment, never this file']
    if ca:
        out.append(f"ca_bundle = {_quote(ca)}   # as Ansible had it; relative paths are read beside this file")
    out += ["", "[auth]", 'method = "kerberos"   # IPsec authentication: kerberos | certificate (authority = "CN=…")',
            ""]
    for h in hosts:
        out += ["[[hosts]]", f"name = {_quote(h.name)}", f"address = {_quote(h.address)}"]
        if h.groups:
            out.append(f"groups = [{', '.join(_quote(g) for g in h.groups)}]")
        if (h.scheme, h.port) != (scheme, port) or h.connect_to != h.name:
            host = f"[{h.connect_to}]" if ":" in h.connect_to else h.connect_to
            out.append(f"endpoint = {_quote(f'{h.scheme}://{host}:{h.port}/wsman')}")
        out.append("")
    if any(h.scheme == "https" and _ip(h.connect_to) for h in hosts):
        out.append("# Endpoints connect to ansible_host, as Ansible does: over https the WinRM certificate must name "
                   "that address (or connect by DNS name).")
        out.append("")
    if skipped:
        out.append("# Not imported (not reached over WinRM): " + ", ".join(skipped))
        out.append("")
    out += ["# TODO: domain controllers (and DNS/DHCP servers) that must stay reachable in clear text;",
            "# Kerberos IPsec authentication needs the domain controllers listed.",
            "# [[exemptions]]", '# name = "dc01"', '# address = "192.0.2.5"', '# role = "domain_controller"', "",
            "# TODO: the pairs that must talk IPsec, by host or group"
            + (f" (groups: {', '.join(groups)})" if groups else "") + ".",
            "# [[pairs]]", f'# a = "{"group:" + groups[0] if groups else hosts[0].name}"',
            f'# b = "{"group:" + groups[-1] if len(groups) > 1 else hosts[-1].name}"',
            '# protocol = "TCP"', "# ports = [1433]", "# probe_port = 1433", ""]
    text = "\n".join(out)
    _self_check(text, label, hosts)
    return text


def _self_check(text: str, label: str, hosts: list[ImportedHost]) -> None:
    """What was imported is a valid inventory once the TODO parts exist (placeholders stand in for them)."""
    used = {h.address for h in hosts}
    spare = (f"192.0.2.{i}" for i in range(1, 255) if f"192.0.2.{i}" not in used)
    data = tomllib.loads(text)
    data["controller"] = {"address": next(spare)}
    data["exemptions"] = [{"name": "todo-dc", "address": next(spare), "role": "domain_controller"}]
    parse_inventory(data, f"{label} (imported)")
