"""A small TOML writer and the mutations the malformed-input tests generate from the shipped files."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

Path_ = tuple[str | int, ...]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_scalar(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def dumps(doc: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in doc.items():
        array_of_tables = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if isinstance(value, dict) or (array_of_tables and not prefix):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(key)} = {_scalar(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
        if isinstance(value, dict):
            out += f"\n[{name}]\n" + dumps(value, name)
        else:
            for item in value:
                out += f"\n[[{name}]]\n" + dumps(item, name)
    return out


def key_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def leaves(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path, node


def tables(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from tables(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict):
                yield from tables(value, (*path, i))


def wrong_type(value: Any) -> Any:
    """A value of another type that pydantic's lax mode does not coerce back."""
    if isinstance(value, bool):
        return [1]
    if isinstance(value, (int, float)):
        return "many"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "not-a-list"
    raise TypeError(type(value))


def with_value(doc: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def with_unknown_key(doc: dict[str, Any], path: Path_, key: str = "bogus_key") -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path:
        node = node[part]
    node[key] = 1
    return out
