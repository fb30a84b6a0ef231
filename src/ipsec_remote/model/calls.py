"""A cmdlet call as data: what the planner emits, the validator checks, and render/transport use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class SecretRef:
    """A secret parameter value (a pre-shared key) named by its environment variable.

    Plans, logs, exports and the journal only ever see the reference; the transport resolves it.
    """

    env: str

    def __str__(self) -> str:
        return f"<secret from ${self.env}>"


# A parameter value: a scalar, a list of scalars, a secret reference, a nested call
# (``-Proposal (New-NetIPsec…Proposal …)``) or a list of nested calls. ``True`` on a SwitchParameter
# means the switch is present.
ParamValue = Union[str, int, bool, list[str], list[int], SecretRef, "CmdletCall", list["CmdletCall"]]


@dataclass(frozen=True)
class CmdletCall:
    cmdlet: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"cmdlet": ..., "params": {...}}`` with nested calls in the same shape (DESIGN §5)."""
        return {"cmdlet": self.cmdlet, "params": {k: _value_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CmdletCall:
        return cls(str(data["cmdlet"]), {k: _value_from_json(v) for k, v in dict(data["params"]).items()})

    def nested(self) -> list[CmdletCall]:
        """The calls nested in this call's parameters, in order."""
        found: list[CmdletCall] = []
        for value in self.params.values():
            items = value if isinstance(value, list) else [value]
            found.extend(item for item in items if isinstance(item, CmdletCall))
        return found


def _value_json(value: ParamValue) -> Any:
    if isinstance(value, SecretRef):
        return {"secret_env": value.env}
    if isinstance(value, CmdletCall):
        return value.to_json()
    if isinstance(value, list):
        return [_value_json(v) for v in value]
    return value


def _value_from_json(value: Any) -> ParamValue:
    if isinstance(value, dict) and "secret_env" in value:
        return SecretRef(str(value["secret_env"]))
    if isinstance(value, dict) and "cmdlet" in value:
        return CmdletCall.from_json(value)
    if isinstance(value, list):
        return [_value_from_json(v) for v in value]  # type: ignore[return-value]
    return value  # type: ignore[no-any-return]
