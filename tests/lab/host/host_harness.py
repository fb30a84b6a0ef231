"""Test harness for the host-model tests (a uniquely named module: conftest files of other test
directories must not shadow it).

``Harness.call`` binds arguments the way the engine does (exact name, alias or unique prefix; enum values
checked case-insensitively and canonicalised; mandatory parameters) and invokes the command with a small
InvocationContext that collects non-terminating errors, so cmdlets are tested without the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ipsec_remote.lab.commands import Command, ParamSpec, binding_error
from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.host.config import HostAssumptions
from ipsec_remote.lab.values import CaseInsensitiveDict, ErrorRecord, PowerShellError

FIXED_NOW = datetime(2026, 11, 27, 6, 0, 0, tzinfo=timezone.utc)


class Ctx:
    def __init__(self) -> None:
        self.errors: list[ErrorRecord] = []
        self.warnings: list[str] = []
        self.variables: dict[str, Any] = {}

    def write_error(self, record: ErrorRecord) -> None:
        self.errors.append(record)

    def write_warning(self, text: str) -> None:
        self.warnings.append(text)

    def get_variable(self, name: str) -> Any:
        return self.variables.get(name)

    def set_variable(self, name: str, value: Any) -> None:
        self.variables[name] = value

    def invoke_scriptblock(self, block: Any, dollar_under: Any = None, args: list[Any] | None = None) -> list[Any]:
        raise NotImplementedError


def _resolve(command: Command, given: str) -> ParamSpec:
    low = given.lower()
    specs = list(command.params.values())
    for spec in specs:
        if spec.name.lower() == low or low in (a.lower() for a in spec.aliases):
            return spec
    hits = [s for s in specs if s.name.lower().startswith(low)]
    if len(hits) == 1:
        return hits[0]
    raise binding_error(command.name, f"A parameter cannot be found that matches parameter name '{given}'.",
                        "NamedParameterNotFound")


def _enum(command: Command, spec: ParamSpec, value: Any) -> Any:
    assert spec.values is not None
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        parts = [p.strip() for p in str(item).split(",")] if spec.flags else [str(item)]
        for part in parts:
            canon = next((v for v in spec.values if v.lower() == part.lower()), None)
            if canon is None:
                raise binding_error(
                    command.name,
                    f"Cannot bind parameter '{spec.name}'. Cannot convert value \"{item}\" to type \"{spec.type}\". "
                    f"Error: \"Unable to match the identifier name {part} to a valid enumerator name. Specify one "
                    f"of the following enumerator names and try again: {', '.join(spec.values)}\"",
                    "CannotConvertArgumentNoMessage")
            out.append(canon)
    if spec.array:
        return out
    return ", ".join(out) if spec.flags else out[0]


def bind(command: Command, params: dict[str, Any]) -> CaseInsensitiveDict:
    args = CaseInsensitiveDict()
    for given, value in params.items():
        spec = _resolve(command, given)
        args[spec.name] = _enum(command, spec, value) if spec.values else value
    missing = [s.name for s in command.params.values() if s.mandatory and s.name not in args]
    if missing:
        raise binding_error(command.name, "Cannot process command because of one or more missing mandatory "
                            f"parameters: {' '.join(missing)}.", "MissingMandatoryParameter")
    return args


class Harness:
    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.ctx = Ctx()

    def call(self, cmdlet: str, pipeline: list[Any] | None = None, **params: Any) -> list[Any]:
        command = self.host.commands.get(cmdlet)
        assert command is not None, cmdlet
        return list(command.invoke(self.ctx, bind(command, params), pipeline or []))

    def fails(self, cmdlet: str, **params: Any) -> ErrorRecord:
        """The error a call ends with: raised (terminating or not) or written to the error stream."""
        before = len(self.ctx.errors)
        try:
            self.call(cmdlet, **params)
        except PowerShellError as exc:
            return exc.record
        assert len(self.ctx.errors) > before, f"{cmdlet} did not fail"
        return self.ctx.errors[-1]

    @property
    def errors(self) -> list[ErrorRecord]:
        return self.ctx.errors


MakeHost = Callable[..., Harness]


def new_lab(**config: Any) -> Harness:
    """A lab host. The cmdlet-behaviour tests read objects through the cmdlet-style names of the type layer
    (``type_layer=True``); pass ``assumptions=HostAssumptions()`` for bare CIM instances, as the product sees them
    by default."""
    config.setdefault("assumptions", HostAssumptions(type_layer=True))
    cfg = HostConfig(name=config.pop("name", "sql01"), address=config.pop("address", "10.10.1.20"), **config)
    return Harness(LabHost(cfg, clock=lambda: FIXED_NOW))
