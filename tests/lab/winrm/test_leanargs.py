"""A CreatePipeline's arguments read straight into lab values equal psrpcore's reading converted by from_ps."""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree import ElementTree

from hypothesis import given, settings
from hypothesis import strategies as st
from psrpcore._events import PSRPEvent
from psrpcore.types import PSRPMessageType
from psrpcore.types import deserialize as ps_deserialize
from pypsrp import messages as M
from pypsrp.complex_objects import (
    ApartmentState,
    Command,
    CommandParameter,
    HostInfo,
    Pipeline,
    RemoteStreamOptions,
)
from pypsrp.serializer import Serializer

from ipsec_remote.lab.values import CaseInsensitiveDict, PSObject
from ipsec_remote.lab.winrm.convert import from_ps
from ipsec_remote.lab.winrm.leanargs import Lifted, lab_value, read_create_pipeline, read_pipeline
from ipsec_remote.remote.transport import script_text

RPID, PID = uuid.UUID(int=1), uuid.UUID(int=2)
alphabet = st.sampled_from(list("abcXx_ <>&\"'\n\r\t\x00\x1f\x85é€\U0001F600"))
texts = st.text(alphabet=alphabet, max_size=12) | st.text(alphabet=alphabet, min_size=250, max_size=300)
scalars = st.one_of(texts, st.booleans(), st.integers(-2**40, 2**40), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=30)


SCRIPTS = ["read_state", "invoke_batch", "verify"]


def message(statements: list[dict[str, Any]], cmdlet: bool = False, scope: bool | None = None,
            positional: list[Any] | None = None, no_input: bool = True) -> bytes:
    """The CreatePipeline message pypsrp sends for these statements (a script's text, then named parameters;
    a cmdlet piped into the last statement's script when ``cmdlet``; positional arguments on it)."""
    commands = []
    for i, params in enumerate(statements):
        command = Command(cmd=script_text(SCRIPTS[i % len(SCRIPTS)]), is_script=True, use_local_scope=scope,
                          protocol_version="2.3")
        for name, value in params.items():
            command.args.append(CommandParameter(name=name, value=value))
        for value in positional or []:
            command.args.append(CommandParameter(name=None, value=value))
        command.end_of_statement = True
        commands.append(command)
    if cmdlet:
        commands[-1].end_of_statement = False
        commands.append(Command(cmd="Out-String", is_script=False, use_local_scope=None, protocol_version="2.3"))
        commands[-1].end_of_statement = True
    pipeline = Pipeline(is_nested=False, cmds=commands, history=None, redirect_err_to_out=False)
    create = M.CreatePipeline(no_input, ApartmentState(value=ApartmentState.UNKNOWN),
                              RemoteStreamOptions(value=RemoteStreamOptions.ADD_INVOCATION_INFO), False,
                              HostInfo(host=None), pipeline, False)
    data: bytes = M.Message(M.Destination.SERVER, str(RPID), str(PID), create, Serializer()).pack()
    return data[40:]  # the CLIXML after the PSRP message header


def norm(value: Any) -> Any:
    if isinstance(value, CaseInsensitiveDict):
        return ("hashtable", type(value).__name__, [(k, norm(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [norm(v) for v in value])
    if isinstance(value, PSObject):
        return ("object", list(value.type_names), norm(value.properties))
    return (type(value).__name__, value)


def arguments(ps_object: Any) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Each command's text and its arguments as lab values."""
    event = PSRPEvent.create(PSRPMessageType.CreatePipeline, ps_object, RPID, PID)
    return [(str.__str__(c.command_text), [(str(n), norm(lab_value(v, from_ps))) for n, v in c.parameters])
            for c in event.pipeline.commands]


def what_the_lab_runs(pipeline: Any) -> tuple[bool, list[tuple[Any, ...]]]:
    """What psrp.py reads from a pipeline: NoInput and, per command, text, kind, scope, statement end and
    arguments (names and lab values)."""
    return bool(pipeline.no_input), [
        (str.__str__(c.command_text), bool(c.is_script), c.use_local_scope, bool(c.end_of_statement),
         [(None if n is None else str.__str__(n), norm(lab_value(v, from_ps))) for n, v in c.parameters])
        for c in pipeline.commands]


@settings(max_examples=300, deadline=None)
@given(statements=st.lists(st.dictionaries(st.sampled_from(["Calls", "Guard", "Probes", "Group"]), values,
                                           min_size=1, max_size=4), min_size=1, max_size=3))
def test_lean_arguments_equal_psrpcores_read_through_from_ps(statements: list[dict[str, Any]]) -> None:
    data = message(statements)
    try:
        expected = arguments(ps_deserialize(ElementTree.fromstring(data), None))
    except ValueError:  # pypsrp sends any int as I32; psrpcore refuses one out of range, and so must we
        try:
            read_create_pipeline(data, None)
        except ValueError:
            return
        raise AssertionError("the lean reader accepted what psrpcore refuses") from None
    lean = read_create_pipeline(data, None)
    assert arguments(lean) == expected
    event = PSRPEvent.create(PSRPMessageType.CreatePipeline, lean, RPID, PID)
    assert [isinstance(v, Lifted) for c in event.pipeline.commands for _, v in c.parameters] \
        == [True for s in statements for _ in s]  # every argument the controller sends takes the lean path


@settings(max_examples=200, deadline=None)
@given(statements=st.lists(st.dictionaries(st.sampled_from(["Calls", "Guard", "Probes"]), values, max_size=3),
                           min_size=1, max_size=3),
       cmdlet=st.booleans(), scope=st.none() | st.booleans(), no_input=st.booleans(),
       positional=st.lists(scalars, max_size=2))
def test_the_pipeline_read_without_psrpcore_is_psrpcores(statements: list[dict[str, Any]], cmdlet: bool,
                                                         scope: bool | None, no_input: bool,
                                                         positional: list[Any]) -> None:
    data = message(statements, cmdlet, scope, positional, no_input)
    try:
        expected = what_the_lab_runs(PSRPEvent.create(PSRPMessageType.CreatePipeline,
                                                      ps_deserialize(ElementTree.fromstring(data), None),
                                                      RPID, PID).pipeline)
    except ValueError:
        assert read_pipeline(data) is None  # psrpcore refuses it (an I32 out of range): psrpcore's path says so
        return
    pipeline = read_pipeline(data)
    assert pipeline is not None
    assert what_the_lab_runs(pipeline) == expected


def test_a_typed_argument_is_left_to_psrpcore() -> None:
    data = message([{"Whatever": {"a": 1}}]).replace(b"<T>System.Collections.Hashtable</T>",
                                                     b"<T>System.Collections.Specialized.OrderedDictionary</T>")
    lean = read_create_pipeline(data, None)
    (command,) = PSRPEvent.create(PSRPMessageType.CreatePipeline, lean, RPID, PID).pipeline.commands
    ((_, value),) = command.parameters
    assert not isinstance(value, Lifted)
    assert arguments(lean) == arguments(ps_deserialize(ElementTree.fromstring(data), None))
    assert read_pipeline(data) is None
