"""tree-sitter-powershell tree -> the engine's compact AST, rejecting anything outside the subset.

Every construct the engine cannot run is refused here, at parse time, with its line, so ``lint_script``
catches it statically instead of a lab host failing half-way through a script.
"""

from __future__ import annotations

import functools
import re
import typing

from . import ast as A
from .errors import UnsupportedConstruct
from .grammar import (
    _UNSUPPORTED_COMMANDS,
    _UNSUPPORTED_NODES,
    Node,
    _kids,
    _line,
    _txt,
    _unsupported,
    check_errors,
    is_advanced,
    looks_numeric,
    param_name,
    parse_tree,
    retry_text,
    type_name_of,
    var_name,
)
from .parse_expr import convert_expr

_EXPRESSIONS = typing.get_args(A.Expr)


@functools.lru_cache(maxsize=512)
def parse_script(text: str) -> A.Script:
    """Parse ``text`` once (cached by text) into the engine's AST; raise ``UnsupportedConstruct``."""
    tree = parse_tree(text.encode("utf-8"))
    if tree.root_node.has_error:
        # Two valid PowerShell forms the grammar rejects: a bareword comma list in argument mode
        # (``Get-Service -Name IKEEXT, BFE``) and a statement on the line of ``param(...)``. Quoting the
        # barewords / adding a ';' after the block keeps values and line numbers. Only tried on failure.
        quoted = retry_text(text)
        if quoted != text:
            retry = parse_tree(quoted.encode("utf-8"))
            if not retry.root_node.has_error:
                tree = retry
    check_errors(tree.root_node)
    return A.Script(block=_Converter().block(tree.root_node), text=text)


# A bareword argument: not a number, not a variable/quote/sub-expression; IP addresses and wildcards included.
def lint_script(text: str) -> list[str]:
    """Static check: [] when ``text`` stays inside the engine's subset, else the problems found."""
    try:
        parse_script(text)
    except UnsupportedConstruct as exc:
        return [str(exc)]
    return []


# The only .NET type a lab host can construct (lab/host/sockets.py): verify.ps1's bounded connect.
_NEW_OBJECT_TYPES = ("system.net.sockets.tcpclient", "net.sockets.tcpclient")


def _new_object_type(args: list[A.ParamArg | A.Expr]) -> str | None:
    """The literal -TypeName (named or first positional) of a New-Object call, lower-cased."""
    for i, arg in enumerate(args):
        if isinstance(arg, A.ParamArg) and "typename".startswith(arg.name.lower()):
            value = arg.value if arg.value is not None else (args[i + 1] if i + 1 < len(args) else None)
            return str(value.value).lower() if isinstance(value, A.Const) else None
        if isinstance(arg, A.ParamArg):
            continue
        previous = args[i - 1] if i else None
        if not (isinstance(previous, A.ParamArg) and previous.value is None):
            return str(arg.value).lower() if isinstance(arg, A.Const) else None
    return None


class _Converter:
    def block(self, node: Node) -> A.Block:
        """A program, script block or function body: optional ``param()`` and statements."""
        params: list[A.ParamDecl] = []
        has_param = advanced = False
        body: list[A.Stmt] = []
        for child in _kids(node):
            if child.type == "param_block":
                has_param = True
                params = self.params(child)
                advanced = advanced or is_advanced(child)
            elif child.type in ("statement_list", "script_block_body", "script_block"):
                inner = self.block(child)
                if inner.has_param_block:
                    has_param, params, advanced = True, inner.params, inner.advanced
                body.extend(inner.body)
            else:
                body.extend(self.statements(child))
        return A.Block(params=params, body=body, has_param_block=has_param, advanced=advanced)

    def statements(self, node: Node | None) -> list[A.Stmt]:
        if node is None:
            return []
        if node.type in ("statement_list", "statement_block", "script_block_body"):
            out: list[A.Stmt] = []
            for child in _kids(node):
                out.extend(self.statements(child))
            return out
        if node.type == "empty_statement":
            return []
        stmt = self.stmt(node)
        if isinstance(stmt, _EXPRESSIONS) and not isinstance(stmt, A.IncDec):
            # An expression statement writes its value to the pipeline; as a one-stage pipeline it also
            # carries its line for error records.
            return [A.Pipeline([stmt], _line(node))]
        return [stmt]

    def params(self, node: Node) -> list[A.ParamDecl]:
        out: list[A.ParamDecl] = []
        plist = next((c for c in _kids(node) if c.type == "parameter_list"), node)
        for p in _kids(plist):
            if p.type == "variable":
                out.append(A.ParamDecl(var_name(_txt(p)), None, None, label=_txt(p).lstrip("$")))
                continue
            if p.type != "script_parameter":
                continue
            type_name, mandatory, default, name, label = None, False, None, "", ""
            for c in _kids(p):
                if c.type == "attribute_list":
                    for attr in _kids(c):
                        inner = _kids(attr)
                        if attr.type == "type_literal" or (len(inner) == 1 and inner[0].type == "type_literal"):
                            type_name = type_name_of(attr)
                        elif re.search(r"\bmandatory\b(?!\s*=\s*\$false)", _txt(attr), re.I):
                            mandatory = True
                elif c.type == "variable":
                    name, label = var_name(_txt(c)), _txt(c).lstrip("$")
                elif c.type == "script_parameter_default":
                    default = self.stmt(_kids(c)[0])
            out.append(A.ParamDecl(name, type_name, default, mandatory, label))
        return out

    # ---- statements -----------------------------------------------------------------------------------

    def stmt(self, node: Node) -> A.Stmt:
        t = node.type
        if t in _UNSUPPORTED_NODES:
            raise _unsupported(_UNSUPPORTED_NODES[t], node)
        kids = _kids(node)
        if t in ("pipeline", "pipeline_chain"):
            if len(kids) == 1:
                return self.stmt(kids[0])
            return A.Pipeline([self.stage(k, i) for i, k in enumerate(kids)], _line(node))
        if t == "command":
            if looks_numeric(node):
                return self.reparse(node)
            return A.Pipeline([self.command(node)], _line(node))
        if t == "assignment_expression":
            op = next(_txt(c) for c in kids if c.type == "assignement_operator")
            if op not in ("=", "+=", "-=", "*=", "/="):
                raise _unsupported(f"assignment operator {op}", node)
            return A.Assign(self.expr(kids[0]), op, self.stmt(kids[-1]), _line(node))
        if t == "if_statement":
            return self.if_stmt(node)
        if t == "foreach_statement":
            var = next(c for c in kids if c.type == "variable")
            return A.Foreach(var_name(_txt(var)), self.stmt(kids[1]), self.statements(kids[-1]), _line(node))
        if t == "for_statement":

            def part(field: str) -> A.Stmt | None:
                found = node.child_by_field_name(field)
                return self.stmt(found) if found is not None else None

            return A.Loop(
                part("for_initializer"),
                part("for_condition"),
                part("for_iterator"),
                self.statements(kids[-1]),
                line=_line(node),
            )
        if t in ("while_statement", "do_statement"):
            cond = node.child_by_field_name("condition")
            body = next(c for c in kids if c.type == "statement_block")
            until = any(c.type == "until" for c in node.children)
            return A.Loop(
                None,
                self.stmt(cond),
                None,
                self.statements(body),
                test_after=t == "do_statement",
                until=until,
                line=_line(node),
            )
        if t == "flow_control_statement":
            keyword = node.children[0].type
            if keyword not in ("break", "continue", "return", "throw", "exit"):
                raise _unsupported(keyword, node)
            if keyword in ("break", "continue") and kids:
                raise _unsupported("loop label", node)
            return A.Flow(keyword, self.stmt(kids[0]) if kids else None, _line(node))
        if t == "try_statement":
            return self.try_stmt(node)
        if t == "function_statement":
            keyword = node.children[0].type
            if keyword != "function":
                raise _unsupported(keyword, node)
            name = _txt(next(c for c in kids if c.type == "function_name"))
            params: list[A.ParamDecl] = []
            rest = []
            for c in kids:
                if c.type == "function_parameter_declaration":
                    params = self.params(c)
                elif c.type != "function_name":
                    rest.append(c)
            block = A.Block(params, [])
            for c in rest:
                inner = self.block(c) if c.type in ("script_block", "param_block") else None
                if c.type == "param_block":
                    block.params, block.has_param_block = self.params(c), True
                    block.advanced = is_advanced(c)
                elif inner is not None:
                    if inner.has_param_block:
                        block.params, block.has_param_block, block.advanced = inner.params, True, inner.advanced
                    block.body.extend(inner.body)
                else:
                    block.body.extend(self.statements(c))
            return A.FunctionDef(name, block, _line(node))
        return self.expr(node)

    def if_stmt(self, node: Node) -> A.If:
        clauses = [
            (
                self.stmt(node.child_by_field_name("condition")),
                self.statements(next(c for c in _kids(node) if c.type == "statement_block")),
            )
        ]
        otherwise = None
        for c in _kids(node):
            for clause in _kids(c) if c.type == "elseif_clauses" else [c]:
                if clause.type == "elseif_clause":
                    block = next(k for k in _kids(clause) if k.type == "statement_block")
                    clauses.append((self.stmt(clause.child_by_field_name("condition")), self.statements(block)))
                elif clause.type == "else_clause":
                    otherwise = self.statements(_kids(clause)[0])
        return A.If(clauses, otherwise, _line(node))

    def try_stmt(self, node: Node) -> A.Try:
        kids = _kids(node)
        catches: list[A.Catch] = []
        final = None
        for c in kids[1:]:
            for clause in _kids(c) if c.type == "catch_clauses" else [c]:
                if clause.type == "catch_clause":
                    types: list[str] = []
                    for k in _kids(clause):
                        if k.type == "type_literal":
                            types.append(type_name_of(k))
                        elif k.type == "catch_type_list":
                            types.extend(type_name_of(x) for x in _kids(k) if x.type == "type_literal")
                    catches.append(A.Catch(types, self.statements(_kids(clause)[-1])))
                elif clause.type == "finally_clause":
                    final = self.statements(_kids(clause)[-1])
        return A.Try(self.statements(kids[0]), catches, final, _line(node))

    # ---- commands -------------------------------------------------------------------------------------

    def reparse(self, node: Node) -> A.Expr:
        """The grammar reads ``1..$n`` at the start of a pipeline as a command name; PowerShell reads a
        leading digit as an expression. Parse each side of the range on its own."""
        sides = _txt(node).strip().split("..", 1)
        exprs: list[A.Expr] = []
        for side in sides:
            tree = parse_tree(b"$__lab = " + side.encode("utf-8"))
            body = self.block(tree.root_node).body if not tree.root_node.has_error else []
            if len(body) != 1 or not isinstance(body[0], A.Assign) or isinstance(body[0].value, A.Pipeline):
                raise _unsupported("syntax error", node)
            exprs.append(body[0].value)  # type: ignore[arg-type]
        return exprs[0] if len(exprs) == 1 else A.Binary("..", exprs[0], exprs[1])

    def stage(self, node: Node, index: int) -> A.CommandCall | A.Expr:
        if node.type == "command" and index == 0 and looks_numeric(node):
            return self.reparse(node)
        if node.type == "command":
            return self.command(node)
        if index > 0:
            raise _unsupported("expression after a pipe", node)
        return self.expr(node)

    def command(self, node: Node) -> A.CommandCall:
        op = next((c for c in node.children if c.type == "command_invokation_operator"), None)
        if op is not None and _txt(op) == ".":
            raise _unsupported("dot-sourcing", node)
        name_node = node.child_by_field_name("command_name")
        wrappers = ("command_name", "path_command_name", "command_name_expr")
        while (
            name_node.type in wrappers
            and len(_kids(name_node)) == 1
            and _kids(name_node)[0].type not in ("path_command_name_token", "simple_name")
        ):
            name_node = _kids(name_node)[0]
        name: str | A.Expr
        if name_node.type in ("command_name", "path_command_name"):
            name = _txt(name_node)
            if name.lower() in _UNSUPPORTED_COMMANDS:
                raise _unsupported(_UNSUPPORTED_COMMANDS[name.lower()], node)
        else:
            name = self.expr(name_node)
            if isinstance(name, A.Const):
                name = str(name.value)
        args: list[A.ParamArg | A.Expr] = []
        elems = node.child_by_field_name("command_elements")
        if elems is not None:
            self.elements(elems, args)
        call = A.CommandCall(name, args, _line(node))
        if (
            isinstance(name, str)
            and name.lower() in ("foreach-object", "%", "foreach")
            and any(isinstance(a, A.ParamArg) and a.name.lower() in ("parallel", "pa", "par") for a in args)
        ):
            raise _unsupported("ForEach-Object -Parallel (PS7)", node)
        if isinstance(name, str) and name.lower() == "new-object" and _new_object_type(args) not in _NEW_OBJECT_TYPES:
            raise _unsupported("New-Object of a type other than System.Net.Sockets.TcpClient", node)
        return call

    def elements(self, elems: Node, args: list[A.ParamArg | A.Expr]) -> None:
        colon = False
        for c in elems.children:
            t = c.type
            if t == "command_argument_sep":
                colon = colon or ":" in _txt(c)
                continue
            if t == "comment":
                continue
            if t in _UNSUPPORTED_NODES:
                raise _unsupported(_UNSUPPORTED_NODES[t], c)
            if t == "command_parameter":
                colon = False
                text = param_name(_txt(c)[1:])
                if text.endswith(":"):
                    text, colon = text[:-1], True
                args.append(A.ParamArg(text, None, _line(c)))
                continue
            value = A.Const(_txt(c)) if t == "generic_token" else self.expr(c)
            if colon and args and isinstance(args[-1], A.ParamArg) and args[-1].value is None:
                args[-1].value = value
            else:
                args.append(value)
            colon = False

    # ---- expressions ----------------------------------------------------------------------------------

    def expr(self, node: Node) -> A.Expr:
        return convert_expr(self, node)


__all__ = ["lint_script", "parse_script"]
