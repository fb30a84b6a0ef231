"""``LabHost``: the state of one simulated Windows Server host and the commands that act on it."""

from __future__ import annotations

import importlib
import shlex
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ..commands import CommandTable, InvocationContext
from ..runtime import PipelineCommand, PipelineResult
from ..values import CaseInsensitiveDict, ErrorRecord, PSObject
from . import files, netsec_firewall, netsec_rules, netsec_sets, sockets, system, tasks
from .cim import proposal_values, render_proposal
from .config import HostConfig
from .files import LabFileSystem
from .model import Proposal
from .network import Network, NoNetwork
from .policy import HostPolicyView, build_policy
from .snapshot import build_snapshot
from .stores import PROFILES, PolicyStores
from .system import HostEvent
from .tasks import ScheduledTask

SaListener = Callable[[str, dict[str, Any]], None]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _DirectContext:
    """The InvocationContext used when the host applies calls itself (pre-existing objects): errors raise."""

    def write_error(self, record: ErrorRecord) -> None:
        raise ValueError(record.message)

    def get_variable(self, name: str) -> Any:
        return None

    def set_variable(self, name: str, value: Any) -> None:
        return None

    def invoke_scriptblock(self, block: Any, dollar_under: Any = None, args: list[Any] | None = None) -> list[Any]:
        raise ValueError("script blocks need the engine")


class LabHost:
    """One lab host; implements ``runtime.ScriptHost``.

    Public state the fleet and the network model use: ``stores`` (policy stores), ``services``,
    ``files``, ``tasks``, ``events``, ``calls`` (ordered NetSecurity call log), ``main_mode_sas`` /
    ``quick_mode_sas`` (dicts with MSFT_Net*ModeSA property names, filled by the network model),
    ``network`` (Test-NetConnection's seam) and ``sa_listener`` (told about Remove-NetIPsec*SA).
    """

    def __init__(self, config: HostConfig, network: Network | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.name = config.name
        self.address = config.address
        self.network: Network = network or NoNetwork()
        self.clock = clock
        self.stores = PolicyStores(config.gpo_stores, config.current_profile,
                                   config.assumptions.builtin_exemptions, config.assumptions.gpo_default_set_wins)
        if not config.local_ipsec_merge:
            gpo = self.stores.add_gpo(config.default_gpo())
            for profile in PROFILES:
                gpo.profiles[profile]["AllowLocalIPsecRules"] = "False"
        self.services = system.default_services(config)
        self.files = LabFileSystem()
        self.tasks: dict[str, ScheduledTask] = {}
        self.events: list[HostEvent] = []
        self.calls: list[dict[str, Any]] = []
        self.main_mode_sas: list[dict[str, Any]] = []
        self.quick_mode_sas: list[dict[str, Any]] = []
        # Every TCP connect a script attempted: via, target, port, outcome, waited_s (modelled seconds).
        self.probes: list[dict[str, Any]] = []
        self.sa_listener: SaListener | None = None
        self._proposals: dict[int, tuple[weakref.ref[PSObject], Proposal]] = {}
        self._engine: Any = None
        self.commands = CommandTable()
        for module in (netsec_rules, netsec_sets, netsec_firewall, system, files, tasks, sockets):
            module.register(self, self.commands)
        for call in config.preexisting:
            self.apply_call(call, log=False)

    # --- ScriptHost ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        if self._engine is None:
            # Imported on first use so the host model works (and type-checks) without the engine package.
            engine_module = importlib.import_module("ipsec_remote.lab.engine")
            self._engine = engine_module.Engine(self.commands)
        return self._engine

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        result: PipelineResult = self.engine.run_pipeline(commands, pipeline_input)
        return result

    def run_script(self, text: str, parameters: Mapping[str, Any] | None = None,
                   variables: Mapping[str, Any] | None = None) -> Any:
        """Run script text through the engine (returns the engine's ScriptResult)."""
        return self.engine.run(text, dict(parameters or {}), variables=dict(variables or {}))

    # --- clock, events, SAs ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """The host clock: true UTC time plus the configured skew."""
        return self.clock() + timedelta(seconds=self.config.clock_skew_s)

    def add_event(self, event_id: int, message: str, data: Mapping[str, Any] | None = None,
                  time: datetime | None = None) -> HostEvent:
        event = HostEvent(event_id, time or self.now(), message, dict(data or {}), record_id=len(self.events) + 1)
        self.events.append(event)
        return event

    def remove_sa(self, which: str, sa: dict[str, Any]) -> None:
        table = self.main_mode_sas if which == "main_mode" else self.quick_mode_sas
        if sa in table:
            table.remove(sa)
            if self.sa_listener is not None:
                self.sa_listener(which, sa)

    # --- proposals ------------------------------------------------------------------------------------

    def new_proposal(self, cmdlet: str, values: dict[str, Any], given: dict[str, Any]) -> PSObject:
        """A proposal object; the host remembers (weakly) how it was built, for the call log."""
        return self.proposal_instance(Proposal(cmdlet, values, given))

    def proposal_instance(self, proposal: Proposal) -> PSObject:
        """The CIM instance of a proposal (MSFT_NetIKE…Proposal), remembered weakly so the object can be
        passed back to -Proposal (and logged as the call that built it)."""
        obj = render_proposal(self.config.assumptions, proposal)
        if len(self._proposals) > 1024:
            self._proposals = {k: v for k, v in self._proposals.items() if v[0]() is not None}
        self._proposals[id(obj)] = (weakref.ref(obj), proposal)
        return obj

    def proposal_of(self, obj: PSObject) -> Proposal | None:
        """The proposal behind a proposal object (one New-NetIPsec…Proposal returned, or a set's)."""
        hit = self._proposals.get(id(obj))
        if hit is not None and hit[0]() is obj:
            return hit[1]
        cls = obj.type_names[0].rsplit("/", 1)[-1] if obj.type_names else ""
        props = {k: obj.cim_value(k, v) for k, v in obj.properties.items()}
        found = proposal_values(cls, props)
        if found is None:
            return None
        cmdlet, values = found
        given = {k: v for k, v in values.items() if v not in (None, False)}
        return Proposal(cmdlet, {**values}, given)

    # --- direct calls ---------------------------------------------------------------------------------

    def apply_call(self, call: Mapping[str, Any], log: bool = True, ctx: InvocationContext | None = None) -> list[Any]:
        """Run one ``{"cmdlet", "params"}`` call without the engine (nested proposal calls resolved first).

        Parameter names must be canonical; this is how pre-existing objects are created, so a bad call in
        a fault file fails loudly (ValueError) instead of being half-applied.
        """
        command = self.commands.get(str(call["cmdlet"]))
        if command is None:
            raise ValueError(f"unknown cmdlet {call['cmdlet']!r}")
        args = CaseInsensitiveDict()
        for key, value in dict(call.get("params") or {}).items():
            args[key] = self._resolve_nested(value, log, ctx)
        before = len(self.calls)
        try:
            return list(command.invoke(ctx or _DirectContext(), args, []))
        except Exception as exc:
            if not log:
                raise ValueError(f"{call['cmdlet']}: {exc}") from exc
            raise
        finally:
            if not log:
                del self.calls[before:]

    def _resolve_nested(self, value: Any, log: bool, ctx: InvocationContext | None) -> Any:
        if isinstance(value, Mapping) and "cmdlet" in value:
            out = self.apply_call(value, log, ctx)
            return out[0] if len(out) == 1 else out
        if isinstance(value, list):
            resolved = [self._resolve_nested(v, log, ctx) for v in value]
            return [x for v in resolved for x in (v if isinstance(v, list) else [v])]
        return value

    # --- scheduled tasks ----------------------------------------------------------------------------

    def due_tasks(self, now: datetime | None = None) -> list[ScheduledTask]:
        """Ready one-shot tasks whose trigger time has come on the host clock (``now`` = true UTC time)."""
        host_now = (now or self.clock()) + timedelta(seconds=self.config.clock_skew_s)
        return [t for t in self.tasks.values()
                if t.state == "Ready" and t.last_run is None and t.at is not None and t.at <= host_now]

    def run_task(self, task: ScheduledTask) -> Any:
        """Run the task's ``-File`` script (the lab has one security context, so "as SYSTEM" changes nothing);
        records LastRunTime and LastTaskResult (0 = success, 1 = the script failed) on the task."""
        task.last_run = self.now()
        script, params = parse_powershell_arguments(task.argument)
        text = self.files.read(script) if script else None
        if text is None:
            task.last_result = 0x80070002  # ERROR_FILE_NOT_FOUND as Task Scheduler records it
            return None
        task.state = "Running"
        try:
            result = self.run_script(text, params)
        finally:
            task.state = "Ready"
        task.last_result = 1 if getattr(result, "failure", None) is not None else 0
        return result

    # --- views ----------------------------------------------------------------------------------------

    def active_policy(self) -> HostPolicyView:
        return build_policy(self)

    def snapshot(self) -> dict[str, Any]:
        return build_snapshot(self)


def parse_powershell_arguments(argument: str) -> tuple[str | None, dict[str, Any]]:
    """``-NoProfile -ExecutionPolicy Bypass -File "C:\\x.ps1" -Name v -Switch`` -> (path, {Name: v, Switch: True})."""
    tokens = [t[1:-1] if len(t) > 1 and t[0] == t[-1] and t[0] in "'\"" else t
              for t in shlex.split(argument, posix=False)]
    for i, token in enumerate(tokens):
        if token.lower() in ("-file", "-f") and i + 1 < len(tokens):
            params: dict[str, Any] = {}
            rest = tokens[i + 2:]
            j = 0
            while j < len(rest):
                if rest[j].startswith("-") and j + 1 < len(rest) and not rest[j + 1].startswith("-"):
                    params[rest[j][1:]] = rest[j + 1]
                    j += 2
                else:
                    params[rest[j].lstrip("-")] = True
                    j += 1
            return tokens[i + 1], params
    return None, {}
