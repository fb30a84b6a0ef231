"""Engine exceptions: the parse-time refusal and the control-flow signals of a running script."""

from __future__ import annotations

from typing import Any

from ..values import ErrorRecord, PowerShellError


class UnsupportedConstruct(Exception):
    """A construct outside the engine's subset, found at parse time."""

    def __init__(self, kind: str, line: int, snippet: str) -> None:
        super().__init__(f"unsupported construct {kind} at line {line}: {snippet}")
        self.kind = kind
        self.line = line
        self.snippet = snippet


class ScriptError(PowerShellError):
    """A terminating error in flight.

    ``script_level`` separates ``throw`` and ErrorAction-Stop errors (they end the script unless caught)
    from statement-terminating ones (binding errors, command not found, a cmdlet's terminating error,
    a runtime exception): with ``$ErrorActionPreference = 'Continue'`` those only end the current
    statement (about_Try_Catch_Finally, about_Preference_Variables).
    """

    def __init__(self, record: ErrorRecord, script_level: bool) -> None:
        super().__init__(record, terminating=True)
        self.script_level = script_level


class BreakSignal(Exception):
    """``break``: unwinds to the innermost loop (or ends the script, as on Windows, outside any loop)."""


class ContinueSignal(Exception):
    """``continue``: unwinds to the innermost loop's next iteration."""


class ReturnSignal(Exception):
    """``return``: ends the current function, script block or script; its value is already written."""

    def __init__(self, output: list[Any]) -> None:
        super().__init__("return")
        self.output = output


class ExitSignal(Exception):
    """``exit``: ends the script quietly."""


def runtime_error(
    message: str,
    error_id: str = "RuntimeException",
    category: str = "InvalidOperation",
    exception_type: str = "System.Management.Automation.RuntimeException",
) -> ScriptError:
    """A statement-terminating runtime exception (bad cast, bad method call, division by zero)."""
    return ScriptError(ErrorRecord(message, error_id, category, exception_type), script_level=False)
