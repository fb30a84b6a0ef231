"""Members of the few .NET types the product's scripts touch besides PowerShell's own: a CIM instance's
``PSBase`` (``CimInstanceProperties``, ``CimSystemProperties``; Microsoft.Management.Infrastructure) and
``[ipaddress]`` (System.Net.IPAddress)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..values import CaseInsensitiveDict, CimInstanceBase, CimProperty, CimPropertyCollection, PSObject
from .errors import runtime_error
from .values import to_str


def ip_address(value: Any) -> str:
    """``[ipaddress]'x'``: the lab keeps an IPAddress as its canonical text (IPAddress.ToString(): IPv6
    compressed, lower case), so ``[string][ipaddress]$a -eq [string][ipaddress]$b`` compares addresses."""
    text = to_str(value).strip()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise runtime_error(
            f'Cannot convert value "{text}" to type "System.Net.IPAddress". Error: "An invalid IP address was '
            'specified."', "InvalidCastParseTargetInvocation", "InvalidArgument") from None


def cim_member(target: CimInstanceBase | CimPropertyCollection | CimProperty, low: str) -> Any:
    """The few Microsoft.Management.Infrastructure members the product's scripts read."""
    if isinstance(target, CimInstanceBase):
        inst = target.instance
        if low == "ciminstanceproperties":
            return CimPropertyCollection(inst.cim_props if inst.cim_props is not None else CaseInsensitiveDict())
        if low == "cimsystemproperties":
            namespace, _, cls = (inst.type_names[0].split("#", 1)[-1] if inst.type_names else "").rpartition("/")
            return PSObject.custom(ClassName=cls, Namespace=namespace, ServerName=None, Path=None)
        return 1 if low in ("count", "length") else None  # CIM properties are not .NET members of CimInstance
    if isinstance(target, CimPropertyCollection):
        return len(target.items) if low in ("count", "length") else None
    parts = {"name": target.name, "value": target.value, "cimtype": target.cim_type,
             "isvaluemodified": False, "flags": "Property"}
    return parts.get(low, 1 if low in ("count", "length") else None)
