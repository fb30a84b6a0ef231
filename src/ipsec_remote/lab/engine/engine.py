"""The public face of the engine: run script text (or a PSRP pipeline) against a lab host's commands."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..commands import Command, CommandTable
from ..runtime import PipelineCommand, PipelineResult
from ..values import CaseInsensitiveDict, ErrorRecord, PSHashtable
from .binding import Named, Positional, Token
from .builtins import builtin_commands
from .errors import BreakSignal, ContinueSignal, ExitSignal, ReturnSignal, ScriptError, UnsupportedConstruct
from .evaluator import Interpreter
from .parser import parse_script
from .scope import Scope
from .values import NOTHING

Parameters = Mapping[str, Any] | Sequence[tuple[str | None, Any]]


@dataclass
class ScriptResult:
    output: list[Any] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)  # non-terminating, in order
    failure: ErrorRecord | None = None  # the terminating error that stopped the script
    warnings: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    information: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.failure is not None


class _Commands:
    """Host commands first, then the engine's built-ins (the host table is read live)."""

    def __init__(self, host: CommandTable) -> None:
        self.host = host
        self.builtins = builtin_commands()

    def get(self, name: str) -> Command | None:
        return self.host.get(name) or self.builtins.get(name)


def _tokens(parameters: Parameters) -> list[Token]:
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    out: list[Token] = []
    for name, value in items:
        if name is None:
            out.append(Positional(value))
        else:
            out.append(Named(name.lstrip("-"), NOTHING if value is None else value, from_splat=True))
    return out


def _parse_failure(exc: UnsupportedConstruct) -> ErrorRecord:
    return ErrorRecord(
        str(exc), "UnsupportedConstruct", "ParserError", "System.Management.Automation.ParseException", line=exc.line
    )


class Engine:
    def __init__(self, commands: CommandTable, environment: Mapping[str, str] | None = None) -> None:
        self.commands = _Commands(commands)
        self.environment = dict(environment or {})  # the process environment ($env:)

    def _start(self, variables: Mapping[str, Any] | None) -> tuple[Interpreter, Scope]:
        env = CaseInsensitiveDict(self.environment)
        interp = Interpreter(self.commands, env)  # type: ignore[arg-type]
        scope = Scope()
        # about_Preference_Variables / about_Automatic_Variables defaults of Windows PowerShell 5.1.
        scope.vars.update(
            {
                "erroractionpreference": "Continue",
                "warningpreference": "Continue",
                "verbosepreference": "SilentlyContinue",
                "debugpreference": "SilentlyContinue",
                "error": interp.error_variable,
                "psscriptroot": "",
                "lastexitcode": None,
                "psversiontable": PSHashtable(PSVersion="5.1.20348.2849", PSEdition="Desktop"),
            }
        )
        for name, value in (variables or {}).items():
            if name.lower().startswith("env:"):
                env[name[4:]] = value
            else:
                scope.set(name.lower(), value)
        return interp, scope

    def run(
        self,
        script_text: str,
        parameters: Parameters = (),
        *,
        pipeline_input: list[Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> ScriptResult:
        interp, scope = self._start(variables)
        result = ScriptResult()
        try:
            script = parse_script(script_text)
            out = result.output
            _guard(
                lambda: _run_script(interp, script.block, _tokens(parameters), scope, list(pipeline_input or []), out),
                result,
            )
        except UnsupportedConstruct as exc:
            result.failure = _parse_failure(exc)
        _finish(interp, result)
        return result

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        """A PSRP pipeline: each entry is a script (``add_script``) or a command name (``add_cmdlet``)."""
        interp, scope = self._start(None)
        result = ScriptResult()
        data = list(pipeline_input)

        def run() -> None:
            nonlocal data
            for i, entry in enumerate(commands):
                tokens = _tokens(entry.parameters)
                last = i == len(commands) - 1
                # The last stage writes straight into the result, so output before a failure is kept.
                out: list[Any] = result.output if last else []
                if entry.is_script:
                    block = parse_script(entry.text).block
                    _run_script(interp, block, tokens, Scope(scope), data, out)
                else:
                    out.extend(interp.invoke_target(entry.text, tokens, scope, data, 0))
                data = out

        try:
            _guard(run, result)
        except UnsupportedConstruct as exc:
            result.failure = _parse_failure(exc)
        _finish(interp, result)
        return PipelineResult(output=result.output, errors=result.errors, failure=result.failure)


def _run_script(
    interp: Interpreter, block: Any, tokens: list[Token], scope: Scope, data: list[Any], out: list[Any]
) -> None:
    interp.bind_params(block, tokens, scope, "script")
    scope.set("input", data)
    with contextlib.suppress(ReturnSignal):
        interp.run_body(block.body, scope, out)


def _guard(fn: Any, result: ScriptResult) -> None:
    """Run, turning an uncaught terminating error into the result's failure (output so far is kept)."""
    try:
        fn()
    except ScriptError as exc:
        result.failure = exc.record
    except (ExitSignal, BreakSignal, ContinueSignal, ReturnSignal):
        pass  # exit, or break/continue outside a loop, end the script quietly as on Windows
    except RecursionError:
        result.failure = ErrorRecord(
            "The script failed due to call depth overflow.",
            "CallDepthOverflow",
            "InvalidOperation",
            "System.Management.Automation.ScriptCallDepthException",
        )


def _finish(interp: Interpreter, result: ScriptResult) -> None:
    result.errors = interp.errors
    result.warnings = interp.warnings
    result.verbose = interp.verbose
    result.information = interp.information
