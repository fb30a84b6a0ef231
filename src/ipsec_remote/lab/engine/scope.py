"""Variable scopes (about_Scopes): reads walk up to the parents, writes land in the current scope."""

from __future__ import annotations

from typing import Any

_MISSING = object()


class Scope:
    __slots__ = ("functions", "parent", "vars")

    def __init__(self, parent: Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.functions: dict[str, Any] = {}
        self.parent = parent

    def get(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            value = scope.vars.get(name, _MISSING)
            if value is not _MISSING:
                return value
            scope = scope.parent
        return None

    def set(self, name: str, value: Any) -> None:
        self.vars[name] = value

    def function(self, name: str) -> Any:
        low = name.lower()
        scope: Scope | None = self
        while scope is not None:
            found = scope.functions.get(low)
            if found is not None:
                return found
            scope = scope.parent
        return None
