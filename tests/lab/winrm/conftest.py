"""A lab WinRM server on loopback and a tiny ScriptHost whose behaviour the script text selects.

The real engine and host model are separate; this host only needs to produce every kind of result the
endpoint must carry: extended and adapted objects, non-terminating errors, a terminating failure, and an
echo of pipeline input.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.wsman import WSMan

from ipsec_remote.lab.runtime import PipelineCommand, PipelineResult
from ipsec_remote.lab.values import ErrorRecord, PSHashtable, PSObject
from ipsec_remote.lab.winrm import EndpointConfig, LabEndpoint, LabServer, TlsMaterial, make_lab_ca

USER = "LAB\\admin"
PASSWORD = "Lab-Pass-1"


class FakeHost:
    """``echo``: one [pscustomobject] with the parameters; ``cim``: a CIM-like object; ``error``: a
    non-terminating error then output; ``fail``: output then a terminating error; ``input``: the input."""

    def __init__(self, name: str = "sql01") -> None:
        self.name = name
        self.calls: list[tuple[list[PipelineCommand], list[Any]]] = []

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        self.calls.append((commands, pipeline_input))
        cmd = commands[0]
        named = {n: v for n, v in cmd.parameters if n is not None}
        positional = [v for n, v in cmd.parameters if n is None]
        text = cmd.text.strip()
        if text == "echo":
            return PipelineResult(output=[PSObject.custom({"Host": self.name, **named, "Args": positional})])
        if text == "cim":
            rule = PSObject.cim("root/StandardCimv2/MSFT_NetConSecRule",
                                {"Name": named.get("Name", "r1"), "InboundSecurity": 2, "Enabled": True})
            return PipelineResult(output=[rule])
        if text == "error":
            err = ErrorRecord("No rule named 'x' exists", error_id="CmdletizationQuery_NotFound,Get-NetIPsecRule",
                              category="ObjectNotFound", command="Get-NetIPsecRule", target="x",
                              exception_type="Microsoft.Management.Infrastructure.CimException")
            return PipelineResult(output=["after"], errors=[err])
        if text == "fail":
            return PipelineResult(output=["partial"], failure=ErrorRecord(
                "Access is denied.", error_id="Windows System Error 5,New-NetIPsecRule",
                category="PermissionDenied", command="New-NetIPsecRule"))
        if text == "input":
            return PipelineResult(output=[len(pipeline_input), *pipeline_input])
        if text == "types":
            inner = PSObject.custom(Name="inner", Tags=["a", "b"])
            table = PSHashtable(Key="v", Count=2)
            return PipelineResult(output=[PSObject.custom(
                When=datetime.datetime(2026, 11, 27, 6, 5, 0, tzinfo=datetime.timezone.utc), Nothing=None,
                Big=2**40, Negative=-5, Nested=inner, Table=table, Objects=[inner, inner], Empty=[]),
                None, 7, "text", True])
        if text == "big":
            return PipelineResult(output=["x" * 1000 for _ in range(int(named.get("Count", 1)))])
        return PipelineResult(failure=ErrorRecord(f"The term '{text}' is not recognized",
                                                  error_id="CommandNotFoundException",
                                                  category="ObjectNotFound"))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_lab_ca(Path(tmp_path_factory.mktemp("lab-ca")))


@pytest.fixture(scope="session")
def server(tls: TlsMaterial) -> Iterator[LabServer]:
    srv = LabServer(tls)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fake_host() -> type[FakeHost]:
    return FakeHost


@pytest.fixture
def endpoint(server: LabServer) -> Iterator[Callable[..., LabEndpoint]]:
    made: list[LabEndpoint] = []

    def make(scheme: str = "https", auth: str = "basic", host: FakeHost | None = None, **config: Any) -> LabEndpoint:
        ep = server.add_endpoint(host or FakeHost(), EndpointConfig(USER, PASSWORD, scheme=scheme, auth=auth,
                                                                    **config))
        made.append(ep)
        return ep

    yield make
    for ep in made:
        server.remove_endpoint(ep)


@pytest.fixture
def connect(tls: TlsMaterial) -> Callable[..., WSMan]:
    """pypsrp WSMan clients built the way the controller builds them: certificates validated against the
    lab CA, short timeouts so a failing test fails fast."""

    def make(ep: LabEndpoint, password: str = PASSWORD, **kwargs: Any) -> WSMan:
        return _client(ep, tls, password, **kwargs)

    return make


def _client(ep: LabEndpoint, tls: TlsMaterial, password: str, **kwargs: Any) -> WSMan:
    scheme = ep.url.split(":", 1)[0]
    options: dict[str, Any] = {
        "port": ep.port, "ssl": scheme == "https", "auth": ep.config.auth, "username": USER, "password": password,
        "cert_validation": str(tls.ca_bundle), "operation_timeout": 5, "read_timeout": 10,
        "connection_timeout": 5,
    }
    options.update(kwargs)
    return WSMan("127.0.0.1", **options)
