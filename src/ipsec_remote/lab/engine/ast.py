"""The compact syntax tree the engine walks.

The tree-sitter tree is deep (a literal ``1`` sits under ~12 wrapper nodes) and its nodes are slow to
walk from Python, so ``parser`` turns it once into these small slotted nodes; ``Script`` objects are cached
by text and reused for every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Const:
    value: Any


@dataclass(slots=True)
class Var:
    name: str  # lower-case, scope prefix (script:/local:/global:) stripped
    splat: bool = False


@dataclass(slots=True)
class ExpandString:
    parts: list[str | Expr]


@dataclass(slots=True)
class ArrayLiteral:
    items: list[Expr]  # the comma operator: ``1, 2, 3``


@dataclass(slots=True)
class ArrayExpr:
    body: list[Stmt]  # ``@( ... )``


@dataclass(slots=True)
class SubExpr:
    body: list[Stmt]  # ``$( ... )``


@dataclass(slots=True)
class Paren:
    pipeline: Stmt  # ``( ... )``


@dataclass(slots=True)
class HashLiteral:
    entries: list[tuple[Expr, Stmt]]


@dataclass(slots=True)
class Cast:
    type_name: str  # lower-case, e.g. ``string``, ``string[]``, ``pscustomobject``
    expr: Expr


@dataclass(slots=True)
class TypeRef:
    type_name: str  # ``[datetime]`` on its own, before ``::``


@dataclass(slots=True)
class Member:
    target: Expr
    name: str | Expr
    static: bool = False


@dataclass(slots=True)
class MethodCall:
    target: Expr
    name: str
    args: list[Expr]
    static: bool = False


@dataclass(slots=True)
class Index:
    target: Expr
    index: Expr


@dataclass(slots=True)
class Unary:
    op: str  # -not, !, -, +, -join, -split, ,
    operand: Expr


@dataclass(slots=True)
class Binary:
    op: str  # lower-case operator, e.g. -eq, -and, +, -f
    left: Expr
    right: Expr


@dataclass(slots=True)
class ScriptBlockLiteral:
    block: Block
    text: str = ""  # the source between the braces: a script block's ToString()


@dataclass(slots=True)
class IncDec:
    target: Expr
    delta: int
    postfix: bool


# ---- statements --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Assign:
    target: Expr
    op: str  # =, +=, -=, *=, /=
    value: Stmt
    line: int = 0


@dataclass(slots=True)
class ParamArg:
    name: str  # as written, without the dash
    value: Expr | None  # ``-Name:value`` form
    line: int = 0


@dataclass(slots=True)
class CommandCall:
    name: str | Expr  # a bareword name, or the expression after ``&``
    args: list[ParamArg | Expr]  # a Var with splat=True is ``@splat``
    line: int = 0


@dataclass(slots=True)
class Pipeline:
    stages: list[CommandCall | Expr]  # only the first stage may be an expression
    line: int = 0


@dataclass(slots=True)
class If:
    clauses: list[tuple[Stmt, list[Stmt]]]
    otherwise: list[Stmt] | None
    line: int = 0


@dataclass(slots=True)
class Foreach:
    var: str
    items: Stmt
    body: list[Stmt]
    line: int = 0


@dataclass(slots=True)
class Loop:
    """``for``, ``while`` and ``do { } while/until``: init; test before (or after) each pass; step."""

    init: Stmt | None
    cond: Stmt | None
    step: Stmt | None
    body: list[Stmt]
    test_after: bool = False
    until: bool = False
    line: int = 0


@dataclass(slots=True)
class Flow:
    kind: str  # break, continue, return, throw, exit
    value: Stmt | None
    line: int = 0


@dataclass(slots=True)
class Catch:
    types: list[str]
    body: list[Stmt]


@dataclass(slots=True)
class Try:
    body: list[Stmt]
    catches: list[Catch]
    final: list[Stmt] | None
    line: int = 0


@dataclass(slots=True)
class ParamDecl:
    name: str  # lower-case variable name
    type_name: str | None
    default: Stmt | None
    mandatory: bool = False
    label: str = ""  # the name as written, for messages


@dataclass(slots=True)
class Block:
    params: list[ParamDecl]
    body: list[Stmt]
    has_param_block: bool = False
    advanced: bool = False  # [CmdletBinding()] or [Parameter()]: common parameters, no stray arguments


@dataclass(slots=True)
class FunctionDef:
    name: str
    block: Block
    line: int = 0


@dataclass(slots=True)
class Script:
    block: Block
    text: str = field(repr=False, default="")


Expr = (
    Const
    | Var
    | ExpandString
    | ArrayLiteral
    | ArrayExpr
    | SubExpr
    | Paren
    | HashLiteral
    | Cast
    | TypeRef
    | Member
    | MethodCall
    | Index
    | Unary
    | Binary
    | ScriptBlockLiteral
    | IncDec
)
Stmt = Expr | Assign | CommandCall | Pipeline | If | Foreach | Loop | Flow | Try | FunctionDef
