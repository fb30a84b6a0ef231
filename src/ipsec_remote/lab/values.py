"""PowerShell values shared by the lab's engine, host model and WinRM layer.

The lab never imports the controller's core; these types are the one vocabulary its three layers speak:

* ``str``, ``int``, ``float``, ``bool``, ``None`` and ``datetime`` stand for themselves;
* a Python ``list`` is a PowerShell array (``object[]``);
* ``PSHashtable`` is ``@{}`` (ordered here for stable output, case-insensitive keys as in PowerShell);
* ``PSObject`` is anything with named properties: ``[pscustomobject]`` (extended properties, as
  Select-Object and pscustomobject emit them) or a CIM-like cmdlet result (adapted properties);
* ``ErrorRecord`` is what a non-terminating error writes to the error stream;
* ``UInt8``/``UInt16``/``UInt32``/``UInt64`` are ints that keep their CIM type (they travel as ``<By>``,
  ``<U16>``, ``<U32>``, ``<U64>`` in CLIXML); a CIM instance's own properties (``$o.PSBase.
  CimInstanceProperties``) are ``CimProperty`` values in ``PSObject.cim_props``.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, MutableMapping, ValuesView
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

PSCUSTOMOBJECT_TYPES = ("System.Management.Automation.PSCustomObject", "System.Object")


class UInt8(int):
    __slots__ = ()
    cim_type = "uint8"


class UInt16(int):
    __slots__ = ()
    cim_type = "uint16"


class UInt32(int):
    __slots__ = ()
    cim_type = "uint32"


class UInt64(int):
    __slots__ = ()
    cim_type = "uint64"


class CaseInsensitiveDict(MutableMapping[str, Any]):
    """Insertion-ordered mapping whose keys compare case-insensitively but keep their spelling.

    The lab's engine and host model read and build these on every script line (issue 17: a tenth of the lab's
    CPU went to the ``MutableMapping`` mixins), hence the direct overrides of what the mixins would do.
    """

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._data: dict[str, tuple[str, Any]] = {}
        if items:
            if isinstance(items, CaseInsensitiveDict):
                self._data.update(items._data)  # already one entry per key, first spelling kept
            else:
                for k, v in items.items():
                    self[k] = v
        for k, v in kwargs.items():
            self[k] = v

    @classmethod
    def from_entries(cls, entries: dict[str, tuple[str, Any]]) -> CaseInsensitiveDict:
        """A mapping that takes over ``entries`` (lowered key -> (spelling, value)) as they are: for callers
        that build many mappings with known keys (CIM instances)."""
        made = cls()
        made._data = entries
        return made

    def __getitem__(self, key: str) -> Any:
        return self._data[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        low = key.lower()
        old = self._data.get(low)
        # keep the first spelling, like PowerShell
        self._data[low] = (key, value) if old is None else (old[0], value)

    def __delitem__(self, key: str) -> None:
        del self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return map(itemgetter(0), self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._data.get(key.lower())
        return default if entry is None else entry[1]

    def items(self) -> _Items:
        return _Items(self)

    def values(self) -> _Values:
        return _Values(self)

    def canonical(self, key: str) -> str | None:
        """The stored spelling of ``key``, or None."""
        entry = self._data.get(key.lower())
        return entry[0] if entry else None

    def copy(self) -> CaseInsensitiveDict:
        return type(self)(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


class _Items(ItemsView[str, Any]):
    """``items()`` iterating the stored (spelling, value) pairs directly."""

    _mapping: CaseInsensitiveDict

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self._mapping._data.values())


class _Values(ValuesView[Any]):
    _mapping: CaseInsensitiveDict

    def __iter__(self) -> Iterator[Any]:
        return map(itemgetter(1), self._mapping._data.values())


class PSHashtable(CaseInsensitiveDict):
    """``@{ ... }``."""


@dataclass
class PSObject:
    """An object with named properties.

    ``adapted`` is False for ``[pscustomobject]``/Select-Object output (properties travel as *extended*
    properties in CLIXML) and True for CIM-like cmdlet results (properties travel as *adapted* ones).
    ``cim_props`` holds a CIM instance's own properties (name -> ``CimProperty``), what
    ``$o.PSBase.CimInstanceProperties`` reads; ``properties`` is what ``$o.Name`` sees (the same values, plus
    whatever a type layer adds or shadows).
    """

    properties: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    type_names: list[str] = field(default_factory=lambda: list(PSCUSTOMOBJECT_TYPES))
    adapted: bool = False
    to_string: str | None = None
    cim_props: CaseInsensitiveDict | None = None

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

    def cim_value(self, name: str, default: Any = None) -> Any:
        """A CIM property's value (``$o.PSBase.CimInstanceProperties[name].Value``), else ``default``."""
        prop = self.cim_props.get(name) if self.cim_props is not None else None
        return prop.value if isinstance(prop, CimProperty) else default

    @property
    def cim_class(self) -> str | None:
        """``MSFT_NetConSecRule`` for a CIM instance, else None."""
        if self.cim_props is None or not self.type_names:
            return None
        return self.type_names[0].rsplit("/", 1)[-1]


class NetObject:
    """A .NET object a host command hands to a script (``New-Object System.Net.Sockets.TcpClient``).

    The engine reaches it only through ``member`` (properties) and ``invoke`` (methods); names arrive
    lower-cased, and ``invoke`` returns None for a void method (it writes nothing to the pipeline). A method
    that fails raises ``PowerShellError`` carrying the text PowerShell shows for a
    .NET exception (``Exception calling "X" with "n" argument(s): "…"``).
    """

    type_name = "System.Object"

    def member(self, name: str) -> Any:
        return None

    def invoke(self, name: str, args: list[Any]) -> Any:
        raise PowerShellError(ErrorRecord(
            f"Method invocation failed because [{self.type_name}] does not contain a method named '{name}'.",
            "MethodNotFound", "InvalidOperation"))


def method_exception(method: str, args: list[Any], message: str, error_id: str) -> PowerShellError:
    """PowerShell's wrapping of a .NET exception thrown by ``$obj.Method(args)`` (MethodInvocationException)."""
    return PowerShellError(ErrorRecord(
        f'Exception calling "{method}" with "{len(args)}" argument(s): "{message}"', error_id, "NotSpecified",
        "System.Management.Automation.MethodInvocationException"))


@dataclass(frozen=True)
class CimProperty:
    """One entry of ``CimInstance.CimInstanceProperties``: Name, Value and CimType (Microsoft.Management.
    Infrastructure.CimProperty; CimType names as the CIM schema spells them, e.g. ``uint16``)."""

    name: str
    value: Any
    cim_type: str


@dataclass(frozen=True)
class CimPropertyCollection:
    """``$o.PSBase.CimInstanceProperties``: indexed by property name (case-insensitive); a missing name
    indexes to ``$null`` (CimKeyedCollection's indexer)."""

    items: CaseInsensitiveDict


@dataclass(frozen=True)
class CimInstanceBase:
    """``$cimInstance.PSBase``: the CimInstance itself, seen without the PowerShell adapter."""

    instance: PSObject


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
