"""The orchestration in-process: the lab's hosts and the product's .ps1 scripts, without HTTP or WinRM.

``InProcessSession`` is a ``HostSession`` (transport.py) that hands a pipeline straight to a lab host's
PowerShell engine, the way the lab's PSRP shell does (lab/winrm/psrp.py), instead of through pypsrp and the
lab's WinRM server. What crosses the gap is kept as honest as the wire:

- parameters are serialised to CLIXML by pypsrp's serializer (what ``add_parameters`` sends) and read back by
  psrpcore's deserializer and the lab's ``from_ps`` (what the lab's shell receives);
- output objects go through the lab's ``to_ps``, psrpcore's serializer, then pypsrp's deserializer and the
  product's own ``transport.plain`` — the same CLIXML both ends use over PSRP, so an int stays Int32, a
  CIM uint16 stays UInt16 and a pscustomobject's properties stay extended ones;
- error records take the same path (psrpcore ErrorRecord → pypsrp ErrorRecord → ``_error_text``), and a
  failed pipeline raises ``RemoteScriptError`` exactly as ``HostSession.run`` does.

The fleet is a real ``lab.fleet.Fleet`` (its network, IKE, scheduled tasks and timer thread) that is never
started as a server. What the wire alone decides stays in the end-to-end tests: HTTP 500s, dropped
connections (``winrm_errors``, ``drop_after_calls``), latency, TLS and authentication. A host that is
``down`` or whose policy locks the controller out refuses a new session and drops an open one, as the lab's
endpoint hooks do (lab/fleet/hooks.py), with the errors transport.py would raise for them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psrpcore.types import deserialize as core_deserialize
from psrpcore.types import serialize as core_serialize
from pypsrp.serializer import Serializer

from ipsec_remote.journal.store import Journal
from ipsec_remote.lab.fleet.faults import load_faults
from ipsec_remote.lab.fleet.fleet import Fleet, FleetOptions
from ipsec_remote.lab.fleet.spec import load_fleet_spec
from ipsec_remote.lab.runtime import PipelineCommand, PipelineResult
from ipsec_remote.lab.winrm.convert import error_record, from_ps, to_ps
from ipsec_remote.model.inventory import Inventory, load_inventory
from ipsec_remote.model.playbook import Playbook, load_playbook
from ipsec_remote.remote import transport
from ipsec_remote.remote.transport import (
    HostSession,
    HostTarget,
    RemoteScriptError,
    RetryPolicy,
    ScriptOutput,
    TransportError,
    script_text,
    sessions_from,
)

ROOT = Path(__file__).resolve().parents[2]

# Three hosts, three pairs: enough for a canary wave and a later one.
TRIO = """
[controller]
address = "10.10.1.100"

[connection]
scheme = "https"
auth = "negotiate"
username_env = "IPSEC_REMOTE_USER"
password_env = "IPSEC_REMOTE_PASSWORD"

[policy]
group = "ipsec-remote"
key_module = "IKEv1"

[crypto.main_mode]
proposals = [{ encryption = "AES256", hash = "SHA256", key_exchange = "DH19" }]

[crypto.quick_mode]
proposals = [{ encapsulation = "ESP", encryption = "AES256", esp_hash = "SHA256" }]

[auth]
method = "kerberos"

[[hosts]]
name = "sql01"
address = "10.10.1.20"

[[hosts]]
name = "app01"
address = "10.10.1.30"

[[hosts]]
name = "web01"
address = "10.10.1.40"

[[exemptions]]
name = "dc01"
address = "10.10.1.5"
role = "domain_controller"

[[pairs]]
a = "app01"
b = "sql01"
probe_port = 1433

[[pairs]]
a = "web01"
b = "app01"
probe_port = 443

[[pairs]]
a = "web01"
b = "sql01"
probe_port = 1433
"""


def _to_client(value: Any) -> Any:
    """A lab value as the controller's pypsrp would receive it: CLIXML out of psrpcore, into pypsrp."""
    element = core_serialize(to_ps(value), None)  # type: ignore[arg-type]  # no SecureStrings in our output
    return Serializer().deserialize(ET.tostring(element, encoding="unicode"))


def _to_lab(value: Any) -> Any:
    """A parameter value as the lab's shell would receive it: CLIXML out of pypsrp, into psrpcore."""
    element = Serializer().serialize(value)
    return from_ps(core_deserialize(ET.fromstring(ET.tostring(element, encoding="unicode")), None))  # type: ignore[arg-type]


def _error_to_client(record: Any) -> Any:
    element = core_serialize(error_record(record), None)  # type: ignore[arg-type]
    return Serializer().deserialize(ET.tostring(element, encoding="unicode"))


class InProcessSession(HostSession):
    """One host's "RunspacePool": the lab host itself, run under the fleet lock as the lab's endpoint does."""

    fleet: Fleet  # set on the subclass made per fleet (see ``InProcessLab.session_factory``)
    opened: list[str]  # every open, in order (one per pool, like the WSMan Create counter)

    def open(self) -> HostSession:
        self.opened.append(self.target.name)
        if self._refused():
            raise TransportError(f"{self.target.name}: cannot connect to {self.target.endpoint}")
        self._pool = True  # type: ignore[assignment]  # "open": HostSession only checks it is not None
        return self

    def close(self) -> None:
        self._pool = None

    def _refused(self) -> bool:
        host = self.fleet.hosts.get(self.target.name)
        if host is None:
            return True
        return self.fleet.faults.for_host(self.target.name).down or self.fleet._locked_out(host)

    def run(self, script: str, parameters: dict[str, Any] | None = None, *, retry: bool = True) -> ScriptOutput:
        return self.run_statements([(script, parameters or {})])

    def run_statements(self, steps: list[tuple[str, dict[str, Any]]], *, retry: bool = False) -> ScriptOutput:
        name = self.target.name
        if self._pool is None:
            raise TransportError(f"{name}: session is not open")
        if self._refused():  # the lab drops an open connection's requests once the policy blocks it
            self._pool = None
            raise TransportError(f"{name}: connection to {self.target.endpoint} dropped before the answer")
        output: list[Any] = []
        errors: list[str] = []
        host = self.fleet.hosts[name]
        for script, parameters in steps:
            command = PipelineCommand(text=script_text(script), is_script=True,
                                      parameters=[(k, _to_lab(v)) for k, v in parameters.items()])
            with self.fleet.lock:
                result: PipelineResult = host.run_pipeline([command], [])
            self.fleet._pipeline_ran(host)  # as the WinRM path does: a host with tasks joins the timer's visits
            output += [transport.plain(_to_client(v)) for v in result.output]
            errors += [transport._error_text(_error_to_client(e)) for e in result.errors]
            if result.failure is not None:
                errors.append(transport._error_text(_error_to_client(result.failure)))
                names = "+".join(s for s, _ in steps)
                raise RemoteScriptError(f"{name}: {names} failed: {errors[-1]}", errors)
        return ScriptOutput(output, errors)


@dataclass
class InProcessLab:
    """A lab fleet from an inventory (and faults), the controller's view of it, and a journal."""

    dir: Path
    fleet: Fleet
    inv: Inventory
    targets: dict[str, HostTarget]
    opened: list[str]
    journals: list[Journal]

    def journal(self) -> Journal:
        """The journal, opened afresh as each CLI command opens it (``created`` is per opening)."""
        journal = Journal(self.dir / "state.db")
        self.journals.append(journal)
        return journal

    def session_factory(self) -> Any:
        attrs = {"fleet": self.fleet, "opened": self.opened}
        return type("FleetSession", (InProcessSession,), attrs)

    def playbook(self, text: str | None = None) -> Playbook:
        path = self.dir / "playbooks" / "server-to-server.toml"
        if text is not None:
            path.write_text(text)
        return load_playbook(None, self.dir / "inventory.toml")

    def apply(self, playbook: Playbook | None = None, checks: bool = False) -> Any:
        """apply as the CLI runs it; without the doctor's preflight by default (``--skip-preflight``): these
        tests drive faulty hosts into the rollout's own branches (preflight has tests of its own)."""
        from ipsec_remote.ops.apply import apply

        return apply(self.inv, self.dir / "inventory.toml", playbook or self.playbook(), self.targets,
                     self.journal(), 4, checks=checks)

    def stop_ikeext(self, name: str) -> None:
        """What a host admin (or a bad GPO) might do mid-rollout: IKEEXT disabled and stopped."""
        with self.fleet.lock:
            service = self.fleet.hosts[name].services["ikeext"]
            service.start_type, service.status = "Disabled", "Stopped"

    def drop_sas(self, name: str) -> None:
        """Drop every SA ``name`` holds with the other hosts (the product's own reset_sas.ps1, run locally)."""
        peers = [h.address for h in self.fleet.hosts.values() if h.name != name]
        with self.fleet.lock:
            result = self.fleet.hosts[name].run_script(script_text("reset_sas"), {"Peers": peers})
        assert not getattr(result, "failure", None), result

    def fire_revert_now(self, name: str) -> None:
        """The host's dead-man's switch runs now, as if its deadline had come (the on-host task's own code)."""
        with self.fleet.lock:
            host = self.fleet.hosts[name]
            tasks = [t for t in host.tasks.values() if "revert" in t.name.lower()]
            assert tasks, f"{name}: no revert task armed: {list(host.tasks)}"
            for task in tasks:
                host.run_task(task)

    def rule(self, host: str, name_part: str) -> dict[str, Any]:
        rules = [r for r in self.inspect()[host]["stores"]["PersistentStore"]["rules"]
                 if name_part in str(r.get("Name", ""))]
        assert len(rules) == 1, rules
        return rules[0]  # type: ignore[no-any-return]

    def inspect(self) -> dict[str, Any]:
        return self.fleet.inspect()["hosts"]  # type: ignore[no-any-return]

    def host(self, name: str) -> Any:
        return self.fleet.hosts[name]


FAST_PLAYBOOK = """
[verify]
timeout_s = 4
poll_interval_s = 0.2

[promote]
confirm_timeout_s = 20
revert_wait_s = 20
waves = [{ name = "canary", pairs = 1 }, { name = "rest", percent = 100 }]
"""


@contextmanager
def inprocess_lab(tmp_path: Path, inventory_text: str | None = None, faults: str | None = None,
                  playbook: str | None = None, tick_s: float = 0.1) -> Iterator[InProcessLab]:
    """The fleet of ``inventory_text`` (default: the project's inventory.toml) in this process; every
    session the product opens inside the block reaches it in-process."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(inventory_text or (ROOT / "inventory.toml").read_text())
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks" / "server-to-server.toml").write_text(playbook or FAST_PLAYBOOK)
    spec = load_fleet_spec(inventory)
    faults_path = None
    if faults is not None:
        faults_path = tmp_path / "faults.toml"
        faults_path.write_text(faults)
    fleet = Fleet(spec, load_faults(faults_path, spec), FleetOptions(tick_s=tick_s))
    inv = load_inventory(inventory)
    targets = {h.name: HostTarget(h.name, f"inprocess://{h.name}/wsman", "LAB\\admin", None, "basic")
               for h in inv.hosts}
    lab = InProcessLab(tmp_path, fleet, inv, targets, [], [])
    fleet.ticker.start()  # scheduled tasks (the dead-man's switch) fire on wall-clock time, as in `lab up`
    try:
        with sessions_from(lab.session_factory()):
            yield lab
    finally:
        fleet.ticker.stop()
        for journal in lab.journals:
            journal.close()


__all__ = ["FAST_PLAYBOOK", "InProcessLab", "InProcessSession", "RetryPolicy", "inprocess_lab"]
