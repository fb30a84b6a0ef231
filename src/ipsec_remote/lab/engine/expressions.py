"""Expression evaluation (the statement/command half is ``evaluator.Interpreter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..values import PSHashtable
from . import ast as A
from .errors import runtime_error
from .members import call_method, cast, get_member, index, set_index, set_member, static_member, static_method
from .operators import COMPARISON_NAMES, arithmetic, compare, join, replace, split
from .scope import Scope
from .values import ScriptBlock, collect, custom_object, plain, to_bool, to_str

_COMPARISONS = frozenset(f"-{c}{op}" for c in ("", "c") for op in COMPARISON_NAMES)
_ARITH = frozenset(["+", "-", "*", "/", "%", "..", "-f", "-band", "-bor", "-bxor"])


class ExpressionMixin:
    """``eval`` for every ``ast.Expr`` node; dispatch by node class, set up once."""

    def _init_dispatch(self) -> None:
        self._expr: dict[type, Callable[[Any, Scope], Any]] = {
            A.Const: lambda n, s: n.value,
            A.Var: self._var,
            A.ExpandString: self._expand,
            A.ArrayLiteral: lambda n, s: [plain(self.eval(i, s)) for i in n.items],
            A.ArrayExpr: self._array_expr,
            A.SubExpr: self._sub_expr,
            A.Paren: lambda n, s: self.value_of(n.pipeline, s),
            A.HashLiteral: self._hash,
            A.Cast: self._cast,
            A.TypeRef: self._type_ref,
            A.Member: self._member,
            A.MethodCall: self._method,
            A.Index: lambda n, s: index(self.eval(n.target, s), self.eval(n.index, s)),
            A.Unary: self._unary,
            A.Binary: self._binary,
            A.ScriptBlockLiteral: lambda n, s: ScriptBlock(n.block, n.text),
            A.IncDec: self._incdec,
        }

    def eval(self, node: A.Expr, scope: Scope) -> Any:
        return self._expr[type(node)](node, scope)

    # provided by Interpreter
    def value_of(self, stmt: A.Stmt, scope: Scope) -> Any:
        raise NotImplementedError

    def run_body(self, body: list[A.Stmt], scope: Scope, out: list[Any]) -> None:
        raise NotImplementedError

    def _type_ref(self, node: A.TypeRef, scope: Scope) -> Any:
        raise runtime_error(f"A type literal [{node.type_name}] cannot be used as a value here.", "TypeLiteral")

    def _var(self, node: A.Var, scope: Scope) -> Any:
        name = node.name
        if name.startswith("env:"):
            return self.env.get(name[4:])  # type: ignore[attr-defined]
        return scope.get(name)

    def _expand(self, node: A.ExpandString, scope: Scope) -> str:
        return "".join(p if isinstance(p, str) else to_str(self.eval(p, scope)) for p in node.parts)

    def _array_expr(self, node: A.ArrayExpr, scope: Scope) -> list[Any]:
        out: list[Any] = []
        self.run_body(node.body, scope, out)
        return out

    def _sub_expr(self, node: A.SubExpr, scope: Scope) -> Any:
        out: list[Any] = []
        self.run_body(node.body, scope, out)
        return collect(out)

    def _hash(self, node: A.HashLiteral, scope: Scope) -> PSHashtable:
        table = PSHashtable()
        for key_node, value_node in node.entries:
            key = to_str(self.eval(key_node, scope))
            if key in table:
                raise runtime_error(
                    f"Duplicate keys '{key}' are not allowed in hash literals.",
                    "DuplicateKeyInHashLiteral",
                    "ParserError",
                )
            table[key] = plain(self.value_of(value_node, scope))
        return table

    def _cast(self, node: A.Cast, scope: Scope) -> Any:
        value = self.eval(node.expr, scope)
        if node.type_name in ("pscustomobject", "psobject") and isinstance(node.expr, A.HashLiteral):
            return custom_object(value)
        return cast(node.type_name, value)

    def _member(self, node: A.Member, scope: Scope) -> Any:
        name = node.name if isinstance(node.name, str) else to_str(self.eval(node.name, scope))
        if node.static and isinstance(node.target, A.TypeRef):
            return static_member(node.target.type_name, name)
        return get_member(self.eval(node.target, scope), name)

    def _method(self, node: A.MethodCall, scope: Scope) -> Any:
        args = [self.eval(a, scope) for a in node.args]
        if node.static and isinstance(node.target, A.TypeRef):
            return static_method(node.target.type_name, node.name, args)
        return call_method(self.eval(node.target, scope), node.name, args)

    def _unary(self, node: A.Unary, scope: Scope) -> Any:
        value = self.eval(node.operand, scope)
        op = node.op
        if op in ("-not", "!"):
            return not to_bool(value)
        if op == "-":
            return arithmetic("-", 0, value)
        if op == "+":
            return arithmetic("+", 0, value)
        if op == "-join":
            return join(value, "")
        if op == "-split":
            return [w for w in to_str(value).split() if w]
        return ~int(arithmetic("+", 0, value))

    def _binary(self, node: A.Binary, scope: Scope) -> Any:
        op = node.op
        if op in ("-and", "-or"):  # short-circuit (about_Logical_Operators)
            left = to_bool(self.eval(node.left, scope))
            if op == "-and":
                return left and to_bool(self.eval(node.right, scope))
            return left or to_bool(self.eval(node.right, scope))
        left = self.eval(node.left, scope)
        right = self.eval(node.right, scope)
        if op in _COMPARISONS:
            return compare(op, left, right, lambda m: scope.set("matches", m))
        if op in _ARITH:
            return arithmetic(op, left, right)
        if op == "-xor":
            return to_bool(left) != to_bool(right)
        if op in ("-join",):
            return join(left, right)
        if op in ("-split", "-csplit"):
            return split(left, right, op == "-csplit")
        if op in ("-replace", "-creplace"):
            return replace(left, right, op == "-creplace")
        raise runtime_error(f"Unexpected operator '{op}'.", "UnexpectedToken")

    def _incdec(self, node: A.IncDec, scope: Scope) -> Any:
        old = self.eval(node.target, scope)
        new = arithmetic("+", 0 if old is None else old, node.delta)
        self.assign(node.target, new, scope)
        return old if node.postfix else new

    def assign(self, target: A.Expr, value: Any, scope: Scope) -> None:
        if isinstance(target, A.Var):
            scope.set(target.name, value)  # a variable may hold AutomationNull (``$x = Get-Nothing``)
            return
        value = plain(value)
        if isinstance(target, A.Const) and target.value is None:
            return  # $null = ...
        elif isinstance(target, A.Cast):
            self.assign(target.expr, cast(target.type_name, value), scope)
        elif isinstance(target, A.Member):
            name = target.name if isinstance(target.name, str) else to_str(self.eval(target.name, scope))
            set_member(self.eval(target.target, scope), name, value)
        elif isinstance(target, A.Index):
            set_index(self.eval(target.target, scope), self.eval(target.index, scope), value)
        else:
            raise runtime_error(
                "The assignment expression is not valid. The input to an assignment operator must be "
                "an object that is able to accept assignments, such as a variable or a property.",
                "InvalidLeftHandSide",
                "ParserError",
            )


__all__ = ["ExpressionMixin"]
