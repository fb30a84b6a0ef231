"""The contract between the lab's PowerShell engine and the commands a lab host provides.

The engine parses and runs script text; when a script calls a command it looks the name up in a
``CommandTable`` (case-insensitively, aliases included), binds the arguments against the command's
``ParamSpec``s (exact name, alias, or unambiguous prefix, as PowerShell does; enum values checked
case-insensitively and returned in their canonical spelling; switch parameters; arrays) and calls
``Command.invoke``. Binding failures raise ``PowerShellError`` with Windows' wording (see
``binding_error``), so a script sent to the lab fails where it would fail on Windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .values import CaseInsensitiveDict, ErrorRecord, PowerShellError

# The clock of the host a script runs on: host-local time, tz-aware (its tzinfo is the host's time zone), for
# [datetime]::Now and DateTime conversions inside the engine. Set by the lab host around each run; unset (the
# bare engine's tests) means a host on UTC.
HOST_CLOCK: ContextVar[Callable[[], datetime] | None] = ContextVar("lab_host_clock", default=None)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a command.

    ``type`` is the .NET-ish type name from the reference: ``String``, ``String[]``, ``UInt32``,
    ``Boolean``, ``SwitchParameter``, ``CimInstance[]``, ``DateTime``, ``ScriptBlock``, ``Object`` or an
    enum name such as ``SecurityPolicy`` (then ``values`` lists the accepted names).
    ``flags``: the enum accepts a comma-separated combination (``-Profile Domain,Private``).

    How the engine hands values to ``Command.invoke`` (lab/engine/binding.py):
    * an enum value arrives in its canonical spelling (``-InboundSecurity require`` -> ``"Require"``);
    * a ``flags`` enum arrives as a **list of canonical names in the order of ``values``**, whatever the
      script wrote (``Private,domain``, ``'Domain, Private'`` or ``@('Private','Domain')`` ->
      ``["Domain", "Private"]``);
    * ``array=True`` or a ``...[]`` type arrives as a list (a scalar is wrapped);
    * a switch arrives as a bool (``-PassThru`` -> True, ``-PassThru:$false`` -> False);
    * ``Object``/``CimInstance[]``/``ScriptBlock`` values pass through unconverted.
    """

    name: str
    type: str = "Object"
    array: bool = False
    mandatory: bool = False
    aliases: tuple[str, ...] = ()
    values: tuple[str, ...] | None = None
    flags: bool = False
    position: int | None = None  # positional binding slot, when the command has one

    @property
    def is_switch(self) -> bool:
        return self.type == "SwitchParameter"


class InvocationContext(Protocol):
    """What a running command may use from the engine."""

    def write_error(self, record: ErrorRecord) -> None:
        """Emit a non-terminating error (honours ErrorAction / $ErrorActionPreference)."""

    def get_variable(self, name: str) -> Any: ...

    def set_variable(self, name: str, value: Any) -> None: ...

    def invoke_scriptblock(self, block: Any, dollar_under: Any = None, args: list[Any] | None = None) -> list[Any]:
        """Run a ScriptBlock value (e.g. Where-Object's filter) and return its output."""


class Command(Protocol):
    name: str
    params: Mapping[str, ParamSpec]  # keyed by canonical name
    accepts_pipeline: bool

    def invoke(
        self, ctx: InvocationContext, args: CaseInsensitiveDict, pipeline_input: list[Any]
    ) -> Iterable[Any]:
        """Run with bound arguments (canonical names -> converted values; switches are True when given)."""


@dataclass
class FunctionCommand:
    """A command implemented by a Python callable ``fn(ctx, args, pipeline_input) -> Iterable``.

    ``ignores_caller_preference``: a module function (the NetSecurity cmdlets are CDXML functions) that does
    not see the calling script's ``$ErrorActionPreference``, only its own ``-ErrorAction``.
    """

    name: str
    params: Mapping[str, ParamSpec]
    fn: Callable[[InvocationContext, CaseInsensitiveDict, list[Any]], Iterable[Any]]
    accepts_pipeline: bool = False
    ignores_caller_preference: bool = False

    def invoke(
        self, ctx: InvocationContext, args: CaseInsensitiveDict, pipeline_input: list[Any]
    ) -> Iterable[Any]:
        return self.fn(ctx, args, pipeline_input)


@dataclass
class NativeCommand:
    """An external program (``icacls.exe``): about_Parsing — PowerShell passes a native command its arguments
    as text, a ``-Name`` token as the literal text ``-Name``, and sets ``$LASTEXITCODE`` from its exit code
    (about_Automatic_Variables). ``fn(ctx, argv) -> (output lines, exit code)``."""

    name: str
    fn: Callable[[InvocationContext, list[str]], tuple[list[str], int]]
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    accepts_pipeline: bool = False
    native: bool = True

    def invoke(
        self, ctx: InvocationContext, args: CaseInsensitiveDict, pipeline_input: list[Any]
    ) -> Iterable[Any]:
        raise TypeError("a native command runs through run(), not parameter binding")

    def run(self, ctx: InvocationContext, argv: list[str]) -> tuple[list[str], int]:
        return self.fn(ctx, argv)


@dataclass
class CommandTable:
    """Commands by name and alias, case-insensitive."""

    _commands: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)

    def add(self, command: Command, *aliases: str) -> None:
        self._commands[command.name] = command
        for alias in aliases:
            self._commands[alias] = command

    def get(self, name: str) -> Command | None:
        found: Command | None = self._commands.get(name)
        return found

    def names(self) -> list[str]:
        return list(self._commands)

    def update(self, other: CommandTable) -> None:
        for name in other.names():
            cmd = other.get(name)
            if cmd is not None:
                self._commands[name] = cmd


def binding_error(command: str, message: str, error_id: str, category: str = "InvalidArgument") -> PowerShellError:
    """A parameter-binding failure as Windows PowerShell 5.1 reports it (statement-terminating)."""
    return PowerShellError(
        ErrorRecord(
            message=message,
            error_id=f"{error_id},{command}",
            category=category,
            exception_type="System.Management.Automation.ParameterBindingException",
            command=command,
        ),
        terminating=True,
    )


def command_not_found(name: str) -> PowerShellError:
    return PowerShellError(
        ErrorRecord(
            message=(
                f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or "
                "operable program. Check the spelling of the name, or if a path was included, verify that "
                "the path is correct and try again."
            ),
            error_id="CommandNotFoundException",
            category="ObjectNotFound",
            exception_type="System.Management.Automation.CommandNotFoundException",
            target=name,
        ),
        terminating=True,
    )
