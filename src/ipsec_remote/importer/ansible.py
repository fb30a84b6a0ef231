"""Read an Ansible inventory file (INI or YAML) into hosts with their groups and effective variables.

The two formats are those of Ansible's ``ini`` and ``yaml`` inventory plugins ("How to build your
inventory", docs.ansible.com): groups with ``hosts``, ``vars`` and ``children``; ``[group:vars]`` and
``[group:children]`` sections; host ranges such as ``web[01:20].corp`` or ``db-[a:c]``; ``host:port``.
Variables merge as Ansible merges them: ``all``, then groups from the shallowest to the deepest (by name
within a depth), then the host's own. ``group_vars/`` and ``host_vars/`` folders are not read.

YAML goes through ``yaml.SafeLoader`` (no object construction); ``!vault`` values become an opaque marker
— they are secrets, which the import never copies — and ``!unsafe`` values plain strings.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError


class Vaulted(str):
    """A ``!vault`` encrypted value: never decrypted, never copied."""


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnsibleInventory:
    path: str
    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # in first-seen order

    def group(self, name: str) -> Group:
        return self.groups.setdefault(name, Group(name))

    def add_host(self, group: str, name: str, variables: Mapping[str, Any]) -> None:
        self.host_vars.setdefault(name, {}).update(variables)
        members = self.group(group).hosts
        if name not in members:
            members.append(name)

    def parents(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for g in self.groups.values():
            for child in g.children:
                out.setdefault(child, set()).add(g.name)
        return out

    def groups_of(self, host: str) -> list[str]:
        """Every group the host belongs to, directly or through children, 'all' and 'ungrouped' left out."""
        parents = self.parents()
        found: set[str] = set()
        todo = [g.name for g in self.groups.values() if host in g.hosts]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += sorted(parents.get(name, ()))
        return sorted(found - {"all", "ungrouped"})

    def effective_vars(self, host: str) -> dict[str, Any]:
        depth = self._depths()
        merged: dict[str, Any] = dict(self.groups["all"].vars) if "all" in self.groups else {}
        for name in sorted(self.groups_of(host), key=lambda n: (depth.get(n, 1), n)):
            merged.update(self.groups[name].vars)
        merged.update(self.host_vars.get(host, {}))
        return merged

    def _depths(self) -> dict[str, int]:
        parents = self.parents()
        memo: dict[str, int] = {}

        def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
            if name not in memo:
                ups = [p for p in parents.get(name, ()) if p not in seen]
                memo[name] = 1 + max((depth(p, seen | {name}) for p in ups), default=0) if name != "all" else 0
            return memo[name]

        return {name: depth(name) for name in self.groups}


# ---- host patterns -------------------------------------------------------------------------------------

_RANGE = re.compile(r"\[([^\]:]+):([^\]:]+)(?::(\d+))?\]")


def expand_pattern(pattern: str) -> list[str]:
    """``web[01:03].corp`` → web01.corp … web03.corp; ``db-[a:c]`` → db-a, db-b, db-c (Ansible host ranges)."""
    match = _RANGE.search(pattern)
    if match is None:
        return [pattern]
    start, end, stride = match.group(1), match.group(2), int(match.group(3) or 1)
    head, tail = pattern[:match.start()], pattern[match.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(start), int(end) + 1, stride)]
    elif len(start) == len(end) == 1 and start in string.ascii_letters and end in string.ascii_letters:
        items = [chr(c) for c in range(ord(start), ord(end) + 1, stride)]
    else:
        raise ValueError(f"'{pattern}': a range is [start:end] of numbers or single letters")
    if not items:
        raise ValueError(f"'{pattern}': the range is empty")
    return [name for item in items for name in expand_pattern(head + item + tail)]


def _split_port(token: str) -> tuple[str, int | None]:
    """``host:5986`` → (host, 5986); an IPv6 address keeps its colons (Ansible takes ``[addr]:port``)."""
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", token)
    if bracketed:
        return bracketed.group(1), int(bracketed.group(2))
    if token.count(":") == 1 and not token.endswith("]"):
        host, _, port = token.partition(":")
        if port.isdigit():
            return host, int(port)
    return token, None


# ---- INI -------------------------------------------------------------------------------------------------


def parse_ini(text: str, label: str) -> AnsibleInventory:
    inv = AnsibleInventory(label)
    inv.group("all")
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"line {number}"
        if not line or line[0] in "#;":
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            section, _, kind = header.group(1).partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InputError(label, where, f"section [{header.group(1)}]: expected :vars or :children")
            inv.group(section)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InputError(label, where, f"cannot split '{line}': {exc}") from None
        if not tokens:
            continue
        if kind == "vars":
            key, eq, value = line.partition("=")
            if not eq:
                raise InputError(label, where, f"[{section}:vars] expects key=value, got '{line}'")
            inv.group(section).vars[key.strip()] = _unquote(value.strip())
        elif kind == "children":
            child = tokens[0]
            inv.group(child)
            if child not in inv.group(section).children:
                inv.group(section).children.append(child)
        else:
            variables: dict[str, Any] = {}
            for token in tokens[1:]:
                key, eq, value = token.partition("=")
                if not eq:
                    raise InputError(label, where, f"host variable '{token}' is not key=value")
                variables[key] = value
            name, port = _split_port(tokens[0])
            if port is not None:
                variables.setdefault("ansible_port", port)
            try:
                names = expand_pattern(name)
            except ValueError as exc:
                raise InputError(label, where, str(exc)) from None
            for host in names:
                inv.add_host(section, host, variables)
    _link_to_all(inv)
    return inv


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()


def _link_to_all(inv: AnsibleInventory) -> None:
    """Every group without a parent is a child of 'all' (as Ansible does)."""
    parents = inv.parents()
    for name in inv.groups:
        if name != "all" and name not in parents and name not in inv.groups["all"].children:
            inv.groups["all"].children.append(name)


# ---- YAML ------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader plus Ansible's two tags; still constructs only plain data."""


_Loader.add_constructor("!vault", lambda loader, node: Vaulted("<vault>"))
_Loader.add_constructor("!unsafe", lambda loader, node: str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def parse_yaml(text: str, label: str) -> AnsibleInventory:
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(label, where, f"invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise InputError(label, "", "a YAML inventory is a mapping of groups (usually 'all:')")
    inv = AnsibleInventory(label)
    inv.group("all")
    for name, body in data.items():
        _yaml_group(inv, str(name), body, str(name))
    _link_to_all(inv)
    return inv


def _yaml_group(inv: AnsibleInventory, name: str, body: Any, path: str) -> None:
    group = inv.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise InputError(inv.path, path, "a group is a mapping with hosts, vars and children")
    unknown = set(body) - {"hosts", "vars", "children"}
    if unknown:
        raise InputError(inv.path, f"{path}.{sorted(unknown)[0]}", "unknown key (a group has hosts, vars, children)")
    for key in ("hosts", "vars", "children"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise InputError(inv.path, f"{path}.{key}", "must be a mapping")
    group.vars.update(body.get("vars") or {})
    for pattern, variables in (body.get("hosts") or {}).items():
        if variables is not None and not isinstance(variables, dict):
            raise InputError(inv.path, f"{path}.hosts.{pattern}", "host variables must be a mapping")
        host, port = _split_port(str(pattern))
        extra = {"ansible_port": port} if port is not None else {}
        try:
            names = expand_pattern(host)
        except ValueError as exc:
            raise InputError(inv.path, f"{path}.hosts", str(exc)) from None
        for h in names:
            inv.add_host(name, h, {**extra, **(variables or {})})
    for child, child_body in (body.get("children") or {}).items():
        child = str(child)
        if child not in group.children:
            group.children.append(child)
        _yaml_group(inv, child, child_body, f"{path}.children.{child}")


def load_ansible(path: Path) -> AnsibleInventory:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(label, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(label, "", "is not UTF-8 text") from None
    if path.suffix.lower() in (".yml", ".yaml", ".json") or _looks_like_yaml(text):
        return parse_yaml(text, label)
    return parse_ini(text, label)


def _looks_like_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        return stripped == "---" or bool(re.fullmatch(r"[A-Za-z0-9_.-]+:\s*(#.*)?", stripped))
    return False
