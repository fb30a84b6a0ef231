"""PowerShell values shared by the lab's engine, host model and WinRM layer.

The lab never imports the controller's core; these types are the one vocabulary its three layers speak:

* ``str``, ``int``, ``float``, ``bool``, ``None`` and ``datetime`` stand for themselves;
* a Python ``list`` is a PowerShell array (``object[]``);
* ``PSHashtable`` is ``@{}`` (ordered here for stable output, case-insensitive keys as in PowerShell);
* ``PSObject`` is anything with named properties: ``[pscustomobject]`` (extended properties, as
  Select-Object and pscustomobject emit them) or a CIM-like cmdlet result (adapted properties);
* ``ErrorRecord`` is what a non-terminating error writes to the error stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

PSCUSTOMOBJECT_TYPES = ("System.Management.Automation.PSCustomObject", "System.Object")


class CaseInsensitiveDict(MutableMapping[str, Any]):
    """Insertion-ordered mapping whose keys compare case-insensitively but keep their spelling."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._data: dict[str, tuple[str, Any]] = {}
        if items:
            for k, v in items.items():
                self[k] = v
        for k, v in kwargs.items():
            self[k] = v

    def __getitem__(self, key: str) -> Any:
        return self._data[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        low = key.lower()
        if low in self._data:  # keep the first spelling, like PowerShell
            self._data[low] = (self._data[low][0], value)
        else:
            self._data[low] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def canonical(self, key: str) -> str | None:
        """The stored spelling of ``key``, or None."""
        entry = self._data.get(key.lower())
        return entry[0] if entry else None

    def copy(self) -> CaseInsensitiveDict:
        return type(self)(dict(self.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


class PSHashtable(CaseInsensitiveDict):
    """``@{ ... }``."""


@dataclass
class PSObject:
    """An object with named properties.

    ``adapted`` is False for ``[pscustomobject]``/Select-Object output (properties travel as *extended*
    properties in CLIXML) and True for CIM-like cmdlet results (properties travel as *adapted* ones).
    """

    properties: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    type_names: list[str] = field(default_factory=lambda: list(PSCUSTOMOBJECT_TYPES))
    adapted: bool = False
    to_string: str | None = None

    @classmethod
    def custom(cls, props: Mapping[str, Any] | None = None, **kwargs: Any) -> PSObject:
        data = CaseInsensitiveDict(props)
        for k, v in kwargs.items():
            data[k] = v
        return cls(properties=data)

    @classmethod
    def cim(cls, cim_class: str, props: Mapping[str, Any]) -> PSObject:
        """A CIM instance as NetSecurity cmdlets return it (e.g. ``root/StandardCimv2/MSFT_NetConSecRule``)."""
        return cls(
            properties=CaseInsensitiveDict(props),
            type_names=[
                f"Microsoft.Management.Infrastructure.CimInstance#{cim_class}",
                "Microsoft.Management.Infrastructure.CimInstance",
                "System.Object",
            ],
            adapted=True,
        )

    def get(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)


@dataclass
class ErrorRecord:
    """A PowerShell ErrorRecord, reduced to what a remote client sees."""

    message: str
    error_id: str = "RuntimeException"  # FullyQualifiedErrorId
    category: str = "NotSpecified"  # ErrorCategory name, e.g. InvalidArgument, ObjectNotFound
    exception_type: str = "System.Management.Automation.RuntimeException"
    target: Any = None
    command: str | None = None  # the command that raised it, e.g. New-NetIPsecRule
    line: int | None = None  # 1-based script line, when known

    def __str__(self) -> str:
        return self.message


class PowerShellError(Exception):
    """An error raised while running a script or a command.

    ``terminating=False`` means a non-terminating error (Write-Error, a cmdlet's per-object failure): the
    engine writes the record to the error stream and goes on, unless ``$ErrorActionPreference`` or
    ``-ErrorAction`` is ``Stop``, which turns it into a terminating one.
    """

    def __init__(self, record: ErrorRecord, terminating: bool = True) -> None:
        super().__init__(record.message)
        self.record = record
        self.terminating = terminating
