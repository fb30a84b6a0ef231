"""Statements, pipelines and error handling of a running script.

Error model (about_Try_Catch_Finally, about_Preference_Variables, about_CommonParameters):
* a non-terminating error (``ctx.write_error``, Write-Error) is recorded and execution goes on, unless the
  effective ErrorAction is Stop: then it is terminating and ends the script unless caught;
* a statement-terminating error (binding failure, command not found, a cmdlet's terminating error, a runtime
  exception) outside any ``try`` ends only its statement with ``$ErrorActionPreference = 'Continue'``;
  with 'Stop' it ends the script;
* ``throw`` ends the script unless caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..commands import CommandTable
from ..values import CaseInsensitiveDict, ErrorRecord
from . import ast as A
from .binding import Named, Positional, Token
from .errors import BreakSignal, ContinueSignal, ExitSignal, ReturnSignal, ScriptError
from .expressions import ExpressionMixin
from .functions import CommandRunner
from .operators import arithmetic
from .scope import Scope
from .values import NOTHING, ErrorView, collect, enumerate_value, plain, to_bool, to_str

LOOP_LIMIT = 1_000_000


class Interpreter(ExpressionMixin, CommandRunner):
    """One run of a script: its streams and the dynamic state of try/catch."""

    def __init__(self, commands: CommandTable, env: CaseInsensitiveDict | None = None) -> None:
        self.commands = commands
        self.env = env if env is not None else CaseInsensitiveDict()
        self.errors: list[ErrorRecord] = []
        self.warnings: list[str] = []
        self.verbose: list[str] = []
        self.information: list[str] = []
        self.try_depth = 0
        self.catching: list[ErrorRecord] = []  # the records of the catch blocks we are in, innermost last
        self.error_variable: list[Any] = []  # $Error, most recent first
        self._init_dispatch()
        self._stmt: dict[type, Callable[[Any, Scope, list[Any]], None]] = {
            A.Pipeline: lambda n, s, o: o.extend(self.run_pipeline(n, s)),
            A.Assign: lambda n, s, o: self._assign(n, s),
            A.If: self._if,
            A.Foreach: self._foreach,
            A.Loop: self._loop,
            A.Flow: self._flow,
            A.Try: self._try,
            A.FunctionDef: lambda n, s, o: s.functions.__setitem__(n.name.lower(), n),
            A.IncDec: lambda n, s, o: self.eval(n, s),
        }

    # ---- statement lists ----------------------------------------------------------------------------------

    def run_body(self, body: list[A.Stmt], scope: Scope, out: list[Any]) -> None:
        for stmt in body:
            try:
                handler = self._stmt.get(type(stmt))
                if handler is not None:
                    handler(stmt, scope, out)
                else:
                    value = self.eval(stmt, scope)  # type: ignore[arg-type]
                    if value is not NOTHING:
                        out.extend(value) if isinstance(value, (list, tuple)) else out.append(value)
            except ScriptError as exc:
                if exc.record.line is None:
                    exc.record.line = getattr(stmt, "line", None) or None
                self._statement_error(exc, scope)
            except (BreakSignal, ContinueSignal, ReturnSignal, ExitSignal, RecursionError):
                raise
            except Exception as exc:  # an engine gap must fail the statement, never the lab host
                record = ErrorRecord(
                    f"{type(exc).__name__}: {exc}",
                    "LabEngineError",
                    "NotSpecified",
                    line=getattr(stmt, "line", None) or None,
                )
                self._statement_error(ScriptError(record, script_level=False), scope)

    def _statement_error(self, exc: ScriptError, scope: Scope) -> None:
        if self.try_depth > 0:
            raise exc
        action = to_str(scope.get("erroractionpreference")).lower()
        if exc.script_level:
            # about_Throw: $ErrorActionPreference SilentlyContinue/Ignore suppresses even throw.
            if action not in ("silentlycontinue", "ignore"):
                raise exc
            self.error_variable.insert(0, ErrorView.of(exc.record))
            return
        if action in ("stop", "inquire"):
            raise ScriptError(exc.record, script_level=True) from exc
        self.error_variable.insert(0, ErrorView.of(exc.record))
        if action not in ("silentlycontinue", "ignore"):
            self.errors.append(exc.record)

    def value_of(self, stmt: A.Stmt, scope: Scope) -> Any:
        """A statement used as a value: a pipeline's output collected, an expression as it is."""
        if isinstance(stmt, A.Pipeline):
            return collect(self.run_pipeline(stmt, scope))
        if isinstance(stmt, A.Assign):
            self._assign(stmt, scope)
            return self.eval(stmt.target, scope) if not isinstance(stmt.target, A.Const) else NOTHING
        handler = self._stmt.get(type(stmt))
        if handler is None:
            return self.eval(stmt, scope)  # type: ignore[arg-type]
        out: list[Any] = []
        self.run_body([stmt], scope, out)
        return collect(out)

    def items_of(self, stmt: A.Stmt, scope: Scope) -> list[Any]:
        if isinstance(stmt, A.Pipeline):
            return self.run_pipeline(stmt, scope)
        return [] if (v := self.value_of(stmt, scope)) is None else enumerate_value(v)

    # ---- statements -------------------------------------------------------------------------------------------

    def _assign(self, node: A.Assign, scope: Scope) -> None:
        value = self.value_of(node.value, scope)
        if node.op != "=":
            value = arithmetic(node.op[0], self.eval(node.target, scope), value)
        self.assign(node.target, value, scope)

    def _if(self, node: A.If, scope: Scope, out: list[Any]) -> None:
        for cond, body in node.clauses:
            if to_bool(self.value_of(cond, scope)):
                self.run_body(body, scope, out)
                return
        if node.otherwise is not None:
            self.run_body(node.otherwise, scope, out)

    def _foreach(self, node: A.Foreach, scope: Scope, out: list[Any]) -> None:
        # about_Foreach: $null is not iterated (PS 3.0+); a scalar is one iteration.
        value = self.value_of(node.items, scope)
        items = [] if value is None else enumerate_value(value)
        for item in items:
            scope.set(node.var, item)
            try:
                self.run_body(node.body, scope, out)
            except BreakSignal:
                break
            except ContinueSignal:
                continue

    def _loop(self, node: A.Loop, scope: Scope, out: list[Any]) -> None:
        if node.init is not None:
            self.value_of(node.init, scope)
        count = 0
        first = True
        while True:
            if not (node.test_after and first) and node.cond is not None:
                hit = to_bool(self.value_of(node.cond, scope))
                if hit == node.until:
                    return
            first = False
            count += 1
            if count > LOOP_LIMIT:
                raise ScriptError(
                    ErrorRecord(
                        f"The lab engine stopped a loop after {LOOP_LIMIT} iterations.",
                        "LoopLimitExceeded",
                        "LimitsExceeded",
                        line=node.line,
                    ),
                    True,
                )
            try:
                self.run_body(node.body, scope, out)
            except BreakSignal:
                return
            except ContinueSignal:
                pass
            if node.step is not None:
                self.value_of(node.step, scope)

    def _flow(self, node: A.Flow, scope: Scope, out: list[Any]) -> None:
        kind = node.kind
        if kind == "break":
            raise BreakSignal()
        if kind == "continue":
            raise ContinueSignal()
        if kind == "return":
            if node.value is not None:
                out.extend(
                    self.items_of(node.value, scope)
                    if isinstance(node.value, A.Pipeline)
                    else enumerate_value(self.value_of(node.value, scope))
                )
            raise ReturnSignal(out)
        if kind == "exit":
            raise ExitSignal()
        if node.value is None and self.catching:  # a bare throw in catch rethrows (about_Throw)
            raise ScriptError(self.catching[-1], script_level=True)
        value = self.value_of(node.value, scope) if node.value is not None else None
        raise ScriptError(self._thrown(value, node.line), script_level=True)

    def _thrown(self, value: Any, line: int) -> ErrorRecord:
        """``throw``: an ErrorRecord again, or a message whose FullyQualifiedErrorId is the text itself."""
        if value is NOTHING or value is None:
            return ErrorRecord("ScriptHalted", "ScriptHalted", "OperationStopped", line=line)
        if isinstance(value, ErrorView):
            return value.record
        text = to_str(value)
        return ErrorRecord(text, text, "OperationStopped", target=value, line=line)

    def _try(self, node: A.Try, scope: Scope, out: list[Any]) -> None:
        try:
            self.try_depth += 1
            try:
                self.run_body(node.body, scope, out)
            finally:
                self.try_depth -= 1
        except ScriptError as exc:
            clause = next((c for c in node.catches if _catches(c, exc.record)), None)
            if clause is None:
                if node.final is not None:
                    self.run_body(node.final, scope, out)
                raise
            view = ErrorView.of(exc.record)
            self.error_variable.insert(0, view)
            saved = scope.vars.get("_", NOTHING)
            scope.set("_", view)
            self.catching.append(exc.record)
            try:
                self.run_body(clause.body, scope, out)
            finally:
                self.catching.pop()
                if saved is NOTHING:
                    scope.vars.pop("_", None)
                else:
                    scope.set("_", saved)
                if node.final is not None:
                    self.run_body(node.final, scope, out)
            return
        if node.final is not None:
            self.run_body(node.final, scope, out)

    # ---- pipelines ----------------------------------------------------------------------------------------

    def run_pipeline(self, node: A.Pipeline, scope: Scope) -> list[Any]:
        """Stages run one after another over whole lists (no streaming: begin/process/end order is not
        observable in the subset)."""
        data: list[Any] = []
        for stage in node.stages:
            if isinstance(stage, A.CommandCall):
                data = self.invoke(stage, scope, data)
            else:
                data = enumerate_value(self.eval(stage, scope))
        return data

    def tokens(self, call: A.CommandCall, scope: Scope) -> list[Token]:
        out: list[Token] = []
        for arg in call.args:
            if isinstance(arg, A.ParamArg):
                out.append(Named(arg.name, NOTHING if arg.value is None else plain(self.eval(arg.value, scope))))
            elif isinstance(arg, A.Var) and arg.splat:
                # about_Splatting: a hashtable splats named parameters, an array positional ones.
                value = scope.get(arg.name)
                if isinstance(value, CaseInsensitiveDict):
                    out.extend(Named(k, v, from_splat=True) for k, v in value.items())
                elif value is not None:
                    out.extend(Positional(v) for v in enumerate_value(value))
            else:
                out.append(Positional(plain(self.eval(arg, scope))))
        return out


def _catches(clause: A.Catch, record: ErrorRecord) -> bool:
    if not clause.types:
        return True
    full = record.exception_type.lower()
    short = full.rsplit(".", 1)[-1]
    for t in clause.types:
        if t in ("exception", "system.exception") or t in (full, short) or full.endswith("." + t):
            return True
        if t in ("runtimeexception", "management.automation.runtimeexception") and "commandnotfound" not in full:
            return True
    return False


__all__ = ["LOOP_LIMIT", "Interpreter"]
