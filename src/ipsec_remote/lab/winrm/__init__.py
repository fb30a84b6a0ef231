"""The lab's WinRM endpoint: real WS-Management/PSRP over HTTP(S) for simulated Windows hosts.

Unmodified pypsrp talks to it as to a Windows Server 2022 listener; behind it, each endpoint hands decoded
pipelines to its lab host (``lab.runtime.ScriptHost``).
"""

from __future__ import annotations

from .counters import EndpointHooks, RequestCounters
from .server import EndpointConfig, LabEndpoint, LabServer
from .tls import TlsMaterial, make_lab_ca

__all__ = [
    "EndpointConfig",
    "EndpointHooks",
    "LabEndpoint",
    "LabServer",
    "RequestCounters",
    "TlsMaterial",
    "make_lab_ca",
]
