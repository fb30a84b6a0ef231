"""How long a Windows host takes to do what a lab host does at once: the latency model (faults ``[latency]``).

The lab runs a pipeline in microseconds; a Windows host starts a process and goes through CIM and the
firewall service. With the model on, each endpoint owes the controller the time the host would have spent,
and pays it by holding its next WSMan answer (an asyncio sleep: no CPU, other hosts carry on):

* ``pool_open_s`` — a RunspacePool open (WSMan Create): WinRM starts ``wsmprovhost.exe``, which loads
  PowerShell and opens a runspace. ASSUMPTION: Microsoft publishes no figure; 0.75 s is the public figure
  for starting a PowerShell process (below), which is what the provider host does.
* ``cim_call_s`` — each NetSecurity cmdlet a pipeline runs (a CDXML function: a CIM call to the firewall's
  WMI provider, which reads or writes the policy store). ASSUMPTION: no published figure; 0.03 s.
  Proposal cmdlets (``New-NetIPsec…Proposal``) build an object in memory and cost nothing.
* ``blocked_connect`` — a TCP connect toward a port that gets no answer waits out its bound: the product's
  probe (verify.ps1) waits on a ``TcpClient`` connect with a 3 s limit (its own figure), and
  Test-NetConnection waits out the SYN retransmissions, ~21 s (initial RTO 3 s, two retransmissions: the
  Windows defaults, ``TCP_INITIAL_RTO_DEFAULT_*``/``TcpMaxConnectRetransmissions``). The lab always
  records the modelled wait (``lab inspect``: probes[].waited_s); ``"wait"`` (the default when the model is
  on) also makes the controller wait it: a TcpClient ``WaitOne`` really waits (the fleet lock released, as
  Start-Sleep), so what the script polls meanwhile (its SAs) can change; Test-NetConnection's waits (and an
  ``EndConnect`` that blocks on a dropped SYN) are owed and add up. ``"record"`` keeps them instant.
* ``ike_negotiation_s`` — from a flow's first packet to its main-mode + quick-mode SAs: until then
  Get-NetIPsec*SA does not list them and a SYN that needs them is dropped (outbound Require, or a Require
  inbound peer: WFP-regular-transport-mode), getting through at its first retransmission after (3 s, 9 s).
  A quick mode inside a live main mode takes no time of its own. ASSUMPTION: Microsoft publishes no figure
  (MS-IKEE/MS-AIPS give the exchanges, not their time); AuthIP main mode + extended mode + quick mode is a
  few round trips, a Diffie-Hellman and, with Kerberos, a service-ticket request to a KDC; a vendor's
  measurement of a main mode with DH is ~0.5 s (HP-UX IPsec A.02.00 sizing white paper: 0.509 s per MM SA,
  0.004 s per QM SA); 0.5 s. Set it above the probe's 3 s bound to see the proof span rounds.
* ``task_start_s`` — a started scheduled task runs this long before its command takes effect (the task's
  action is ``powershell.exe``). Public figure: PowerShell start-up "typically around .5 to 1 second"
  (J. Borean, pypsrp/Ansible maintainer, github.com/ansible/ansible/pull/55068); 0.75 s. Applies to hosts
  whose own ``task_start_s`` fault is not set.

The WinRM round trip itself is ``rtt_ms`` (lab up --rtt-ms), as before. ``ASSUMED`` names the figures that
are assumptions; ``bench/run.py`` prints them with every run.

```toml
[latency]
enabled = true            # default false: the lab answers as fast as it can (tests)
pool_open_s = 0.75
cim_call_s = 0.03
blocked_connect = "wait"  # or "record"
task_start_s = 0.75
ike_negotiation_s = 0.5
```
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any, Literal

from .spec import LabConfigError

ASSUMED = ("pool_open_s", "cim_call_s", "ike_negotiation_s")  # no public figure: named assumptions
SOURCED = ("blocked_connect", "task_start_s")


@dataclass(frozen=True)
class LatencyModel:
    enabled: bool = False
    pool_open_s: float = 0.75
    cim_call_s: float = 0.03
    blocked_connect: Literal["wait", "record"] = "wait"
    task_start_s: float = 0.75
    ike_negotiation_s: float = 0.5

    def pipeline_s(self, cmdlets: list[str], probes: list[dict[str, Any]]) -> float:
        """What a pipeline that ran these NetSecurity cmdlets and made these connects costs a Windows host."""
        if not self.enabled:
            return 0.0
        cim = sum(1 for c in cmdlets if not c.endswith("Proposal")) * self.cim_call_s
        if self.blocked_connect != "wait":
            return cim
        # What a TcpClient wait did not really pass (``owed_s``; older records: their wait) is owed once: the
        # pipeline's connects share one deadline.
        bounded = max((float(p.get("owed_s", p.get("waited_s")) or 0) for p in probes if p.get("via") == "TcpClient"),
                      default=0.0)
        unbounded = sum(float(p.get("waited_s") or 0) for p in probes if p.get("via") != "TcpClient")
        return cim + bounded + unbounded

    def describe(self) -> dict[str, Any]:
        """The figures, and which are assumptions (bench/run.py prints this)."""
        return {"enabled": self.enabled, **{f.name: getattr(self, f.name) for f in fields(self)
                                            if f.name != "enabled"},
                "assumptions": list(ASSUMED), "sourced": list(SOURCED)}


class Debt:
    """Seconds an endpoint owes its client: added by pipelines (any thread), paid by the next answer."""

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.total = 0.0  # every modelled second so far (lab inspect: modelled_latency_s)
        self._owed = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._owed += seconds
                self.total += seconds

    def take(self, kind: str) -> float:
        """What the answer to this WSMan request (``kind``: Create, Command, Receive…) must wait."""
        if not self.model.enabled:
            return 0.0
        opening = self.model.pool_open_s if kind == "Create" else 0.0
        with self._lock:
            owed, self._owed = self._owed + opening, 0.0
            self.total += opening
        return owed


# docs/lab.md documents each
LATENCY_KEYS = ("enabled", "pool_open_s", "cim_call_s", "blocked_connect", "task_start_s", "ike_negotiation_s")


def parse_latency(table: Any, label: str) -> LatencyModel:
    if not isinstance(table, dict):
        raise LabConfigError(label, "latency", "must be a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"latency.{key}"
        if key == "enabled":
            if not isinstance(value, bool):
                raise LabConfigError(label, where, "must be true or false")
            values[key] = value
        elif key in ("pool_open_s", "cim_call_s", "task_start_s", "ike_negotiation_s"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise LabConfigError(label, where, "must be a number of seconds ≥ 0")
            values[key] = float(value)
        elif key == "blocked_connect":
            if value not in ("wait", "record"):
                raise LabConfigError(label, where, f"{value!r} is not one of wait, record")
            values[key] = value
        else:
            raise LabConfigError(label, where, "unknown latency key")
    return LatencyModel(**values)
