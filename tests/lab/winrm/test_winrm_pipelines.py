"""Unmodified pypsrp against the lab endpoint: objects, streams, failures and the exact request counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pypsrp.complex_objects import ObjectMeta, PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.values import PSHashtable
from ipsec_remote.lab.winrm import LabEndpoint

EndpointFactory = Callable[..., LabEndpoint]

TRANSPORTS = [("https", "basic"), ("http", "ntlm"), ("http", "negotiate")]


@pytest.mark.parametrize(("scheme", "auth"), TRANSPORTS)
def test_parameters_round_trip_as_extended_properties(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], fake_host: Any, scheme: str, auth: str
) -> None:
    host = fake_host("app01")
    ep = endpoint(scheme, auth, host)
    with RunspacePool(connect(ep)) as pool:
        ps = PowerShell(pool)
        ps.add_script("echo").add_parameters({"Name": "r1", "Count": 3, "Enabled": True, "Ratio": 0.5,
                                              "Addresses": ["10.0.0.1", "10.0.0.2"], "Map": {"k": "v"}})
        ps.add_argument("pos1")
        out = ps.invoke()
    assert not ps.had_errors and ps.streams.error == []
    assert len(out) == 1
    props = out[0].extended_properties
    assert props["Host"] == "app01"
    assert props["Name"] == "r1" and props["Count"] == 3 and props["Enabled"] is True
    assert props["Ratio"] == 0.5
    assert props["Addresses"] == ["10.0.0.1", "10.0.0.2"]
    assert props["Map"] == {"k": "v"}
    assert props["Args"] == ["pos1"]
    assert out[0].adapted_properties == {}
    # What the host received is the lab's value model, in PSRP parameter order.
    commands, pipeline_input = host.calls[-1]
    assert commands[0].text == "echo" and commands[0].is_script
    assert [n for n, _ in commands[0].parameters] == ["Name", "Count", "Enabled", "Ratio", "Addresses", "Map", None]
    assert isinstance(dict(commands[0].parameters[:6])["Map"], PSHashtable)
    assert type(dict(commands[0].parameters[:6])["Name"]) is str
    assert pipeline_input == []


def test_cim_objects_carry_adapted_properties_and_type_names(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        out = PowerShell(pool).add_cmdlet("cim").add_parameter("Name", "pair-a-b").invoke()
    assert out[0].adapted_properties == {"Name": "pair-a-b", "InboundSecurity": 2, "Enabled": True}
    # On the wire the type names are the originals; PowerShell (not pypsrp) adds "Deserialized." on receipt.
    assert out[0].types[0] == "Microsoft.Management.Infrastructure.CimInstance#root/StandardCimv2/MSFT_NetConSecRule"


@pytest.mark.parametrize(("scheme", "auth"), TRANSPORTS[:2])
def test_non_terminating_error_reaches_streams_error(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], scheme: str, auth: str
) -> None:
    ep = endpoint(scheme, auth)
    with RunspacePool(connect(ep)) as pool:
        ps = PowerShell(pool).add_script("error")
        out = ps.invoke()
    assert out == ["after"]
    assert ps.had_errors is False  # pypsrp only sets it on a failed pipeline (DESIGN §3)
    assert ps.state == PSInvocationState.COMPLETED
    [err] = ps.streams.error
    assert str(err) == "No rule named 'x' exists"
    assert err.fq_error == "CmdletizationQuery_NotFound,Get-NetIPsecRule"
    assert err.category == 13  # ErrorCategory.ObjectNotFound
    assert err.message == "ObjectNotFound: (x:String) [Get-NetIPsecRule], CimException"
    assert err.exception.adapted_properties["Message"] == "No rule named 'x' exists"


def test_failure_fails_the_pipeline(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        ps = PowerShell(pool).add_script("fail")
        out = ps.invoke()
    assert out == ["partial"]
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    [err] = ps.streams.error
    assert str(err) == "Access is denied."
    assert err.fq_error == "Windows System Error 5,New-NetIPsecRule"
    assert err.message.startswith("PermissionDenied: ")


def test_request_counts_are_the_protocol_facts(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    pool = RunspacePool(connect(ep))
    pool.open()
    assert ep.counters.as_dict() == {"Create": 1, "Command": 0, "Receive": 1, "Send": 0, "Signal": 0,
                                     "Delete": 0, "Get": 0, "total": 2}
    ps = PowerShell(pool).add_script("echo")
    ps.invoke()
    assert (ep.counters.Command, ep.counters.Receive, ep.counters.total) == (1, 2, 4)
    ps.close()
    assert ep.counters.Signal == 1 and ep.counters.total == 5
    pool.close()
    assert ep.counters.as_dict() == {"Create": 1, "Command": 1, "Receive": 2, "Send": 0, "Signal": 1,
                                     "Delete": 1, "Get": 0, "total": 6}


def test_many_pipelines_on_one_pool_get_their_own_output(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint("http", "ntlm")
    with RunspacePool(connect(ep)) as pool:
        shells = [PowerShell(pool).add_script("echo").add_parameter("N", i) for i in range(5)]
        for ps in shells:  # all started before any output is read: outputs must not cross
            ps.begin_invoke()
        results: list[Any] = [ps.end_invoke() for ps in reversed(shells)]
        for ps in shells:
            ps.close()
    assert [r[0].extended_properties["N"] for r in results] == [4, 3, 2, 1, 0]
    assert ep.counters.Command == 5 and ep.counters.Signal == 5 and ep.counters.Receive == 6


def test_large_output_spans_several_receives(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        out = PowerShell(pool).add_script("big").add_parameter("Count", 600).invoke()
    assert len(out) == 600 and out[0] == "x" * 1000
    assert ep.counters.Receive > 2  # ~600 KB cannot fit pypsrp's 150 KiB envelope in one Receive


def test_pipeline_input_is_passed_to_the_host(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], fake_host: Any
) -> None:
    host = fake_host()
    ep = endpoint(host=host)
    with RunspacePool(connect(ep)) as pool:
        ps = PowerShell(pool).add_script("input")
        out = ps.invoke(input=["a", 2, True])
    assert out == [3, "a", 2, True]
    assert host.calls[-1][1] == ["a", 2, True]
    assert ep.counters.Send == 1


def test_statements_run_in_order(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], fake_host: Any
) -> None:
    host = fake_host()
    ep = endpoint(host=host)
    with RunspacePool(connect(ep)) as pool:
        ps = PowerShell(pool).add_script("echo").add_parameter("N", 1).add_statement()
        ps.add_script("echo").add_parameter("N", 2)
        out = ps.invoke()
    assert [o.extended_properties["N"] for o in out] == [1, 2]
    assert len(host.calls) == 2


def test_stop_and_is_alive(endpoint: EndpointFactory, connect: Callable[..., WSMan], tls: Any) -> None:
    ep: LabEndpoint = endpoint()
    pool = RunspacePool(connect(ep))
    pool.open()
    assert pool.is_alive() is True
    assert ep.counters.Get == 1
    ps = PowerShell(pool).add_script("echo")
    ps.begin_invoke()
    ps.stop()  # already finished on the lab host: Windows answers the signal all the same
    assert ep.counters.Signal == 1
    pool.close()
    stale = RunspacePool(connect(ep))
    stale.shell.id = pool.shell.id
    stale.shell._selector_set = pool.shell._selector_set
    stale.state = pool.state = 2  # pretend it is still open: the server no longer knows the shell
    assert stale.is_alive() is False


def test_pool_level_calls_pypsrp_makes(endpoint: EndpointFactory, connect: Callable[..., WSMan],
                                       fake_host: Any) -> None:
    """Key exchange (for SecureString), runspace limits and state reset are answered on the pool."""
    host = fake_host()
    ep = endpoint(host=host)
    with RunspacePool(connect(ep)) as pool:
        pool.exchange_keys()
        pool.max_runspaces = 2
        assert pool.max_runspaces == 2
        pool.reset_runspace_state()
        secret = pool.serialize("s3cret", ObjectMeta("SS"))
        PowerShell(pool).add_script("echo").add_parameter("Secret", secret).invoke()
    assert dict(host.calls[-1][0][0].parameters)["Secret"] == "s3cret"


def test_a_pipeline_too_big_for_one_envelope_arrives_through_send(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], fake_host: Any
) -> None:
    host = fake_host()
    ep = endpoint("http", "ntlm", host)
    blob = "0123456789abcdef" * 25_000  # 400 KB: pypsrp splits CreatePipeline over Command + Send
    with RunspacePool(connect(ep)) as pool:
        [obj] = PowerShell(pool).add_script("echo").add_parameter("Blob", blob).invoke()
    assert obj.extended_properties["Blob"] == blob
    assert dict(host.calls[-1][0][0].parameters)["Blob"] == blob
    assert ep.counters.Command == 1 and ep.counters.Send >= 1


def test_value_types_survive_the_trip(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        obj, nothing, seven, text, flag = PowerShell(pool).add_script("types").invoke()
    # A bare $null travels as an empty PipelineOutput message (psrpcore follows PowerShell here), which
    # pypsrp hands back as "".
    assert (nothing, seven, text, flag) == ("", 7, "text", True)
    props = obj.extended_properties
    assert props["When"].startswith("2026-11-27T06:05:00")  # pypsrp leaves DateTime as its XML text
    assert props["Nothing"] is None and props["Big"] == 2**40 and props["Negative"] == -5
    assert props["Nested"].extended_properties == {"Name": "inner", "Tags": ["a", "b"]}
    assert props["Table"] == {"Key": "v", "Count": 2}
    assert [o.extended_properties["Name"] for o in props["Objects"]] == ["inner", "inner"]
    assert props["Empty"] == []
