"""Faults from a TOML file (DESIGN §5): what makes a lab host differ from a healthy Server 2022 box.
Every key is documented with an example in docs/lab.md (a test holds the page to the tables below).

```toml
rtt_ms = 5                                    # every endpoint (the CLI's --rtt-ms overrides it)
sa_idle_s = 2                                 # lab knob: SAs idle this long expire (default: each host's
                                              # MaxSAIdleTimeSeconds, 300 s)
winrm_idle_timeout_s = 1                      # every WinRM listener closes a keep-alive connection idle
                                              # this long (HTTP.sys IdleConnectionTimeout; default 120)
[hosts.sql01]
down = true                                   # the endpoint refuses every connection
ikeext = "disabled"                           # IKEEXT start type Disabled: no IKE at all (event 5453)
local_ipsec_merge = false                     # a GPO sets AllowLocalIPsecRules = False (merge off)
clock_skew_s = 600                            # the host's clock runs this far ahead (negative: behind)
domain_joined = false                         # no Kerberos for this host
machine_cert = false                          # no machine certificate from the pinned CA
winrm_errors = 3                              # the first 3 WSMan requests get HTTP 500
drop_after_calls = 20                         # after 20 requests every request is dropped mid-way
rtt_ms = 50                                   # this endpoint's round trip
execution_policy_gpo = "AllSigned"            # Group Policy sets the MachinePolicy execution policy: script
                                              # files (-File) are blocked unless signed; commands still run
tamper_revert_files = true                    # before the first arm a local non-administrator creates
                                              # C:\\ProgramData\\ipsec-remote, plants a script (writes
                                              # C:\\ProgramData\\ipsec-remote-pwned.txt if run as SYSTEM) and
                                              # fake "revert ran" markers, and keeps at it while the ACL lets it
utc_offset_min = -480                         # the host's time zone (UTC-8): Get-Date and task triggers are
                                              # host-local time
task_start_s = 4                              # a started task runs this long (powershell.exe start-up) before
                                              # its command takes effect; Get-ScheduledTaskInfo says Running
clock_step_after_task_s = 900                 # once, when the next pipeline starts after a task is registered,
                                              # the clock steps forward this far (a time-sync correction)
on_battery = true                             # the host runs on batteries (tasks that disallow it do not start)
listening_ports = [135, 445, 5985, 5986, 1433]  # TCP ports a service answers on (default: 135, 445, 5985, 5986;
                                              # a domain controller also 88, 389 and 3268)
firewall_allows = [135, 445, 5985, 5986]      # inbound ports the firewall lets in (default: listening_ports);
                                              # a SYN to an allowed closed port is refused at once, to any
                                              # other port it is dropped (the sender waits out its timeout)
spn_registered = false                        # kerberos lab: HTTP/ and WSMAN/sql01.lab.local are not in the KDC
winrm_idle_timeout_s = 30                     # this host's HTTP.sys IdleConnectionTimeout
[hosts.sql01.audit]                           # advanced audit policy (default: none, as on a stock server)
ipsec_main_mode = "success_and_failure"       # none | success | failure | success_and_failure
[[hosts.sql01.preexisting.rules]]             # objects present before we arrive
name = "legacy-require"
inbound_security = "Require"
outbound_security = "Request"
remote_address = ["10.10.1.100"]
[[hosts.sql01.preexisting.quick_mode_crypto_sets]]
name = "legacy-qm"
proposal = [{ encryption = "DES3", esp_hash = "SHA1" }]

[latency]                                     # how long a Windows host takes (lab/fleet/latency.py): off
enabled = true                                # unless enabled; each figure can be set (pool_open_s,
cim_call_s = 0.05                             # cim_call_s, blocked_connect = "wait"|"record", task_start_s)

[kerberos]                                    # the KDC of `lab up --auth kerberos`
kdc_down = true                               # krb5kdc is not started: no client can reach a KDC
kdc_clock_skew_s = 600                        # the KDC's clock runs this far ahead (libfaketime)

[audit]                                       # the same, for every host (a host's own table wins)
ipsec_driver = "failure"

[domain]                                      # the lab's AD domain (lab/fleet/domain.py)
deny_gpo_edit = ['lab.local\\IPsec Isolation']  # the admin may not edit these GPOs

[[clients]]                                   # machines outside the inventory that talk to lab hosts
name = "reporting"                            # (every key: lab/fleet/traffic_spec.py, docs/traffic.md)
address = "10.10.1.50"
ipsec = false                                 # a non-member: no IPsec policy at all
talks_to = ["sql01:1433/TCP"]
interval_ms = 500

[traffic]
between_members_interval_ms = 100             # continuous traffic along every inventory pair

[assumptions]                                 # behaviours Windows does not document, for every host
trigger_utc_datetime = "wall_clock"           # see HostAssumptions (lab/host/config.py): each key is a field
unregister_running_task = "stops"             # there, each value one of its documented choices
auditpol_text = "localized"                   # auditpol /r prints its setting words in the host's language
own_address_traffic = "policy"                # the controller runs on a managed host: IPsec rules apply to
                                              # that host's traffic to its own address (default "loopback")
winrm_idle_close = "reset"                    # an idle WinRM connection is closed with a TCP RST (default
                                              # "orderly": FIN)
```

Audit keys are the subcategories of ``lab/host/audit.py``: ``ipsec_main_mode``, ``ipsec_quick_mode``,
``ipsec_extended_mode``, ``ipsec_driver``, ``filtering_platform_packet_drop``, ``filtering_platform_connection``.

Preexisting objects are the New-* cmdlet's parameters in snake_case (``remote_address`` is
``-RemoteAddress``, ``name`` the ``-Name`` alias), checked against the cmdlet reference; a ``proposal``
array holds the New-NetIPsec…Proposal parameters. ``policy_store = 'lab.local\\Legacy GPO'`` puts an
object in a GPO store applied to the host instead of PersistentStore. Any unknown key is an error:
``faults.toml: hosts.sql01.ikext: unknown fault key``.

Windows behaviours Microsoft does not document are switches of ``[assumptions]`` (fleet-wide), one per
field of ``lab.host.config.HostAssumptions`` — its docstrings say what each switch means and why its
default was picked; a new field there is a new key here, checked against the field's type:

```toml
[assumptions]
type_layer = true                 # output objects also carry cmdlet-style names/display strings (default false)
mm_sa_delete_cascades = true      # Remove-NetIPsecMainModeSA also deletes its quick-mode SAs (default false)
cdxml_sees_script_preference = true   # a script's $ErrorActionPreference reaches NetSecurity cmdlets
key_module_default_code = 3       # MSFT_NetConSecRule.KeyModule of "Default" (default 0)
mm_rule_any_profiles_code = 7     # MSFT_NetMainModeRule.Profiles of "Any" (default 0)
machine_cert_auth_code = 65005    # AuthenticationMethod of a machine certificate (default 65006)
qm_sha384 = "never_negotiated"    # an AH/ESP SHA384 proposal: "refused" by the provider (default) or stored
```
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..host import HostAssumptions, HostConfig, LabHost
from ..host.audit import BY_KEY, SETTINGS, Setting
from ..host.reference import param_specs
from .domain import DomainFaults, parse_domain
from .latency import LatencyModel, parse_latency
from .spec import FleetSpec, LabConfigError, read_toml
from .traffic_spec import TrafficConfig, parse_traffic

# Object kinds a host can hold before we arrive: the New-* cmdlet whose parameters their keys name, and
# the proposal cmdlet a nested ``proposal`` table stands for.
PREEXISTING_KINDS: dict[str, tuple[str, str | None]] = {
    "rules": ("New-NetIPsecRule", None),
    "main_mode_rules": ("New-NetIPsecMainModeRule", None),
    "main_mode_crypto_sets": ("New-NetIPsecMainModeCryptoSet", "New-NetIPsecMainModeCryptoProposal"),
    "quick_mode_crypto_sets": ("New-NetIPsecQuickModeCryptoSet", "New-NetIPsecQuickModeCryptoProposal"),
    "phase1_auth_sets": ("New-NetIPsecPhase1AuthSet", "New-NetIPsecAuthProposal"),
    "phase2_auth_sets": ("New-NetIPsecPhase2AuthSet", "New-NetIPsecAuthProposal"),
}
PERSISTENT = "PersistentStore"


@dataclass
class HostFaults:
    down: bool = False
    ikeext: str | None = None  # None: as on a stock host (Manual, trigger-started)
    local_ipsec_merge: bool = True
    clock_skew_s: float = 0.0
    domain_joined: bool = True
    machine_cert: bool = True
    winrm_errors: int = 0
    drop_after_calls: int | None = None
    rtt_ms: int | None = None
    execution_policy_gpo: str | None = None
    tamper_revert_files: bool = False
    utc_offset_min: int = 0
    task_start_s: float | None = None  # None: the latency model's figure when it is on, else 0
    clock_step_after_task_s: float = 0.0
    on_battery: bool = False
    spn_registered: bool = True  # kerberos lab: the host's HTTP/ and WSMAN/ SPNs exist in the KDC
    winrm_idle_timeout_s: float | None = None  # None: the fleet's (HTTP.sys's default, 120 s)
    # ``{"cmdlet", "params"}`` calls in the plan's shape (HostConfig.preexisting), canonical names.
    preexisting: list[dict[str, Any]] = field(default_factory=list)
    gpo_stores: list[str] = field(default_factory=list)  # GPO stores the preexisting objects live in
    audit: dict[str, Setting] = field(default_factory=dict)  # subcategory key -> setting (lab/host/audit.py)
    listening_ports: tuple[int, ...] | None = None  # None: HostConfig's default
    firewall_allows: tuple[int, ...] | None = None  # None: the listening ports


@dataclass
class KerberosFaults:
    kdc_down: bool = False
    kdc_clock_skew_s: float = 0.0


# Kerberos' default "Maximum tolerance for computer clock synchronization" (5 minutes), which MIT's
# libdefaults clockskew (300 s) matches.
KERBEROS_MAX_SKEW_S = 300.0


@dataclass
class Faults:
    rtt_ms: int = 0
    sa_idle_s: float | None = None  # a lab knob, not a fault: idle SA lifetime below Windows' 300 s minimum
    # HTTP.sys's IdleConnectionTimeout on every listener (documented default 120 s; the registry sets it).
    winrm_idle_timeout_s: float = 120.0
    hosts: dict[str, HostFaults] = field(default_factory=dict)
    audit: dict[str, Setting] = field(default_factory=dict)  # every host's audit policy, before its own
    # ``[assumptions]``: the file's choices; the fields it does not set keep their documented defaults.
    assumptions: HostAssumptions = field(default_factory=HostAssumptions)
    kerberos: KerberosFaults = field(default_factory=KerberosFaults)
    latency: LatencyModel = field(default_factory=LatencyModel)
    domain: DomainFaults = field(default_factory=DomainFaults)
    # ``[[clients]]`` and ``[traffic]``: flows through the network model (lab/fleet/traffic_spec.py).
    traffic: TrafficConfig = field(default_factory=TrafficConfig)

    def for_host(self, name: str) -> HostFaults:
        return self.hosts.get(name) or HostFaults()

    def winrm_idle_timeout_of(self, name: str) -> float:
        own = self.for_host(name).winrm_idle_timeout_s
        return own if own is not None else self.winrm_idle_timeout_s

    def audit_of(self, name: str) -> dict[str, Setting]:
        return {**self.audit, **self.for_host(name).audit}


def _canonical(cmdlet: str) -> dict[str, str]:
    """snake_case key -> parameter name: ``remote_address`` -> RemoteAddress, ``name`` -> IPsecRuleName
    (its alias), ``esp_hash`` -> ESPHash — the reference's names and aliases, underscores dropped."""
    out: dict[str, str] = {}
    for spec in param_specs(cmdlet).values():
        for alias in (spec.name, *spec.aliases):
            out.setdefault(alias.lower(), spec.name)
    return out


def _call(cmdlet: str, table: dict[str, Any], label: str, where: str, nested: str | None = None) -> dict[str, Any]:
    names = _canonical(cmdlet)
    params: dict[str, Any] = {}
    for key, value in table.items():
        param = names.get(key.replace("_", "").lower())
        if param is None:
            raise LabConfigError(label, f"{where}.{key}", f"unknown parameter of {cmdlet}")
        if param == "Proposal" and nested is not None:
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(i, dict) for i in items):
                raise LabConfigError(label, f"{where}.{key}", "must be an array of tables (proposals)")
            value = [_call(nested, i, label, f"{where}.{key}[{n}]") for n, i in enumerate(items)]
        params[param] = value
    return {"cmdlet": cmdlet, "params": params}


def _bool(value: Any, label: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise LabConfigError(label, where, "must be true or false")
    return value


def _count(value: Any, label: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LabConfigError(label, where, "must be a whole number ≥ 0")
    return value


def _seconds(value: Any, label: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LabConfigError(label, where, "must be a number of seconds")
    return float(value)


def _positive_seconds(value: Any, label: str, where: str) -> float:
    seconds = _seconds(value, label, where)
    if seconds <= 0:
        raise LabConfigError(label, where, "must be a number of seconds > 0")
    return seconds


def _offset(value: Any, label: str, where: str) -> int:
    # Windows time zones run from UTC-12:00 to UTC+14:00.
    if isinstance(value, bool) or not isinstance(value, int) or not -720 <= value <= 840:
        raise LabConfigError(label, where, "must be whole minutes from -720 to 840")
    return value


def _policy(value: Any, label: str, where: str) -> str:
    allowed = ("AllSigned", "RemoteSigned", "Restricted", "Unrestricted", "Bypass")
    found = next((p for p in allowed if isinstance(value, str) and p.lower() == value.lower()), None)
    if found is None:
        raise LabConfigError(label, where, f"{value!r} is not one of {', '.join(allowed)}")
    return found


def _ports(value: Any, label: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535
                                              for p in value):
        raise LabConfigError(label, where, "must be an array of TCP ports (1-65535)")
    return tuple(value)


def _ikeext(value: Any, label: str, where: str) -> str:
    allowed = ("disabled", "stopped", "running")
    if not isinstance(value, str) or value.lower() not in allowed:
        raise LabConfigError(label, where, f"{value!r} is not one of {', '.join(allowed)}")
    return value.lower()


_SCALARS = {
    "down": _bool,
    "ikeext": _ikeext,
    "local_ipsec_merge": _bool,
    "clock_skew_s": _seconds,
    "domain_joined": _bool,
    "machine_cert": _bool,
    "winrm_errors": _count,
    "drop_after_calls": _count,
    "rtt_ms": _count,
    "execution_policy_gpo": _policy,
    "tamper_revert_files": _bool,
    "utc_offset_min": _offset,
    "task_start_s": _seconds,
    "clock_step_after_task_s": _seconds,
    "on_battery": _bool,
    "listening_ports": _ports,
    "firewall_allows": _ports,
    "spn_registered": _bool,
    "winrm_idle_timeout_s": _positive_seconds,
}


def _audit(table: Any, label: str, where: str) -> dict[str, Setting]:
    if not isinstance(table, dict):
        raise LabConfigError(label, where, "must be a table of audit subcategories")
    out: dict[str, Setting] = {}
    for key, value in table.items():
        if key not in BY_KEY:
            raise LabConfigError(label, f"{where}.{key}", f"unknown audit subcategory (one of {', '.join(BY_KEY)})")
        if value not in SETTINGS:
            raise LabConfigError(label, f"{where}.{key}", f"{value!r} is not one of {', '.join(SETTINGS)}")
        out[key] = value
    return out


def parse_assumptions(table: Any, label: str) -> HostAssumptions:
    """``[assumptions]``: each key a field of HostAssumptions, each value one of its choices (Literal values,
    a bool, a whole number, or a list for a tuple field)."""
    if not isinstance(table, dict):
        raise LabConfigError(label, "assumptions", "must be a table")
    hints = typing.get_type_hints(HostAssumptions)
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"assumptions.{key}"
        if key not in hints:
            raise LabConfigError(label, where, f"unknown assumption (one of {', '.join(sorted(hints))})")
        hint = hints[key]
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
        if choices is not None and value not in choices:
            raise LabConfigError(label, where, f"{value!r} is not one of {', '.join(map(str, choices))}")
        if hint is bool and not isinstance(value, bool):
            raise LabConfigError(label, where, "must be true or false")
        if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise LabConfigError(label, where, "must be a whole number")
        if typing.get_origin(hint) is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LabConfigError(label, where, "must be an array of strings")
            value = tuple(value)
        values[key] = value
    return dataclasses.replace(HostAssumptions(), **values)


def _preexisting(table: Any, label: str, where: str, hf: HostFaults) -> None:
    if not isinstance(table, dict):
        raise LabConfigError(label, where, "must be a table")
    for kind, items in table.items():
        here = f"{where}.{kind}"
        if kind not in PREEXISTING_KINDS:
            raise LabConfigError(label, here, f"unknown object kind (one of {', '.join(PREEXISTING_KINDS)})")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise LabConfigError(label, here, "must be an array of tables")
        cmdlet, nested = PREEXISTING_KINDS[kind]
        for n, item in enumerate(items):
            call = _call(cmdlet, item, label, f"{here}[{n}]", nested)
            store = str(call["params"].get("PolicyStore") or PERSISTENT)
            if store != PERSISTENT and store not in hf.gpo_stores:
                hf.gpo_stores.append(store)
            hf.preexisting.append(call)


def _check_preexisting(hf: HostFaults, label: str, where: str, address: str) -> None:
    """Create the objects on a scratch host now, so a bad one (a Require/None pair, a missing set) is a
    one-line error before anything starts rather than a traceback in the lab process."""
    try:
        LabHost(HostConfig("check", address, gpo_stores=tuple(hf.gpo_stores), preexisting=tuple(hf.preexisting)))
    except ValueError as exc:
        raise LabConfigError(label, where, str(exc).splitlines()[0]) from None


# The keys each table accepts (docs/lab.md documents every one: tests/lab/fleet/test_lab_docs.py).
TOP_KEYS = ("rtt_ms", "sa_idle_s", "winrm_idle_timeout_s", "latency", "audit", "assumptions", "kerberos", "domain",
            "clients", "traffic", "hosts")
HOST_TABLES = ("preexisting", "audit")  # besides the scalar keys of _SCALARS
KERBEROS_KEYS = ("kdc_down", "kdc_clock_skew_s")


def parse_faults(data: dict[str, Any], label: str, spec: FleetSpec) -> Faults:
    faults = Faults()
    for key, value in data.items():
        if key not in TOP_KEYS:
            raise LabConfigError(label, key, "unknown fault key")
        if key == "rtt_ms":
            faults.rtt_ms = _count(value, label, key)
        elif key == "sa_idle_s":
            faults.sa_idle_s = _seconds(value, label, key)
        elif key == "winrm_idle_timeout_s":
            faults.winrm_idle_timeout_s = _positive_seconds(value, label, key)
        elif key == "audit":
            faults.audit = _audit(value, label, key)
        elif key == "assumptions":
            faults.assumptions = parse_assumptions(value, label)
        elif key == "kerberos":
            faults.kerberos = _kerberos(value, label)
        elif key == "latency":
            faults.latency = parse_latency(value, label)
        elif key == "domain":
            faults.domain = parse_domain(value, label)
    faults.traffic = parse_traffic(data.get("clients"), data.get("traffic"), label, spec)
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise LabConfigError(label, "hosts", "must be a table of host names")
    known = {h.name for h in spec.hosts}
    for name, table in hosts.items():
        if name not in known:
            raise LabConfigError(label, f"hosts.{name}", "unknown host (not in the inventory)")
        if not isinstance(table, dict):
            raise LabConfigError(label, f"hosts.{name}", "must be a table")
        hf = HostFaults()
        for key, value in table.items():
            where = f"hosts.{name}.{key}"
            if key not in HOST_TABLES and key not in _SCALARS:
                raise LabConfigError(label, where, "unknown fault key")
            if key == "preexisting":
                _preexisting(value, label, where, hf)
            elif key == "audit":
                hf.audit = _audit(value, label, where)
            else:
                setattr(hf, key, _SCALARS[key](value, label, where))
        if hf.preexisting:
            _check_preexisting(hf, label, f"hosts.{name}.preexisting", spec.host(name).address)
        faults.hosts[name] = hf
    return faults


def _kerberos(table: Any, label: str) -> KerberosFaults:
    if not isinstance(table, dict):
        raise LabConfigError(label, "kerberos", "must be a table")
    kf = KerberosFaults()
    for key, value in table.items():
        if key not in KERBEROS_KEYS:
            raise LabConfigError(label, f"kerberos.{key}", "unknown fault key")
        if key == "kdc_down":
            kf.kdc_down = _bool(value, label, f"kerberos.{key}")
        else:
            kf.kdc_clock_skew_s = _seconds(value, label, f"kerberos.{key}")
    return kf


def check_for_auth(faults: Faults, auth: str, label: str) -> None:
    """Refuse what the lab cannot model for the chosen listener authentication.

    A Kerberos acceptor checks the authenticator's time against its own clock, but the lab's acceptors all
    run on this machine's clock: a host whose modelled clock is off by more than Kerberos' tolerance would
    accept tickets a real one refuses. Such a fleet is refused rather than modelled kindly; the KDC's own
    clock (``[kerberos] kdc_clock_skew_s``) is the lab's way to rehearse skew.
    """
    if auth != "kerberos":
        return
    for name, hf in faults.hosts.items():
        if abs(hf.clock_skew_s) > KERBEROS_MAX_SKEW_S:
            raise LabConfigError(label, f"hosts.{name}.clock_skew_s",
                                 "a Kerberos lab cannot model a host clock off by more than 300 s "
                                 "(use [kerberos] kdc_clock_skew_s)")


def load_faults(path: str | Path | None, spec: FleetSpec) -> Faults:
    if path is None:
        return Faults()
    return parse_faults(read_toml(Path(path)), str(path), spec)
