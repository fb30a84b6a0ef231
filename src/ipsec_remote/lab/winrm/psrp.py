"""One WinRM shell = one psrpcore ``ServerRunspacePool`` and the pipelines run in it.

psrpcore keeps a single send buffer per pool. Each time it has produced messages we drain that buffer into
one outbox per target (the pool itself, or a pipeline's CommandId), so a Receive for a command only ever
gets that command's fragments — which is how pypsrp expects output to be split.

Everything here runs on the lab's event loop thread except a pipeline's script, which runs on a worker
thread (the host serialises scripts under its fleet lock): a script may wait — ``Start-Sleep`` in a sampling
loop — without stalling every other endpoint, as a Windows host runs each shell's pipelines on its own. Its
results are written into psrpcore back on the loop thread. Without a running loop (unit tests feeding a
shell directly) the script runs inline.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from psrpcore import ServerPipeline, ServerRunspacePool
from psrpcore._base import Pipeline, RunspacePool
from psrpcore._events import CreatePipelineEvent, PSRPEvent
from psrpcore._payload import PSRPMessage, PSRPPayload, StreamType, create_message
from psrpcore.types import (
    ApplicationPrivateData,
    PSInvocationState,
    PSRPMessageType,
    PSVersion,
    RunspacePoolState,
    RunspacePoolStateMsg,
    add_note_property,
    serialize,
)

from ..runtime import PipelineCommand, PipelineResult, ScriptHost
from ..values import ErrorRecord
from .convert import error_parts, error_record, from_ps, to_ps
from .leanargs import LeanPipeline, lab_value, read_create_pipeline, read_pipeline
from .leanoutput import Unsupported, clixml, pipeline_state

log = logging.getLogger(__name__)

# What a Windows Server 2022 host reports in ApplicationPrivateData.
_PS_VERSION_TABLE = {
    "PSVersion": PSVersion("5.1.20348.2849"),
    "PSEdition": "Desktop",
    "BuildVersion": PSVersion("10.0.20348.2849"),
    "CLRVersion": PSVersion("4.0.30319.42000"),
    "WSManStackVersion": PSVersion("3.0"),
    "PSCompatibleVersions": [PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", "5.1.20348.2849")],
}
def _private_data() -> dict[str, Any]:
    """The ApplicationPrivateData of every lab shell (psrpcore adds its protocol versions to the table)."""
    return {"PSVersionTable": dict(_PS_VERSION_TABLE)}


@functools.cache
def _template_pool() -> ServerRunspacePool:
    """A plain psrpcore pool of a lab shell's data: the messages serialised once come from it."""
    return ServerRunspacePool(application_private_data=_private_data())


def _same_capability(ours: Any, template: Any) -> bool:
    return bool(str(ours.PSVersion) == str(template.PSVersion)
                and str(ours.protocolversion) == str(template.protocolversion)
                and str(ours.SerializationVersion) == str(template.SerializationVersion))


def _clixml_of(message: Any) -> bytes:
    no_cipher: Any = None  # nothing in these is a secure string
    data: bytes = ElementTree.tostring(serialize(message, no_cipher), encoding="utf-8", method="xml")
    return data


@functools.cache
def _private_data_clixml() -> bytes:
    """psrpcore's serialisation of a lab shell's ApplicationPrivateData, as a plain pool of it sends it."""
    return _clixml_of(ApplicationPrivateData(ApplicationPrivateData=_template_pool().application_private_data))


@functools.cache
def _capability_clixml() -> bytes:
    return _clixml_of(_template_pool().our_capability)


@functools.cache
def _pool_state_clixml(state: int) -> bytes:
    return _clixml_of(RunspacePoolStateMsg(RunspaceState=state))


# States whose change psrpcore does not send to the client.
_SILENT_POOL_STATES = (RunspacePoolState.Disconnected, RunspacePoolState.Disconnecting, RunspacePoolState.Connecting)


_STARTABLE = (PSInvocationState.NotStarted, PSInvocationState.Stopped, PSInvocationState.Completed)
_DRAIN_CHUNK = 64 * 1024  # max bytes per psrpcore payload we queue; a Receive may carry several
# Scripts of every lab endpoint; only those sleeping hold a thread for long (the rest wait for the fleet lock).
# Enough for every pipeline the controller may run at once (200 forks) to sleep: verify.ps1 waits for IKE
# (a TcpClient WaitOne, Start-Sleep) on every host of a proof round with the latency model on; at 64 the
# lab, not the hosts, would cap the round (64 threads / ~0.6 s: ~100 hosts a second).
_SCRIPTS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="lab-pipeline")


class _LabRunspacePool(ServerRunspacePool):
    """PowerShell reads message properties case-insensitively; psrpcore does not. pypsrp names the call id
    of SetMax/MinRunspaces ``CI`` (PowerShell itself sends ``ci``), so give psrpcore the spelling it wants."""

    def __init__(self) -> None:
        super().__init__(application_private_data=_private_data())
        self._default_capability = _same_capability(self.our_capability, _template_pool().our_capability)

    def prepare_message(self, message: Any, message_type: PSRPMessageType | None = None,
                        pipeline_id: uuid.UUID | None = None, stream_type: StreamType = StreamType.default) -> None:
        """As psrpcore queues a message, except that the two replies every shell of the lab sends alike are
        serialised once, not per shell: its SessionCapability and its ApplicationPrivateData (the same
        PSVersionTable); with the pool states below that was ~4 % of the lab's CPU."""
        if pipeline_id is None and type(message) is ApplicationPrivateData:
            self._queue_pool(PSRPMessageType.ApplicationPrivateData, _private_data_clixml(), stream_type)
        elif pipeline_id is None and message is self.our_capability and self._default_capability:
            self._queue_pool(PSRPMessageType.SessionCapability, _capability_clixml(), stream_type)
        else:
            super().prepare_message(message, message_type, pipeline_id, stream_type)

    def _change_state(self, state: RunspacePoolState, error: Any = None, emit: bool = True) -> None:
        """psrpcore's, with the RunspacePoolState message of a state without an error serialised once."""
        if not emit or error is not None or state in _SILENT_POOL_STATES:
            super()._change_state(state, error, emit)
            return
        RunspacePool._change_state(self, state)  # the base class's: the state itself, no message
        self._queue_pool(PSRPMessageType.RunspacePoolState, _pool_state_clixml(int(state)), StreamType.default)

    def _queue_pool(self, message_type: PSRPMessageType, data: bytes, stream_type: StreamType) -> None:
        wire = create_message(False, message_type, data, self.runspace_pool_id, None)
        self._send_buffer.append(PSRPMessage(message_type, bytearray(wire), self.runspace_pool_id, None,
                                             self._fragment_counter, stream_type))

    def _process_SetMaxRunspaces(self, event: Any) -> None:
        _lower_ci(event)
        super()._process_SetMaxRunspaces(event)

    def _process_SetMinRunspaces(self, event: Any) -> None:
        _lower_ci(event)
        super()._process_SetMinRunspaces(event)

    def _process_message(self, message: PSRPMessage) -> Any:
        """As psrpcore processes a message, except that a CreatePipeline's arguments are read straight into
        lab values (leanargs: the same values, a fraction of the CPU)."""
        if message.message_type != PSRPMessageType.CreatePipeline:
            return super()._process_message(message)
        pipeline = read_pipeline(message.data)
        if pipeline is not None and message.pipeline_id is not None:
            event: CreatePipelineEvent = _ReadPipelineEvent(message, message.pipeline_id, pipeline)
        else:
            ps_object = read_create_pipeline(message.data, self._cipher, our_capability=self.our_capability,
                                             their_capability=self.their_capability)
            created = PSRPEvent.create(message.message_type, ps_object, message.runspace_pool_id,
                                       message.pipeline_id)
            assert isinstance(created, CreatePipelineEvent)
            event = created
        self._process_CreatePipeline(event)
        return event

    def write_output(self, pipeline: ServerPipeline, value: Any) -> None:
        """``pipeline.write_output(to_ps(value))``, with the CLIXML written straight from the lab value
        (leanoutput) and queued as psrpcore queues a message; values leanoutput does not write take
        psrpcore's path."""
        try:
            data = b"" if value is None else clixml(value)  # a bare $null is an empty message (as psrpcore)
        except Unsupported:
            pipeline.write_output(to_ps(value))
            return
        if pipeline.state != PSInvocationState.Running:
            pipeline.write_output(None)  # psrpcore's own refusal (InvalidPipelineState)
        self._queue(pipeline, PSRPMessageType.PipelineOutput, data)

    def change_state(self, pipeline: ServerPipeline, state: PSInvocationState) -> None:
        """``pipeline.start()``/``complete()`` (a state without an error): psrpcore's state change, with the
        PipelineState message written directly (psrpcore builds and serialises a PSObject for it: 2 per
        pipeline, ~5 % of the lab's CPU at 1,000 hosts). The same bytes: tests/lab/winrm/test_leanoutput.py."""
        if state == PSInvocationState.Running and pipeline.state not in _STARTABLE:
            pipeline.start()  # psrpcore's own refusal (InvalidPipelineState)
        self._queue(pipeline, PSRPMessageType.PipelineState, pipeline_state(state))
        Pipeline._change_state(pipeline, state)  # the base class's: the state itself, no message

    def _queue(self, pipeline: ServerPipeline, message_type: PSRPMessageType, data: bytes) -> None:
        """Queue a message for ``pipeline`` as psrpcore's prepare_message does, from its CLIXML bytes."""
        message = create_message(False, message_type, data, self.runspace_pool_id, pipeline.pipeline_id)
        self._send_buffer.append(PSRPMessage(message_type, bytearray(message), self.runspace_pool_id,
                                             pipeline.pipeline_id, self._fragment_counter, StreamType.default))


class _ReadPipelineEvent(CreatePipelineEvent):
    """A CreatePipeline event whose pipeline leanargs.read_pipeline read (no psrpcore message object)."""

    def __init__(self, message: PSRPMessage, pipeline_id: uuid.UUID, pipeline: LeanPipeline) -> None:
        no_message: Any = None  # the message object psrpcore would have built; nothing reads it
        super().__init__(message.message_type, no_message, message.runspace_pool_id, pipeline_id)
        self._pipeline = pipeline

    @property
    def pipeline(self) -> Any:  # psrpcore stores it as the pipeline's metadata; only psrp.py reads it back
        return self._pipeline


def _lower_ci(event: Any) -> None:
    message = event._ps_object  # the deserialised message; psrpcore offers no public accessor
    names = {p.name for p in message.PSObject.extended_properties}
    if "ci" not in names and "CI" in names:
        add_note_property(message, "ci", message.CI)


@dataclass
class _Command:
    command_id: str
    pipeline: ServerPipeline
    input: list[Any] = field(default_factory=list)
    ran: bool = False
    stop_asked: bool = False  # Ctrl-C arrived while the script ran on its worker thread


class PsrpShell:
    """A PowerShell remoting shell (``http://schemas.microsoft.com/powershell/...``)."""

    def __init__(self, shell_id: str, resource_uri: str, host: ScriptHost, owner: str, client_ip: str,
                 input_streams: str, output_streams: str, idle_timeout_s: float) -> None:
        self.shell_id = shell_id
        self.resource_uri = resource_uri
        self.host = host
        self.owner = owner
        self.client_ip = client_ip
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.idle_timeout_s = idle_timeout_s
        self.last_used = time.monotonic()
        self.closed = False
        self.pool = _LabRunspacePool()
        self._commands: dict[str, _Command] = {}  # upper-case CommandId -> command
        self._outbox: dict[str | None, deque[bytes]] = {None: deque()}
        self._changed = asyncio.Event()

    # ---- input ---------------------------------------------------------------------------------------
    def create_command(self, command_id: str | None, first_fragment: bytes) -> str:
        """A WSMan Command: a new pipeline whose CreatePipeline message starts in ``first_fragment``."""
        if command_id:
            pid = uuid.UUID(command_id)
        else:  # the PSRP message header inside the first fragment names the pipeline
            pid = uuid.UUID(bytes_le=first_fragment[21 + 24 : 21 + 40])
            command_id = str(pid).upper()
        cmd = _Command(command_id.upper(), ServerPipeline(self.pool, pid))
        self._commands[cmd.command_id] = cmd
        self._outbox[cmd.command_id] = deque()
        self.feed(first_fragment, cmd.command_id)
        return command_id

    def feed(self, data: bytes, command_id: str | None = None) -> None:
        """PSRP fragments from the client (creationXml, Command arguments or a Send stream)."""
        pipeline_id = uuid.UUID(command_id) if command_id else None
        self.pool.receive_data(PSRPPayload(data, StreamType.default, pipeline_id))
        while (event := self.pool.next_event()) is not None:
            self._on_event(event)
        self._drain()

    def _on_event(self, event: Any) -> None:
        name = "CreatePipelineEvent" if isinstance(event, CreatePipelineEvent) else type(event).__name__
        if name in ("SetMaxRunspacesEvent", "SetMinRunspacesEvent", "ResetRunspaceStateEvent"):
            self.pool.runspace_availability_response(event.ci, True)
        elif name == "GetAvailableRunspacesEvent":
            self.pool.runspace_availability_response(event.ci, 1)
        elif name in ("CreatePipelineEvent", "PipelineInputEvent", "EndOfPipelineInputEvent"):
            cmd = self._command_for(event.pipeline_id)
            if cmd is None:
                return
            if name == "PipelineInputEvent":
                cmd.input.append(from_ps(event.data))
            elif name == "EndOfPipelineInputEvent" or event.pipeline.no_input:
                self._run(cmd)
        # SessionCapability, InitRunspacePool, PublicKey: psrpcore queues the replies itself; host responses
        # are not expected because the lab never makes host calls.

    def _command_for(self, pipeline_id: uuid.UUID | None) -> _Command | None:
        return self._commands.get(str(pipeline_id).upper()) if pipeline_id else None

    # ---- execution -----------------------------------------------------------------------------------
    def _run(self, cmd: _Command) -> None:
        if cmd.ran or cmd.pipeline.metadata is None:
            return
        cmd.ran = True
        metadata: Any = cmd.pipeline.metadata  # LeanPipeline, or psrpcore's PowerShell: end_of_statement marks
        statements = _statements(metadata.commands)
        pipeline_input, cmd.input = cmd.input, []
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._publish(cmd, self._execute(statements, pipeline_input))
            return
        job = loop.run_in_executor(_SCRIPTS, self._execute, statements, pipeline_input)
        job.add_done_callback(lambda done: self._finished(cmd, done))

    def _execute(self, statements: list[list[PipelineCommand]], pipeline_input: list[Any]) -> list[PipelineResult]:
        """The statements in order (only the first reads the pipeline input), up to a terminating error."""
        results: list[PipelineResult] = []
        for i, statement in enumerate(statements):
            try:
                result = self.host.run_pipeline(statement, pipeline_input if i == 0 else [])
            except Exception as exc:  # a lab bug must fail this pipeline, not the endpoint
                log.exception("lab host %s failed running a pipeline", getattr(self.host, "name", "?"))
                result = PipelineResult(failure=ErrorRecord(f"lab host internal error: {exc}",
                                                            error_id="LabHostInternalError"))
            results.append(result)
            if result.failure is not None:
                break
        return results

    def _finished(self, cmd: _Command, job: asyncio.Future[list[PipelineResult]]) -> None:
        if job.cancelled():
            return
        error = job.exception()
        results = job.result() if error is None else [PipelineResult(failure=ErrorRecord(
            f"lab host internal error: {error}", error_id="LabHostInternalError"))]
        self._publish(cmd, results)

    def _publish(self, cmd: _Command, results: list[PipelineResult]) -> None:
        if self.closed or self._commands.get(cmd.command_id) is not cmd:
            return  # the client stopped or dropped the pipeline meanwhile: nobody reads this output
        pipeline = cmd.pipeline
        if pipeline.state != PSInvocationState.NotStarted:
            return  # stopped by a signal while the script ran
        # Started only now: psrpcore's Running state message then leaves with the output and the final state in
        # one Receive, as when the script ran inline (a Receive for it alone would be a request Windows saves).
        self.pool.change_state(pipeline, PSInvocationState.Running)
        if cmd.stop_asked:
            pipeline.stop()
            self._drain()
            return
        failure: ErrorRecord | None = None
        for result in results:
            for value in result.output:
                self.pool.write_output(pipeline, value)
            for err in result.errors:
                pipeline.write_error(**error_parts(err))
            failure = result.failure or failure
        if failure is None:
            self.pool.change_state(pipeline, PSInvocationState.Completed)
        else:
            # psrpcore has no public "fail" call; the Failed state message carries the terminating error.
            pipeline._change_state(PSInvocationState.Failed, error_record(failure))
        self._drain()

    # ---- signals and teardown ------------------------------------------------------------------------
    def signal(self, command_id: str, code: str) -> None:
        cmd = self._commands.get(command_id.upper())
        if cmd is None:
            return
        if code.lower().endswith("terminate"):
            if cmd.pipeline.state == PSInvocationState.Running:
                cmd.pipeline.stop()
            cmd.pipeline.close()
            del self._commands[cmd.command_id]
            self._outbox.pop(cmd.command_id, None)
        elif code.lower().endswith("ctrl_c") and cmd.pipeline.state == PSInvocationState.Running:
            cmd.pipeline.stop()
        elif code.lower().endswith("ctrl_c") and cmd.ran:
            cmd.stop_asked = True  # the script cannot be interrupted; its output is dropped when it ends
        self._drain()

    def close(self) -> None:
        self.closed = True
        self._commands.clear()
        self._changed.set()

    # ---- output --------------------------------------------------------------------------------------
    def _drain(self) -> None:
        produced = False
        while (payload := self.pool.data_to_send(_DRAIN_CHUNK)) is not None:
            key = str(payload.pipeline_id).upper() if payload.pipeline_id else None
            box = self._outbox.get(key)
            if box is None:  # output for a pipeline already terminated: nobody will read it
                continue
            box.append(payload.data)
            produced = True
        if produced:
            self._changed.set()

    def has_command(self, command_id: str) -> bool:
        return command_id.upper() in self._commands

    def take(self, command_id: str | None, budget: int) -> tuple[list[bytes], bool]:
        """Queued payloads for one target up to ``budget`` bytes; and whether the command is finished."""
        key = command_id.upper() if command_id else None
        box = self._outbox.get(key, deque())
        chunks: list[bytes] = []
        size = 0
        while box and (not chunks or size + len(box[0]) <= budget):
            chunk = box.popleft()
            chunks.append(chunk)
            size += len(chunk)
        done = False
        if key is not None and not box:
            cmd = self._commands.get(key)
            done = cmd is None or cmd.pipeline.state in (
                PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped
            )
        return chunks, done

    def pending(self, command_id: str | None) -> bool:
        return bool(self._outbox.get(command_id.upper() if command_id else None))

    async def wait(self, command_id: str | None, timeout_s: float) -> bool:
        """Wait until there is output for the target (True) or ``timeout_s`` passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.pending(command_id) and not self.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return self.pending(command_id)
        return self.pending(command_id)


def _statements(commands: list[Any]) -> list[list[PipelineCommand]]:
    """psrpcore flattens statements (``add_statement``) into one list with ``end_of_statement`` marks."""
    out: list[list[PipelineCommand]] = [[]]
    for cmd in commands:
        out[-1].append(PipelineCommand(
            text=str.__str__(cmd.command_text),
            is_script=bool(cmd.is_script),
            parameters=[(None if n is None else str.__str__(n), lab_value(v, from_ps)) for n, v in cmd.parameters],
        ))
        if cmd.end_of_statement:
            out.append([])
    return [s for s in out if s]

