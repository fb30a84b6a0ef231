"""The CREATE_PIPELINE message for our scripts written straight as CLIXML text, byte for byte pypsrp's.

pypsrp builds every pipeline as a tree of ComplexObjects (CreatePipeline → Pipeline → Command →
CommandParameter, five PipelineResultTypes enums per command), serializes that tree property by property and
writes it out; a multi-statement pipeline carries each command twice (ExtraCmds, then the first statement
again as Cmds, MS-PSRP 2.2.3.11). On a 1,000-host apply that was a quarter of the controller's CPU (issue 17,
py-spy), for a message whose only variable parts are the scripts, their parameters and the RefIds.

``create_pipeline`` writes the text pypsrp would write for ``PowerShell.begin_invoke`` with its defaults (no
input, the pool's UNKNOWN apartment state, AddInvocationInfo, no history, no host): the same RefIds and
type-name references in the same order, the parameter values through ``FastSerializer._text``.
``tests/unit/test_fastpipeline.py`` compares it with pypsrp's own message on generated pipelines. It answers
None for anything it does not take on (a value outside str/bool/int/None/dict/list, a pool with a host or
another apartment state, an old protocol version), and the caller takes pypsrp's own path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pypsrp._utils import version_equal_or_newer
from pypsrp.complex_objects import ApartmentState
from pypsrp.messages import MessageType

from .fastclixml import FastSerializer, Packed, _escape_cdata, _Unusual

_LIST_TYPES = ["System.Collections.Generic.List`1[[System.Management.Automation.PSObject, "
               "System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
               "System.Object"]
_RESULT_TYPES = ["System.Management.Automation.Runspaces.PipelineResultTypes", "System.Enum", "System.ValueType",
                 "System.Object"]
_ENUM = ("System.Enum", "System.ValueType", "System.Object")
# The message up to the pipeline's first property: RefIds 0-4 and type names 0-1 (ApartmentState,
# RemoteStreamOptions) are always these.
_HEAD = ('<Obj RefId="0"><MS><B N="NoInput">true</B><Obj RefId="1" N="ApartmentState"><TN RefId="0">'
         "<T>System.Management.Automation.Runspaces.ApartmentState</T>" + "".join(f"<T>{t}</T>" for t in _ENUM)
         + '</TN><ToString>UNKNOWN</ToString><I32>2</I32></Obj><Obj RefId="2" N="RemoteStreamOptions"><TN RefId="1">'
         "<T>System.Management.Automation.Runspaces.RemoteStreamOptions</T>" + "".join(f"<T>{t}</T>" for t in _ENUM)
         + '</TN><ToString>AddInvocationInfo</ToString><I32>15</I32></Obj><B N="AddToHistory">false</B>'
         '<Obj RefId="3" N="HostInfo"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B>'
         '<B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj>'
         '<Obj RefId="4" N="PowerShell"><MS><B N="IsNested">false</B>')
_TAIL = ('<Nil N="History" /><B N="RedirectShellErrorOutputPipe">false</B></MS></Obj>'
         '<B N="IsNested">false</B></MS></Obj>')
_BEFORE_ARGS = ("MergeMyResult", "MergeToResult", "MergePreviousResults")
_AFTER_ARGS_22 = ("MergeError", "MergeWarning", "MergeVerbose", "MergeDebug")
_SCRIPTS: dict[str, str] = {}  # a script's <S N="Cmd"> text, escaped once (every host runs the same few)


class PackedPipeline(Packed):
    """A CREATE_PIPELINE message already written."""

    MESSAGE_TYPE = MessageType.CREATE_PIPELINE
    __slots__ = ()


def create_pipeline(pool: Any, steps: Sequence[tuple[str, Mapping[str, Any] | None]]) -> PackedPipeline | None:
    """The message ``PowerShell(pool)`` would send for ``steps`` (one script with its parameters per statement),
    or None where pypsrp's own path must write it."""
    serializer = pool._serializer
    version = pool.protocol_version or ""
    if (type(serializer) is not FastSerializer or not steps or pool.host is not None
            or pool.apartment_state != ApartmentState.UNKNOWN or not version
            or not version_equal_or_newer(version, "2.2")):
        return None
    after_args = _AFTER_ARGS_22 + (("MergeInformation",) if version_equal_or_newer(version, "2.3") else ())
    serializer._clear()
    serializer.obj_id, serializer.tn_id = 5, 2
    serializer.tn = {"System.Management.Automation.Runspaces.ApartmentState": 0,
                     "System.Management.Automation.Runspaces.RemoteStreamOptions": 1}
    out = [_HEAD]
    try:
        if len(steps) == 1:
            out.append('<Nil N="ExtraCmds" />')
        else:  # every statement as its own Cmds list, then the first statement again as the pipeline's Cmds
            _list(serializer, "ExtraCmds", out)
            for step in steps:
                out.append(f'<Obj RefId="{serializer._get_obj_id()}"><MS>')
                _cmds(serializer, step, after_args, out)
                out.append("</MS></Obj>")
            out.append("</LST></Obj>")
        _cmds(serializer, steps[0], after_args, out)
    except _Unusual:
        return None
    out.append(_TAIL)
    return PackedPipeline("".join(out).encode("utf-8", "xmlcharrefreplace"))


def _list(serializer: FastSerializer, name: str, out: list[str]) -> None:
    out.append(f'<Obj RefId="{serializer._get_obj_id()}" N="{name}">')
    serializer._text_tn(_LIST_TYPES, out)
    out.append("<LST>")


def _cmds(serializer: FastSerializer, step: tuple[str, Mapping[str, Any] | None], after_args: tuple[str, ...],
          out: list[str]) -> None:
    """A statement of one command: a Cmds list holding the script as a Command with its parameters."""
    script, parameters = step
    _list(serializer, "Cmds", out)
    text = _SCRIPTS.get(script)
    if text is None:
        text = _escape_cdata(serializer._serialize_string(script) or "")
        if len(_SCRIPTS) < 64:
            _SCRIPTS[script] = text
    cmd = f'<S N="Cmd">{text}</S>' if text else '<S N="Cmd" />'
    out.append(f'<Obj RefId="{serializer._get_obj_id()}"><MS>{cmd}<B N="IsScript">true</B><Nil N="UseLocalScope" />')
    for name in _BEFORE_ARGS:
        _result(serializer, name, out)
    if parameters:
        _list(serializer, "Args", out)
        for name, value in parameters.items():
            if type(name) is not str:
                raise _Unusual
            out.append(f'<Obj RefId="{serializer._get_obj_id()}"><MS>')
            serializer._text(name, "N", out)
            serializer._text(value, "V", out)
            out.append("</MS></Obj>")
        out.append("</LST></Obj>")
    else:
        out.append(f'<Obj RefId="{serializer._get_obj_id()}" N="Args">')
        serializer._text_tn(_LIST_TYPES, out)
        out.append("<LST /></Obj>")
    for name in after_args:
        _result(serializer, name, out)
    out.append("</MS></Obj></LST></Obj>")


def _result(serializer: FastSerializer, name: str, out: list[str]) -> None:
    # PipelineResultTypes NONE: how every merge option of a command we build is set.
    out.append(f'<Obj RefId="{serializer._get_obj_id()}" N="{name}">')
    serializer._text_tn(_RESULT_TYPES, out)
    out.append("<ToString>None</ToString><I32>0</I32></Obj>")
