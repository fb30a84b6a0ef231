"""Faults from a TOML file (DESIGN §5): what makes a lab host differ from a healthy Server 2022 box.

```toml
rtt_ms = 5                                    # every endpoint (the CLI's --rtt-ms overrides it)
sa_idle_s = 2                                 # lab knob: SAs idle this long expire (default: each host's
                                              # MaxSAIdleTimeSeconds, 300 s)
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
[hosts.sql01.audit]                           # advanced audit policy (default: none, as on a stock server)
ipsec_main_mode = "success_and_failure"       # none | success | failure | success_and_failure
[hosts.sql01.preexisting]                     # objects present before we arrive
rules = [{ name = "legacy-require", inbound_security = "Require", outbound_security = "Request",
           remote_address = ["10.10.1.100"] }]
quick_mode_crypto_sets = [{ name = "legacy-qm", proposal = [{ encryption = "DES3", esp_hash = "SHA1" }] }]
[audit]                                       # the same, for every host (a host's own table wins)
ipsec_driver = "failure"
[assumptions]                                 # undocumented Windows behaviour, one named choice each
auditpol_text = "localized"                   # auditpol /r prints its setting words in the host's language
qm_failure_audit_type = "success"             # event 4654 is a success audit (no page says which)
```

Audit keys are the subcategories of ``lab/host/audit.py``: ``ipsec_main_mode``, ``ipsec_quick_mode``,
``ipsec_extended_mode``, ``ipsec_driver``, ``filtering_platform_packet_drop``.

Preexisting objects are the New-* cmdlet's parameters in snake_case (``remote_address`` is
``-RemoteAddress``, ``name`` the ``-Name`` alias), checked against the cmdlet reference; a ``proposal``
array holds the New-NetIPsec…Proposal parameters. ``policy_store = 'lab.local\\Legacy GPO'`` puts an
object in a GPO store applied to the host instead of PersistentStore. Any unknown key is an error:
``faults.toml: hosts.sql01.ikext: unknown fault key``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..host import HostAssumptions, HostConfig, LabHost
from ..host.audit import BY_KEY, SETTINGS, Setting
from ..host.reference import param_specs
from .spec import FleetSpec, LabConfigError, read_toml

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
    # ``{"cmdlet", "params"}`` calls in the plan's shape (HostConfig.preexisting), canonical names.
    preexisting: list[dict[str, Any]] = field(default_factory=list)
    gpo_stores: list[str] = field(default_factory=list)  # GPO stores the preexisting objects live in
    audit: dict[str, Setting] = field(default_factory=dict)  # subcategory key -> setting (lab/host/audit.py)


@dataclass
class Faults:
    rtt_ms: int = 0
    sa_idle_s: float | None = None  # a lab knob, not a fault: idle SA lifetime below Windows' 300 s minimum
    hosts: dict[str, HostFaults] = field(default_factory=dict)
    audit: dict[str, Setting] = field(default_factory=dict)  # every host's audit policy, before its own
    # HostAssumptions fields the file sets (``[assumptions]``); the rest keep their documented defaults.
    host_assumptions: dict[str, str] = field(default_factory=dict)

    def for_host(self, name: str) -> HostFaults:
        return self.hosts.get(name) or HostFaults()

    def audit_of(self, name: str) -> dict[str, Setting]:
        return {**self.audit, **self.for_host(name).audit}

    def assumptions(self) -> HostAssumptions:
        return HostAssumptions(**self.host_assumptions)  # type: ignore[arg-type]  # values checked on parse


# [assumptions] keys of HostAssumptions the faults file may set, with their allowed values.
HOST_ASSUMPTIONS: dict[str, tuple[str, ...]] = {
    "auditpol_text": ("english", "localized"),
    "qm_failure_audit_type": ("failure", "success"),
}


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


def _assumptions(table: Any, label: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise LabConfigError(label, "assumptions", "must be a table")
    out: dict[str, str] = {}
    for key, value in table.items():
        allowed = HOST_ASSUMPTIONS.get(key)
        if allowed is None:
            raise LabConfigError(label, f"assumptions.{key}", "unknown assumption")
        if value not in allowed:
            raise LabConfigError(label, f"assumptions.{key}", f"{value!r} is not one of {', '.join(allowed)}")
        out[key] = value
    return out


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


def parse_faults(data: dict[str, Any], label: str, spec: FleetSpec) -> Faults:
    faults = Faults()
    for key, value in data.items():
        if key == "rtt_ms":
            faults.rtt_ms = _count(value, label, key)
        elif key == "sa_idle_s":
            faults.sa_idle_s = _seconds(value, label, key)
        elif key == "audit":
            faults.audit = _audit(value, label, key)
        elif key == "assumptions":
            faults.host_assumptions = _assumptions(value, label)
        elif key != "hosts":
            raise LabConfigError(label, key, "unknown fault key")
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
            if key == "preexisting":
                _preexisting(value, label, where, hf)
            elif key == "audit":
                hf.audit = _audit(value, label, where)
            elif key in _SCALARS:
                setattr(hf, key, _SCALARS[key](value, label, where))
            else:
                raise LabConfigError(label, where, "unknown fault key")
        if hf.preexisting:
            _check_preexisting(hf, label, f"hosts.{name}.preexisting", spec.host(name).address)
        faults.hosts[name] = hf
    return faults


def load_faults(path: str | Path | None, spec: FleetSpec) -> Faults:
    if path is None:
        return Faults()
    return parse_faults(read_toml(Path(path)), str(path), spec)
