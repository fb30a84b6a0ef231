"""``LabHost``: the state of one simulated Windows Server host and the commands that act on it."""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from ..commands import HOST_CLOCK, CommandTable, InvocationContext
from ..runtime import PipelineCommand, PipelineResult
from ..values import CaseInsensitiveDict, ErrorRecord, PSObject
from . import (
    audit,
    files,
    gpupdate,
    native,
    netsec_firewall,
    netsec_rules,
    netsec_sets,
    powershell_exe,
    sockets,
    system,
    tamper,
    tasks,
)
from .audit import AuditPolicy
from .cim import proposal_values, render_proposal
from .config import HostConfig
from .filesystem import LabFileSystem
from .flows import DEFAULT_SLEEP, ConnectionSource, NoConnections, Sleeper
from .flows import register as register_flows
from .model import Proposal
from .network import Network, NoNetwork
from .policy import HostPolicyView, build_policy
from .security import ADMIN, LOCAL_SYSTEM, SYSTEM, Identity, account_sid, local_user
from .snapshot import build_snapshot
from .stores import PROFILES, PolicyStores
from .system import HostEvent
from .tasks import ScheduledTask, TaskInstance

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
        self.zone = timezone(timedelta(minutes=config.utc_offset_min), "Local")  # its time zone (Kind Local)
        self.identity: Identity = ADMIN  # who runs the current pipeline: the WinRM admin unless a task runs
        self.files = LabFileSystem(config.assumptions.programdata_users_can_create)
        self.tasks: dict[str, ScheduledTask] = {}
        self.task_instances: list[TaskInstance] = []
        self._clock_step = 0.0  # a time-sync correction that happened (clock_step_after_task_s)
        self._step_pending = False
        self._stepped = False
        self.events: list[HostEvent] = []
        self.audit = AuditPolicy(config.audit)
        self.calls: list[dict[str, Any]] = []
        self.main_mode_sas: list[dict[str, Any]] = []
        self.quick_mode_sas: list[dict[str, Any]] = []
        # Every TCP connect a script attempted: via, target, port, outcome, waited_s (modelled seconds).
        self.probes: list[dict[str, Any]] = []
        self.sa_listener: SaListener | None = None
        # The traffic seam (lab/host/flows.py): connection tables, Start-Sleep, and who hears policy changes.
        self.connections: ConnectionSource = NoConnections()
        self.sleep: Sleeper = DEFAULT_SLEEP
        self.change_listener: Callable[[], None] | None = None
        self._proposals: dict[int, tuple[weakref.ref[PSObject], Proposal]] = {}
        self._engine: Any = None
        # Views derived from the host's state (its policy as the network model sees it) are cached per
        # ``generation``, which moves on with every command that may change what they read (NetSecurity
        # changes, service control) and after anything that ran on the host (a pipeline, a script, a direct
        # call, a task).
        self.generation = 0
        self._derived: dict[object, tuple[int, Any]] = {}
        self.commands = CommandTable()
        for module in (netsec_rules, netsec_sets, netsec_firewall, system, files, tasks, audit, native,
                       powershell_exe, sockets, gpupdate):
            module.register(self, self.commands)
        register_flows(self, self.commands)
        for call in config.preexisting:
            self.apply_call(call, log=False)
        if config.tamper_revert_files:
            tamper.plant(self)

    # --- ScriptHost ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        if self._engine is None:
            # Imported on first use so the host model works (and type-checks) without the engine package.
            engine_module = importlib.import_module("ipsec_remote.lab.engine")
            self._engine = engine_module.Engine(self.commands, {
                "SystemRoot": "C:\\Windows", "windir": "C:\\Windows", "ProgramData": "C:\\ProgramData",
                "COMPUTERNAME": self.name.upper()})
        return self._engine

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Whatever runs inside may change the host: derived views are recomputed afterwards."""
        try:
            yield
        finally:
            self.generation += 1

    def derived(self, key: object, build: Callable[[], Any]) -> Any:
        """``build()``, cached until the host changes (see ``generation``)."""
        hit = self._derived.get(key)
        if hit is not None and hit[0] == self.generation:
            return hit[1]
        value = build()
        self._derived[key] = (self.generation, value)
        return value

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        with self.changing():
            return self._run_pipeline(commands, pipeline_input)

    def _run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        if self._step_pending:  # the time-sync correction lands as the next pipeline starts
            self._step_pending, self._clock_step = False, self._clock_step + self.config.clock_step_after_task_s
        token = HOST_CLOCK.set(self.now)
        try:
            result: PipelineResult = self.engine.run_pipeline(commands, pipeline_input)
        finally:
            HOST_CLOCK.reset(token)
        return result

    def run_script(self, text: str, parameters: Mapping[str, Any] | None = None,
                   variables: Mapping[str, Any] | None = None) -> Any:
        """Run script text through the engine (returns the engine's ScriptResult)."""
        token = HOST_CLOCK.set(self.now)
        try:
            with self.changing():
                return self.engine.run(text, dict(parameters or {}), variables=dict(variables or {}))
        finally:
            HOST_CLOCK.reset(token)

    # --- identity -------------------------------------------------------------------------------------

    @contextmanager
    def running_as(self, identity: Identity) -> Iterator[None]:
        saved, self.identity = self.identity, identity
        try:
            yield
        finally:
            self.identity = saved

    def identity_for(self, user_id: str) -> Identity:
        """A task principal's token: SYSTEM for S-1-5-18 (any spelling), the admin for its own account, else
        a local non-administrator."""
        if account_sid(user_id) == SYSTEM:
            return LOCAL_SYSTEM
        if user_id.lower() in (ADMIN.name.lower(), "admin"):
            return ADMIN
        return local_user(self.name)

    # --- clock, events, SAs ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """The host clock in its time zone: true time plus the configured skew (and any clock step)."""
        return self._host_time(self.clock())

    def _host_time(self, true_now: datetime) -> datetime:
        return (true_now + timedelta(seconds=self.config.clock_skew_s + self._clock_step)).astimezone(self.zone)

    def add_event(self, event_id: int, message: str, data: Mapping[str, Any] | None = None,
                  time: datetime | None = None) -> HostEvent | None:
        """Write a Security-log event — only if the host's audit policy audits it (None otherwise)."""
        if not self.audit.audits(event_id, self.config.assumptions.qm_failure_audit_type):
            return None
        event = HostEvent(event_id, time or self.now(), message, dict(data or {}), record_id=len(self.events) + 1)
        self.events.append(event)
        return event

    def notify_change(self) -> None:
        """A NetSecurity change (policy or SAs) took effect: whoever follows the host's traffic hears it.
        Views derived from the host's policy are rebuilt first (a Group Policy refresh changes it outside
        any pipeline)."""
        self.generation += 1
        if self.change_listener is not None:
            self.change_listener()

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
            with self.changing():
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

    def on_task_registered(self) -> None:
        if self.config.clock_step_after_task_s and not self._stepped:
            self._step_pending, self._stepped = True, True

    def due_tasks(self, now: datetime | None = None) -> list[ScheduledTask]:
        """Ready one-shot tasks whose trigger time has come on the host clock (``now`` = true UTC time)."""
        return tasks.due(self, self._host_time(now or self.clock()))

    def run_task(self, task: ScheduledTask) -> Any:
        """Start a task and let its action take effect at once (tests; the fleet uses ``tick_tasks``)."""
        instance = tasks.start(self, task)
        return tasks.finish(self, instance) if instance is not None else None

    @property
    def has_timers(self) -> bool:
        """Something for ``tick_tasks`` to do now or later: a task that has not run, a started one, or the
        tampering user (a fleet ticks only these hosts)."""
        return bool(self.config.tamper_revert_files or self.task_instances
                    or any(t.last_run is None and t.at is not None for t in self.tasks.values()))

    def tick_tasks(self) -> None:
        """The timer: the tampering local user acts (it has been at it all along), due tasks start, and the
        actions whose start-up time is over run."""
        if self.config.tamper_revert_files:
            with self.changing():
                tamper.act(self)
        due = self.due_tasks()
        now = self.now()
        ready = [i for i in self.task_instances if i.effect_at <= now]
        if not due and not ready:
            return
        with self.changing():
            for task in due:
                tasks.start(self, task)
            now = self.now()
            for instance in [i for i in self.task_instances if i.effect_at <= now]:
                tasks.finish(self, instance)

    # --- views ----------------------------------------------------------------------------------------

    def active_policy(self) -> HostPolicyView:
        view: HostPolicyView = self.derived("active_policy", lambda: build_policy(self))
        return view

    def snapshot(self) -> dict[str, Any]:
        return build_snapshot(self)
