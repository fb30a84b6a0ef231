"""Calling things: host/built-in commands (bound by ``binding``), script functions and script blocks."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..commands import NativeCommand, binding_error, command_not_found
from ..values import CaseInsensitiveDict, ErrorRecord, PowerShellError
from . import ast as A
from .binding import COMMON, Named, Positional, Token, bind, convert, resolve
from .errors import BreakSignal, ContinueSignal, ExitSignal, ReturnSignal, ScriptError
from .members import cast
from .scope import Scope
from .values import NOTHING, ErrorView, ScriptBlock, plain, to_bool, to_str

_TYPE_DEFAULTS: dict[str, Any] = {
    "string": "",
    "int": 0,
    "int32": 0,
    "long": 0,
    "int64": 0,
    "uint32": 0,
    "double": 0.0,
    "bool": False,
    "boolean": False,
    "switch": False,
    "uint16": 0,
    "uint64": 0,
}


class Context:
    """The ``InvocationContext`` a command sees; also carries the engine's side streams for built-ins."""

    def __init__(
        self, interp: CommandRunner, scope: Scope, command: str, common: CaseInsensitiveDict, line: int,
        ignores_caller_preference: bool = False,
    ) -> None:
        self.interp = interp
        self.scope = scope
        self.command = command
        self.common = common
        self.line = line
        self.ignores_caller_preference = ignores_caller_preference

    def error_action(self) -> str:
        given = self.common.get("ErrorAction")
        if given is not None:
            return to_str(given).lower()
        if self.ignores_caller_preference:
            # A module function (CDXML cmdlet) reads $ErrorActionPreference in its module's scope chain, not
            # the calling script's (PowerShell issues 4568, 24389): the default Continue, unless -ErrorAction.
            return "continue"
        return to_str(self.scope.get("erroractionpreference")).lower()

    def write_error(self, record: ErrorRecord) -> None:
        if record.command is None:
            record.command = self.command
        if record.line is None:
            record.line = self.line
        action = self.error_action()
        if action in ("stop", "inquire"):
            raise ScriptError(record, script_level=True)
        variable = self.common.get("ErrorVariable")
        if variable:
            name = to_str(variable).lower()
            current = self.scope.get(name.lstrip("+")) if name.startswith("+") else None
            items = list(current) if isinstance(current, list) else []
            self.scope.set(name.lstrip("+"), [*items, ErrorView.of(record)])
        if action == "ignore":
            return
        self.interp.error_variable.insert(0, ErrorView.of(record))
        if action != "silentlycontinue":
            self.interp.errors.append(record)

    def write_warning(self, message: str) -> None:
        action = to_str(self.common.get("WarningAction") or self.scope.get("warningpreference")).lower()
        if action not in ("silentlycontinue", "ignore"):
            self.interp.warnings.append(message)

    def write_verbose(self, message: str) -> None:
        if self.common.get("Verbose") or to_str(self.scope.get("verbosepreference")).lower() == "continue":
            self.interp.verbose.append(message)

    def write_information(self, message: str) -> None:
        self.interp.information.append(message)

    def get_variable(self, name: str) -> Any:
        return plain(self.scope.get(name.lower()))

    def set_variable(self, name: str, value: Any) -> None:
        self.scope.set(name.lower(), value)

    def invoke_scriptblock(self, block: Any, dollar_under: Any = None, args: list[Any] | None = None) -> list[Any]:
        """Where-Object/ForEach-Object blocks run in the caller's scope with ``$_`` set (about_Automatic_Variables)."""
        if not isinstance(block, ScriptBlock):
            raise ScriptError(
                ErrorRecord(
                    f"Cannot invoke '{to_str(block)}': not a script block.", "NotAScriptBlock", "InvalidArgument"
                ),
                script_level=False,
            )
        if args is not None:  # with arguments: a child scope with param()/$args bound, like & { } args
            child = Scope(self.scope)
            child.set("_", dollar_under)
            tokens: list[Token] = [Positional(a) for a in args]
            return self.interp.call_block(block.block, tokens, child, [], "<ScriptBlock>")
        saved = self.scope.vars.get("_", NOTHING)
        self.scope.set("_", dollar_under)
        out: list[Any] = []
        try:
            self.interp.run_body(block.block.body, self.scope, out)
        except ReturnSignal:
            pass  # return in a ForEach-Object block ends this one invocation
        finally:
            if saved is NOTHING:
                self.scope.vars.pop("_", None)
            else:
                self.scope.set("_", saved)
        return out


class CommandRunner:
    """Mixin of ``Interpreter``: resolves a command name and runs it."""

    commands: Any
    errors: list[ErrorRecord]
    error_variable: list[Any]
    warnings: list[str]
    verbose: list[str]
    information: list[str]

    if TYPE_CHECKING:  # provided by Interpreter / ExpressionMixin

        def eval(self, node: A.Expr, scope: Scope) -> Any: ...

        def tokens(self, call: A.CommandCall, scope: Scope) -> list[Token]: ...

        def run_body(self, body: list[A.Stmt], scope: Scope, out: list[Any]) -> None: ...

        def value_of(self, stmt: A.Stmt, scope: Scope) -> Any: ...

    def invoke(
        self,
        call: A.CommandCall,
        scope: Scope,
        data: list[Any],
    ) -> list[Any]:
        target: Any = call.name if isinstance(call.name, str) else self.eval(call.name, scope)
        return self.invoke_target(target, self.tokens(call, scope), scope, data, call.line)

    def invoke_target(
        self,
        target: Any,
        tokens: list[Token],
        scope: Scope,
        data: list[Any],
        line: int,
    ) -> list[Any]:
        if isinstance(target, ScriptBlock):  # & { ... } runs in a child scope
            return self.call_block(target.block, tokens, Scope(scope), data, "<ScriptBlock>")
        name = to_str(target)
        function = scope.function(name)
        if function is not None:
            return self.call_block(function.block, tokens, Scope(scope), data, function.name)
        command = self.commands.get(name)
        if command is None:
            raise ScriptError(command_not_found(name).record, script_level=False)
        if isinstance(command, NativeCommand):
            return self._run_native(command, tokens, scope, line)
        try:
            args, common = bind(command, tokens, data)
        except PowerShellError as exc:
            raise ScriptError(exc.record, script_level=False) from exc
        ctx = Context(self, scope, command.name, common, line,
                      bool(getattr(command, "ignores_caller_preference", False)))
        out: list[Any] = []
        try:
            for item in command.invoke(ctx, args, data):
                out.append(item)
        except (ScriptError, BreakSignal, ContinueSignal, ReturnSignal, ExitSignal):
            raise
        except PowerShellError as exc:
            if exc.record.command is None:
                exc.record.command = command.name
            if not exc.terminating:
                ctx.write_error(exc.record)
                return out
            # A cmdlet's terminating error ends its statement (ThrowTerminatingError semantics).
            raise ScriptError(exc.record, script_level=False) from exc
        except Exception as exc:  # a bug in a lab command must not crash the engine
            record = ErrorRecord(
                f"{type(exc).__name__}: {exc}",
                f"LabCommandFailure,{command.name}",
                "NotSpecified",
                "System.InvalidOperationException",
                command=command.name,
            )
            raise ScriptError(record, script_level=False) from exc
        return out

    def _run_native(self, command: Any, tokens: list[Token], scope: Scope, line: int) -> list[Any]:
        """about_Parsing: a native command gets its arguments as strings (arrays spread, ``-Name`` passed as
        text); its output lines come back as strings and its exit code lands in the global $LASTEXITCODE."""
        argv: list[str] = []
        for tok in tokens:
            if isinstance(tok, Named):
                argv.append("-" + tok.name + ("" if tok.value is NOTHING else ":" + to_str(tok.value)))
            else:
                values = tok.value if isinstance(tok.value, (list, tuple)) else [tok.value]
                argv.extend(to_str(v) for v in values)
        ctx = Context(self, scope, command.name, CaseInsensitiveDict(), line)
        lines, code = command.run(ctx, argv)
        root = scope
        while root.parent is not None:
            root = root.parent
        root.set("lastexitcode", code)
        return list(lines)

    def call_block(
        self,
        block: A.Block,
        tokens: list[Token],
        scope: Scope,
        data: list[Any],
        name: str,
    ) -> list[Any]:
        self.bind_params(block, tokens, scope, name)
        scope.set("input", list(data))
        out: list[Any] = []
        with contextlib.suppress(ReturnSignal):
            self.run_body(block.body, scope, out)
        return out

    def _common_parameter(self, tok: Named, tokens: list[Token], i: int, scope: Scope) -> int | None:
        """An advanced function's -ErrorAction sets its local $ErrorActionPreference; the other common
        parameters are accepted and ignored. Returns how many following tokens were consumed, or None."""
        try:
            spec = resolve("function", COMMON, tok.name)
        except PowerShellError:
            return None
        value, used = tok.value, 0
        if value is NOTHING and not spec.is_switch and i < len(tokens) and isinstance(nxt := tokens[i], Positional):
            value, used = nxt.value, 1
        if spec.name == "ErrorAction":
            scope.set("erroractionpreference", convert("function", spec, value))
        return used

    def bind_params(
        self,
        block: A.Block,
        tokens: list[Token],
        scope: Scope,
        name: str,
    ) -> None:
        """Bind a script's or function's ``param()``: names/prefixes, then positions; the rest is ``$args``."""
        decls = {d.name: d for d in block.params}
        bound: dict[str, Any] = {}
        positional: list[Any] = []
        stray: list[Any] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if isinstance(tok, Positional):
                positional.append(tok.value)
                continue
            low = tok.name.lower()
            hits = [d for d in decls if d == low] or [d for d in decls if d.startswith(low)]
            if len(hits) != 1:
                used = self._common_parameter(tok, tokens, i, scope) if not hits and block.advanced else None
                if used is not None:
                    i += used
                    continue
                if not hits and not block.advanced:
                    # A simple function's unknown -Name goes to $args (about_Functions_Advanced_Parameters).
                    stray.append("-" + tok.name if tok.value is NOTHING else tok.value)
                    continue
                message = (
                    f"A parameter cannot be found that matches parameter name '{tok.name}'."
                    if not hits
                    else f"Parameter cannot be processed because the parameter name '{tok.name}' is ambiguous. "
                    f"Possible matches include: {' '.join('-' + h for h in hits)}."
                )
                raise ScriptError(
                    binding_error(name, message, "NamedParameterNotFound" if not hits else "AmbiguousParameter").record,
                    script_level=False,
                )
            decl = decls[hits[0]]
            value = tok.value
            if value is NOTHING:
                if decl.type_name == "switch":
                    value = True
                elif tok.from_splat:
                    value = None
                elif i < len(tokens) and isinstance(nxt := tokens[i], Positional):
                    value = nxt.value
                    i += 1
                else:
                    raise ScriptError(
                        binding_error(
                            name,
                            f"Missing an argument for parameter '{tok.name}'. Specify "
                            "a parameter of type 'System.Object' and try again.",
                            "MissingArgument",
                        ).record,
                        script_level=False,
                    )
            bound[decl.name] = value
        free = [d for d in decls if d not in bound]
        while positional and free:
            bound[free.pop(0)] = positional.pop(0)
        if positional and block.advanced:
            raise ScriptError(
                binding_error(
                    name,
                    f"A positional parameter cannot be found that accepts argument '{to_str(positional[0])}'.",
                    "PositionalParameterNotFound",
                ).record,
                False,
            )
        scope.set("args", positional + stray)
        missing = [d.label for d in block.params if d.mandatory and d.name not in bound]
        if missing:
            names = " ".join(missing)
            raise ScriptError(
                binding_error(
                    name,
                    f"Cannot process command because of one or more missing mandatory parameters: {names}.",
                    "MissingMandatoryParameter",
                ).record,
                False,
            )
        for decl in block.params:
            if decl.name in bound:
                value = bound[decl.name]
            elif decl.default is not None:
                value = self.value_of(decl.default, scope)
            else:
                # An unset typed parameter holds its type's default value ([datetime] is MinValue).
                value = _TYPE_DEFAULTS.get(decl.type_name or "")
                if decl.type_name == "datetime":
                    value = datetime.min
                scope.set(decl.name, value)
                continue
            if decl.type_name == "switch":
                value = to_bool(value)
            elif decl.type_name and decl.type_name != "object":
                try:
                    value = cast(decl.type_name, value)
                except ScriptError as exc:
                    raise ScriptError(
                        binding_error(
                            name,
                            f"Cannot process argument transformation on parameter '{decl.label}'. {exc.record.message}",
                            "ParameterArgumentTransformationError",
                        ).record,
                        False,
                    ) from exc
            scope.set(decl.name, value)
