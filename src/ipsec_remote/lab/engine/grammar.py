"""tree-sitter-powershell set-up, node helpers, and the two places where the grammar and PowerShell disagree.

The grammar rejects some valid Windows PowerShell (a bareword comma list in argument mode; a statement on
the line of ``param(...)``); ``retry_text`` rewrites just those forms when a first parse fails. Anything else
the grammar cannot parse is named by ``error_kind``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import tree_sitter as ts
import tree_sitter_powershell as tsp

from .errors import UnsupportedConstruct

_PARSER = ts.Parser(ts.Language(tsp.language()))
_PARSER_LOCK = threading.Lock()  # lab hosts may parse from several threads; a Parser is not re-entrant


def parse_tree(source: bytes) -> Any:
    with _PARSER_LOCK:
        return _PARSER.parse(source)


Node = Any  # tree_sitter.Node; typed loosely because the binding ships partial stubs

# Wrapper nodes of the precedence ladder: with a single operand they add nothing.
_WRAPPERS = frozenset(
    [
        "pipeline",
        "pipeline_chain",
        "logical_expression",
        "bitwise_expression",
        "comparison_expression",
        "additive_expression",
        "multiplicative_expression",
        "format_expression",
        "range_expression",
        "array_literal_expression",
        "unary_expression",
        "string_literal",
        "integer_literal",
        "left_assignment_expression",
        "argument_expression",
        "logical_argument_expression",
        "bitwise_argument_expression",
        "comparison_argument_expression",
        "additive_argument_expression",
        "multiplicative_argument_expression",
        "format_argument_expression",
        "range_argument_expression",
        "key_expression",
        "statement_block",
        "command_name_expr",
        "while_condition",
        "for_initializer",
        "for_condition",
        "for_iterator",
        "script_parameter_default",
    ]
)
_BINARY = frozenset(
    [
        "logical_expression",
        "bitwise_expression",
        "comparison_expression",
        "additive_expression",
        "multiplicative_expression",
        "format_expression",
        "range_expression",
        "logical_argument_expression",
        "bitwise_argument_expression",
        "comparison_argument_expression",
        "additive_argument_expression",
        "multiplicative_argument_expression",
        "format_argument_expression",
        "range_argument_expression",
    ]
)
_UNSUPPORTED_NODES = {
    "class_statement": "class",
    "enum_statement": "enum",
    "trap_statement": "trap",
    "data_statement": "data section",
    "switch_statement": "switch",
    "parallel_statement": "parallel",
    "sequence_statement": "sequence",
    "inlinescript_statement": "inlinescript",
    "named_block_list": "begin/process/end blocks",
    "redirection": "redirection",
    "merging_redirection_operator": "redirection",
    "stop_parsing": "stop-parsing token",
    "pipeline_chain_tail": "pipeline chain operator (&&, ||)",
    "label": "loop label",
    "foreach_parameter": "foreach -Parallel",
    "invokation_foreach_expression": "method-call enumeration",
}
_UNSUPPORTED_COMMANDS = {
    "invoke-expression": "Invoke-Expression",
    "iex": "Invoke-Expression",
    "using": "using statement",
    "configuration": "dynamic keyword (Configuration)",
    "node": "dynamic keyword (Node)",
    "add-type": "Add-Type",
}
_SCOPES = ("script:", "local:", "global:", "private:")


def _kids(node: Node) -> list[Node]:
    return [c for c in node.named_children if c.type != "comment"]


def _txt(node: Node) -> str:
    return node.text.decode("utf-8")  # type: ignore[no-any-return]


def _line(node: Node) -> int:
    return node.start_point[0] + 1  # type: ignore[no-any-return]


def _unsupported(kind: str, node: Node) -> UnsupportedConstruct:
    snippet = _txt(node).splitlines()[0][:60] if _txt(node) else ""
    return UnsupportedConstruct(kind, _line(node), snippet)


def type_name_of(node: Node) -> str:
    """``[System.String[]]`` -> ``string[]``: lower-case, brackets and ``System.`` dropped."""
    name = re.sub(r"\s+", "", _txt(node)).lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name[7:] if name.startswith("system.") else name


def var_name(text: str) -> str:
    name = text[1:] if text[:1] in "$@" else text
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    name = name.lower()
    for scope in _SCOPES:
        if name.startswith(scope):
            name = name[len(scope) :]
    return "_" if name == "psitem" else name


_WORD = r"(?!\d+(?:\.\d+)?(?:[ \t]*[,;)|}\s]|$))[\w*][\w.\-:*\\/]*"
_FIRST_BAREWORD = re.compile(r"(?m)(?<=[ \t])(-[A-Za-z]\w*[ \t]+)(" + _WORD + r")(?=[ \t]*,)")
_NEXT_BAREWORD = re.compile(r"(?m)('[^'\n]*'[ \t]*,[ \t]*)(" + _WORD + r")(?=[ \t]*(?:[,;)|}\s]|$))")


def quote_barewords(text: str) -> str:
    """``-Name a, b, @{...}`` -> ``-Name 'a', 'b', @{...}`` (the same values in argument mode)."""
    text = _FIRST_BAREWORD.sub(lambda m: f"{m.group(1)}'{m.group(2)}'", text)
    while True:
        quoted = _NEXT_BAREWORD.sub(lambda m: f"{m.group(1)}'{m.group(2)}'", text)
        if quoted == text:
            return text
        text = quoted


_PARAM_OPEN = re.compile(r"\bparam\s*\(", re.I)


def separate_param_blocks(text: str) -> str:
    out, pos = [], 0
    for m in _PARAM_OPEN.finditer(text):
        if m.start() < pos:
            continue
        depth, i, quote = 0, m.end() - 1, ""
        while i < len(text):
            ch = text[i]
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        rest = text[i + 1 :].lstrip(" \t")
        out.append(text[pos : i + 1])
        if rest[:1] not in ("", "\n", "\r", ";", "#", "}"):
            out.append(";")
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def check_errors(root: Node) -> None:
    if not root.has_error:
        return
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            raise error_kind(node)
        if node.has_error:
            stack.extend(reversed(node.children))


def is_advanced(param_block: Node) -> bool:
    return re.search(r"\[\s*(cmdletbinding|parameter)\b", _txt(param_block), re.I) is not None


def looks_numeric(node: Node) -> bool:
    name = node.child_by_field_name("command_name")
    return name is not None and _txt(name)[:1].isdigit()


def error_kind(node: Node) -> UnsupportedConstruct:
    """Name what the grammar could not parse: a PS7 operator, a label, a dynamic keyword, or a syntax error."""
    text = _txt(node)
    if "??" in text:
        return _unsupported("null-coalescing operator (PS7)", node)
    if "?" in text and ":" in text:
        return _unsupported("ternary operator (PS7)", node)
    if node.children and node.children[0].type in ("break", "continue"):
        return _unsupported("loop label", node)
    found = _unsupported("syntax error", node)
    parent = node.parent
    while parent is not None:  # the outermost unsupported construct around the error names it
        if parent.type in _UNSUPPORTED_NODES:
            found = _unsupported(_UNSUPPORTED_NODES[parent.type], parent)
        name = parent.child_by_field_name("command_name") if parent.type == "command" else None
        if name is not None and _txt(name).lower() in _UNSUPPORTED_COMMANDS:
            found = _unsupported(_UNSUPPORTED_COMMANDS[_txt(name).lower()], parent)
        parent = parent.parent
    return found


# The grammar rejects a parameter name holding a digit (``-Phase1AuthSet $x`` is a syntax error to it), so
# the retry spells each digit as ``___<letter>`` and the converter spells it back (``param_name``).
_DIGIT_PARAM = re.compile(r"(?<=[\s(])-[A-Za-z_][A-Za-z_]*\d[A-Za-z0-9_]*(?=[\s:)]|$)")
_DIGIT_LETTERS = "abcdefghij"


def encode_digit_params(text: str) -> str:
    return _DIGIT_PARAM.sub(
        lambda m: re.sub(r"\d", lambda d: "___" + _DIGIT_LETTERS[int(d.group())], m.group()), text)


def param_name(text: str) -> str:
    """A command parameter's name as written (undoing ``encode_digit_params``)."""
    return re.sub(r"___([a-j])", lambda m: str(_DIGIT_LETTERS.index(m.group(1))), text)


def retry_text(text: str) -> str:
    return separate_param_blocks(quote_barewords(encode_digit_params(text)))
