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
spn_registered = false                        # kerberos lab: HTTP/ and WSMAN/sql01.lab.local are not in the KDC
[kerberos]                                    # the KDC of `lab up --auth kerberos`
kdc_down = true                               # krb5kdc is not started: no client can reach a KDC
kdc_clock_skew_s = 600                        # the KDC's clock runs this far ahead (libfaketime)
[controller]                                  # the controller runs on a managed host (same address)
own_address_traffic = "policy"                # ASSUMPTION switch: IPsec rules apply to a host's traffic to
                                              # its own address ("policy") or not ("loopback", default)
[hosts.sql01.preexisting]                     # objects present before we arrive
rules = [{ name = "legacy-require", inbound_security = "Require", outbound_security = "Request",
           remote_address = ["10.10.1.100"] }]
quick_mode_crypto_sets = [{ name = "legacy-qm", proposal = [{ encryption = "DES3", esp_hash = "SHA1" }] }]
```

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

from ..host import HostConfig, LabHost
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
    spn_registered: bool = True  # kerberos lab: the host's HTTP/ and WSMAN/ SPNs exist in the KDC
    # ``{"cmdlet", "params"}`` calls in the plan's shape (HostConfig.preexisting), canonical names.
    preexisting: list[dict[str, Any]] = field(default_factory=list)
    gpo_stores: list[str] = field(default_factory=list)  # GPO stores the preexisting objects live in


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
    hosts: dict[str, HostFaults] = field(default_factory=dict)
    kerberos: KerberosFaults = field(default_factory=KerberosFaults)
    own_address_traffic: str = "loopback"  # NetworkOptions.own_address_traffic

    def for_host(self, name: str) -> HostFaults:
        return self.hosts.get(name) or HostFaults()


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
    "spn_registered": _bool,
}


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
        elif key == "kerberos":
            faults.kerberos = _kerberos(value, label)
        elif key == "controller":
            faults.own_address_traffic = _controller(value, label)
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
            elif key in _SCALARS:
                setattr(hf, key, _SCALARS[key](value, label, where))
            else:
                raise LabConfigError(label, where, "unknown fault key")
        if hf.preexisting:
            _check_preexisting(hf, label, f"hosts.{name}.preexisting", spec.host(name).address)
        faults.hosts[name] = hf
    return faults


def _kerberos(table: Any, label: str) -> KerberosFaults:
    if not isinstance(table, dict):
        raise LabConfigError(label, "kerberos", "must be a table")
    kf = KerberosFaults()
    for key, value in table.items():
        if key == "kdc_down":
            kf.kdc_down = _bool(value, label, f"kerberos.{key}")
        elif key == "kdc_clock_skew_s":
            kf.kdc_clock_skew_s = _seconds(value, label, f"kerberos.{key}")
        else:
            raise LabConfigError(label, f"kerberos.{key}", "unknown fault key")
    return kf


def _controller(table: Any, label: str) -> str:
    if not isinstance(table, dict):
        raise LabConfigError(label, "controller", "must be a table")
    value = "loopback"
    for key, item in table.items():
        if key != "own_address_traffic":
            raise LabConfigError(label, f"controller.{key}", "unknown fault key")
        if item not in ("loopback", "policy"):
            raise LabConfigError(label, f"controller.{key}", f"{item!r} is not one of loopback, policy")
        value = item
    return value


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
