"""Expression nodes of the tree-sitter tree -> AST (the statement half lives in ``parser``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ast as A
from .grammar import _BINARY, _UNSUPPORTED_NODES, _WRAPPERS, _kids, _txt, _unsupported, type_name_of, var_name
from .members import cast_supported
from .operators import COMPARISON_NAMES
from .strings import unescape, verbatim

if TYPE_CHECKING:
    from .parser import _Converter

Node = Any

_OPERATOR_ALIASES = {"-i" + op: "-" + op for op in (*COMPARISON_NAMES, "replace", "split")}
_UNARY_OPS = frozenset(["-not", "!", "-", "+", "-join", "-split", ",", "-bnot"])
_UNSUPPORTED_OPS = frozenset(["-is", "-isnot", "-as", "-shl", "-shr"])
_STATIC_TYPES = frozenset(
    ["datetime", "guid", "string", "int", "int32", "int64", "long", "uint32", "uint16", "uint64", "math", "uri"]
)
_MULTIPLIERS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_CONSTANTS = {"true": True, "false": False, "null": None}


def _op(text: str) -> str:
    low = text.lower()
    return _OPERATOR_ALIASES.get(low, low)


def convert_expr(conv: _Converter, node: Node) -> A.Expr:
    t = node.type
    kids = _kids(node)
    if t in _UNSUPPORTED_NODES:
        raise _unsupported(_UNSUPPORTED_NODES[t], node)
    if t in ("pipeline", "pipeline_chain") and len(kids) != 1:
        return A.Paren(conv.stmt(node))
    if t in _WRAPPERS and len(kids) == 1:
        return convert_expr(conv, kids[0])
    if t == "array_literal_expression":
        items = [convert_expr(conv, k) for k in kids]
        return items[0] if len(items) == 1 else A.ArrayLiteral(items)
    if t in _BINARY:
        operands = [k for k in kids if k.type not in ("comparison_operator", "format_operator")]
        if len(operands) == 2:
            if _op(_txt(node.children[1])) in _UNSUPPORTED_OPS:
                raise _unsupported(f"operator {_txt(node.children[1])}", node)
            return A.Binary(
                _op(_txt(node.children[1])), convert_expr(conv, operands[0]), convert_expr(conv, operands[1])
            )
    if t in ("decimal_integer_literal", "hexadecimal_integer_literal", "real_literal"):
        return A.Const(_number(node))
    if t == "variable" or t == "braced_variable":
        text = _txt(node)
        name = var_name(text)
        if ":" in name and not name.startswith("env:"):  # $using:, $function:, drive-qualified variables
            raise _unsupported(f"scoped variable {text}", node)
        if name in _CONSTANTS and not text.startswith("@"):
            return A.Const(_CONSTANTS[name])
        return A.Var(name, splat=text.startswith("@"))
    if t in ("verbatim_string_characters", "verbatim_here_string_characters"):
        return A.Const(verbatim(_txt(node)))
    if t in ("expandable_string_literal", "expandable_here_string_literal"):
        return _expandable(conv, node)
    if t in ("simple_name", "generic_token", "type_identifier"):
        return A.Const(_txt(node))
    if t == "expression_with_unary_operator" and node.children[0].is_named:
        return convert_expr(conv, node.children[0])
    if t == "expression_with_unary_operator":
        op = _op(_txt(node.children[0]))
        if op not in _UNARY_OPS:
            raise _unsupported(f"unary operator {op}", node)
        operand = convert_expr(conv, kids[-1])
        return A.ArrayLiteral([operand]) if op == "," else A.Unary(op, operand)
    if t in (
        "pre_increment_expression",
        "pre_decrement_expression",
        "post_increment_expression",
        "post_decrement_expression",
    ):
        return A.IncDec(convert_expr(conv, kids[0]), 1 if "increment" in t else -1, t.startswith("post"))
    if t == "cast_expression":
        type_name = type_name_of(kids[0])
        if not cast_supported(type_name):
            raise _unsupported(f"type [{type_name}]", node)
        return A.Cast(type_name, convert_expr(conv, kids[-1]))
    if t == "type_literal":
        type_name = type_name_of(node)
        if type_name not in _STATIC_TYPES:
            raise _unsupported(f"type [{type_name}]", node)
        return A.TypeRef(type_name)
    if t in ("member_access", "invokation_expression"):
        static = node.children[1].type == "::"
        target = convert_expr(conv, kids[0])
        name_node = kids[1]
        if name_node.type == "member_name" and len(_kids(name_node)) == 1:
            name_node = _kids(name_node)[0]
        if t == "invokation_expression":
            if _txt(name_node).lower() in ("where", "foreach"):
                raise _unsupported(f"intrinsic .{_txt(name_node)}() method", node)
            arg_list = kids[-1]
            args = [
                convert_expr(conv, a)
                for k in _kids(arg_list)
                for a in (_kids(k) if k.type == "argument_expression_list" else [k])
            ]
            return A.MethodCall(target, _txt(name_node), args, static)
        if name_node.type == "simple_name":
            return A.Member(target, _txt(name_node), static)
        return A.Member(target, convert_expr(conv, name_node), static)
    if t == "element_access":
        return A.Index(convert_expr(conv, kids[0]), convert_expr(conv, kids[1]))
    if t == "command_name" and _txt(node)[:1].isdigit():
        return conv.reparse(node)
    if t == "script_block_expression":
        # The grammar puts a one-line ``{ param($a) ... }``'s param_block beside the script_block node.
        return A.ScriptBlockLiteral(conv.block(node), _txt(node)[1:-1])
    if t == "hash_literal_expression":
        entries: list[tuple[A.Expr, A.Stmt]] = []
        for body in kids:
            for entry in _kids(body):
                ek = _kids(entry)
                entries.append((convert_expr(conv, ek[0]), conv.stmt(ek[-1])))
        return A.HashLiteral(entries)
    if t == "parenthesized_expression":
        return A.Paren(conv.stmt(kids[0])) if kids else A.Const(None)
    if t == "sub_expression":
        return A.SubExpr(conv.statements(node.child_by_field_name("statements")))
    if t == "array_expression":
        return A.ArrayExpr(conv.statements(node.child_by_field_name("statements")))
    if t in ("assignment_expression", "command", "if_statement", "foreach_statement"):
        return A.Paren(conv.stmt(node))
    raise _unsupported(t.replace("_", " "), node)


def _number(node: Node) -> int | float:
    text = _txt(node).lower()
    if node.type == "hexadecimal_integer_literal":
        return int(text, 16)
    mult = 1
    if text[-2:] in _MULTIPLIERS:
        text, mult = text[:-2], _MULTIPLIERS[text[-2:]]
    if node.type == "real_literal" or "." in text or "e" in text:
        value = float(text) * mult
        return int(value) if mult != 1 and value.is_integer() else value
    return int(text) * mult


def _expandable(conv: _Converter, node: Node) -> A.Expr:
    raw: bytes = node.text
    here = raw.startswith(b'@"')
    if here:
        pre = 2 + (2 if raw[2:4] == b"\r\n" else 1)
        post = 2 + (2 if raw[-4:-2] == b"\r\n" else 1)
        if pre + post > len(raw):
            return A.Const("")
    else:
        pre = post = 1
    base = node.start_byte
    pos = base + pre
    end = node.end_byte - post
    parts: list[str | A.Expr] = []

    def literal(upto: int) -> None:
        chunk = raw[pos - base : upto - base].decode("utf-8")
        if chunk:
            parts.append(unescape(chunk, doubled_quotes=not here))

    for child in _kids(node):
        literal(child.start_byte)
        if child.type in ("variable", "braced_variable"):
            parts.append(convert_expr(conv, child))
        elif child.type == "sub_expression":
            parts.append(A.SubExpr(conv.statements(child.child_by_field_name("statements"))))
        else:
            raise _unsupported(f"string part {child.type}", child)
        pos = child.end_byte
    literal(end)
    if all(isinstance(p, str) for p in parts):
        return A.Const("".join(p for p in parts if isinstance(p, str)))
    return A.ExpandString(parts)
