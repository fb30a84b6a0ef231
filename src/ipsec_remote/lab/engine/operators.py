"""Binary and unary operators with Windows PowerShell 5.1 semantics.

about_Comparison_Operators: comparisons are case-insensitive unless ``-c``-prefixed; the *left* operand's
type decides how the right one is converted (``'10' -eq 10`` and ``10 -eq '10'`` are both true); with an
array on the left, ``-eq``/``-like``/``-match``... filter the array instead of returning a bool.
about_Arithmetic_Operators: ``+`` concatenates arrays and strings, ``1 + '2'`` is 3, ``'1' + 2`` is '12'.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..values import CaseInsensitiveDict, PSHashtable, PSObject
from .errors import runtime_error
from .values import NOTHING, ticks, to_bool, to_datetime, to_number, to_str

# The comparison operators by their base name (about_Comparison_Operators); each also has a 'c'
# (case-sensitive) and an 'i' (explicitly case-insensitive) spelling.
COMPARISON_NAMES = ("eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch",
                    "contains", "notcontains", "in", "notin")

_FILTERING = frozenset(["eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch"])
_NAMES = _FILTERING | {"contains", "notcontains", "in", "notin"}


def _scalar_equal(left: Any, right: Any, case: bool) -> bool:
    if left is None or left is NOTHING:
        return right is None or right is NOTHING
    if right is None or right is NOTHING:
        return False
    if isinstance(left, str):
        r = to_str(right)
        return left == r if case else left.lower() == r.lower()
    if isinstance(left, bool):
        return left == to_bool(right)
    if isinstance(left, (int, float)):
        if isinstance(right, str) and not right.strip():
            return False
        try:
            return bool(left == to_number(right))
        except Exception:  # an unconvertible right operand is simply not equal
            return False
    if isinstance(left, datetime):
        try:
            return _aware(left) == _aware(to_datetime(right))
        except Exception:
            return False
    if isinstance(left, (PSObject, CaseInsensitiveDict, list, tuple)):
        return left is right  # reference equality, as for .NET objects
    return bool(left == right)


def _scalar_compare(left: Any, right: Any, case: bool) -> int:
    """-1/0/1 for -gt/-lt...; $null sorts before everything."""
    if left is None:
        return 0 if right is None else -1
    if right is None:
        return 1
    a: Any
    b: Any
    if isinstance(left, str):
        a, b = left, to_str(right)
        if not case:
            a, b = a.lower(), b.lower()
    elif isinstance(left, (int, float)):
        a, b = left, to_number(right)
    elif isinstance(left, datetime):
        a, b = _aware(left), _aware(to_datetime(right))
    else:
        raise runtime_error(f'Cannot compare "{to_str(left)}" because it is not IComparable.', "NotIcomparable")
    return int(a > b) - int(a < b)


@functools.lru_cache(maxsize=1024)
def wildcard(pattern: str, case: bool = False) -> re.Pattern[str]:
    """about_Wildcards: * ? [a-z] and backtick escapes, matched against the whole string."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "`" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end > i:
                out.append("[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]")
                i = end + 1
                continue
            out.append(re.escape(ch))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S if case else re.S | re.I)


@functools.lru_cache(maxsize=1024)
def regex(pattern: str, case: bool = False) -> re.Pattern[str]:
    """A .NET pattern for Python's re: named groups are spelled (?<name>...) in .NET."""
    py = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    try:
        return re.compile(py, 0 if case else re.I)
    except re.error as exc:
        raise runtime_error(
            f"The regular expression pattern {pattern} is not valid: {exc}",
            "InvalidRegularExpression",
            "InvalidArgument",
        ) from exc


def _matches(m: re.Match[str]) -> PSHashtable:
    # $Matches keys are group numbers/names; the lab's hashtables have string keys, and $Matches[0] works
    # because integer indexes into a hashtable are looked up as strings.
    table = PSHashtable()
    table["0"] = m.group(0)
    for i, g in enumerate(m.groups(), start=1):
        if g is not None:
            table[str(i)] = g
    for name, g in m.groupdict().items():
        if g is not None:
            table[name] = g
    return table


def _scalar_op(op: str, left: Any, right: Any, case: bool, set_matches: Callable[[Any], None] | None) -> bool:
    if op == "eq":
        return _scalar_equal(left, right, case)
    if op == "ne":
        return not _scalar_equal(left, right, case)
    if op in ("gt", "ge", "lt", "le"):
        c = _scalar_compare(left, right, case)
        return {"gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]
    if op in ("like", "notlike"):
        hit = wildcard(to_str(right), case).fullmatch(to_str(left)) is not None
        return hit if op == "like" else not hit
    m = regex(to_str(right), case).search(to_str(left))
    if m is not None and set_matches is not None and op == "match":
        set_matches(_matches(m))
    return (m is not None) if op == "match" else m is None


def _contains(collection: Any, item: Any, case: bool) -> bool:
    items = collection if isinstance(collection, (list, tuple)) else [collection]
    return any(_scalar_equal(x, item, case) for x in items)


def compare(op: str, left: Any, right: Any, set_matches: Callable[[Any], None] | None = None) -> Any:
    """-eq ... -notin, -c-prefixed case-sensitive forms included."""
    if type(left) in _NUMBERS and type(right) in _NUMBERS and op in _FAST_COMPARE:  # hot path in loops
        return _FAST_COMPARE[op](left, right)
    case = op.startswith("-c") and op[2:] in _NAMES
    name = op[2:] if case else op[1:]
    if name in ("contains", "notcontains"):
        hit = _contains(left, right, case)
        return hit if name == "contains" else not hit
    if name in ("in", "notin"):
        hit = _contains(right, left, case)
        return hit if name == "in" else not hit
    if name not in _FILTERING:
        raise runtime_error(f"The operator {op} is not supported.", "OperatorNotSupported")
    if isinstance(left, (list, tuple)):
        return [x for x in left if _scalar_op(name, x, right, case, None)]
    return _scalar_op(name, left, right, case, set_matches)


def _replacement(text: str) -> str:
    # .NET substitutions: $1, ${name}, $$ -> Python's \1, \g<name>, $
    out = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", text.replace("\\", "\\\\"))
    out = re.sub(r"\$(\d+)", r"\\g<\1>", out)
    return out.replace("$$", "$")


def replace(left: Any, right: Any, case: bool = False) -> Any:
    pattern, repl = (right[0], right[1] if len(right) > 1 else "") if isinstance(right, list) else (right, "")
    rx, sub = regex(to_str(pattern), case), _replacement(to_str(repl))
    if isinstance(left, (list, tuple)):
        return [rx.sub(sub, to_str(x)) for x in left]
    return rx.sub(sub, to_str(left))


def split(left: Any, right: Any, case: bool = False) -> list[str]:
    pattern = right[0] if isinstance(right, list) else right
    rx = regex(to_str(pattern), case)
    out: list[str] = []
    for item in left if isinstance(left, (list, tuple)) else [left]:
        out.extend(rx.split(to_str(item)))
    return out


def join(left: Any, right: Any) -> str:
    items = left if isinstance(left, (list, tuple)) else [left]
    return to_str(right).join(to_str(x) for x in items)


def _format(fmt: str, args: Any) -> str:
    """-f: {0}, {0,-10}, {0:N2}/{0:D3}/{0:X}; enough for log lines."""
    values = list(args) if isinstance(args, (list, tuple)) else [args]

    def one(m: re.Match[str]) -> str:
        index, align, spec = int(m.group(1)), m.group(2), m.group(3)
        value = values[index] if index < len(values) else None
        text = to_str(value)
        if spec and isinstance(value, (int, float)) and not isinstance(value, bool):
            kind, digits = spec[0].upper(), spec[1:]
            if kind == "N":
                text = f"{value:,.{int(digits or 2)}f}"
            elif kind == "D":
                text = str(int(value)).zfill(int(digits or 0))
            elif kind == "X":
                text = format(int(value), "X" if spec[0] == "X" else "x").zfill(int(digits or 0))
            elif kind == "F":
                text = f"{value:.{int(digits or 2)}f}"
        if align:
            width = int(align)
            text = text.rjust(width) if width > 0 else text.ljust(-width)
        return text

    return re.sub(r"\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}", one, fmt).replace("{{", "{").replace("}}", "}")


def _aware(value: datetime) -> datetime:
    # .NET compares and subtracts DateTime ticks whatever their Kind (values.ticks).
    return ticks(value)


_NUMBERS = (int, float)
_FAST_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_FAST_COMPARE = {
    "-eq": lambda a, b: a == b,
    "-ne": lambda a, b: a != b,
    "-gt": lambda a, b: a > b,
    "-ge": lambda a, b: a >= b,
    "-lt": lambda a, b: a < b,
    "-le": lambda a, b: a <= b,
}


def arithmetic(op: str, left: Any, right: Any) -> Any:
    if type(left) in _NUMBERS and type(right) in _NUMBERS and op in _FAST_ARITH:  # hot path in loops
        return _FAST_ARITH[op](left, right)
    left = None if left is NOTHING else left
    right = None if right is NOTHING else right
    if op == "+":
        if left is None:
            return right
        if isinstance(left, (list, tuple)):
            return list(left) + (list(right) if isinstance(right, (list, tuple)) else [right])
        if isinstance(left, str):
            return left + to_str(right)
        if isinstance(left, CaseInsensitiveDict):
            if not isinstance(right, CaseInsensitiveDict):
                raise runtime_error(
                    "A hash table can only be added to another hash table.", "AddHashTableToNonHashTable"
                )
            merged = PSHashtable(dict(left.items()))
            for k, v in right.items():
                if k in merged:
                    raise runtime_error(
                        f"Item has already been added. Key in dictionary: '{k}'  Key being added: '{k}'",
                        "DuplicateKeyInHashLiteral",
                    )
                merged[k] = v
            return merged
    if op == "*":
        if isinstance(left, str):
            return left * int(to_number(right))
        if isinstance(left, (list, tuple)):
            return list(left) * int(to_number(right))
    if op == "-f":
        return _format(to_str(left), right)
    if isinstance(left, datetime) and op in ("+", "-"):  # DateTime +/- TimeSpan, DateTime - DateTime
        if isinstance(right, timedelta):
            return left + right if op == "+" else left - right
        if op == "-" and isinstance(right, datetime):
            return _aware(left) - _aware(right)
    if isinstance(left, timedelta) and isinstance(right, timedelta) and op in ("+", "-"):
        return left + right if op == "+" else left - right
    a, b = to_number(left), to_number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 and op in ("/", "%"):
        raise runtime_error("Attempted to divide by zero.", "RuntimeException", "NotSpecified")
    if op == "/":
        result = a / b
        return int(result) if isinstance(a, int) and isinstance(b, int) and result.is_integer() else result
    if op == "%":
        return a - b * int(a / b) if isinstance(a, int) and isinstance(b, int) else a % b
    if op == "..":
        start, end = int(a), int(b)
        step = 1 if end >= start else -1
        return list(range(start, end + step, step))
    if op in ("-band", "-bor", "-bxor"):
        x, y = int(a), int(b)
        return x & y if op == "-band" else x | y if op == "-bor" else x ^ y
    raise runtime_error(f"The operator {op} is not supported.", "OperatorNotSupported")
