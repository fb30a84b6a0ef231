"""Fault hooks (lockout, HTTP 500, dropped connections, latency) and WSMan faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import CommandState
from pypsrp.wsman import WSMan

from ipsec_remote.lab.winrm import EndpointConfig, LabEndpoint, LabServer

EndpointFactory = Callable[..., LabEndpoint]


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_refuse_connection_fails_new_connections_only_while_set(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], scheme: str
) -> None:
    ep = endpoint(scheme, "basic" if scheme == "https" else "ntlm")
    ep.hooks.refuse_connection = lambda: True
    with pytest.raises(requests.exceptions.ConnectionError):
        RunspacePool(connect(ep)).open()
    assert ep.counters.total == 0
    ep.hooks.refuse_connection = lambda: False
    with RunspacePool(connect(ep)) as pool:
        assert PowerShell(pool).add_script("input").invoke() == [0]


def test_lockout_hits_the_next_connection_not_the_open_one(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        ep.hooks.refuse_connection = lambda: True
        assert PowerShell(pool).add_script("input").invoke() == [0]  # the kept-alive connection survives
        with pytest.raises(requests.exceptions.ConnectionError):
            RunspacePool(connect(ep)).open()
        ep.hooks.refuse_connection = lambda: False


def test_http500_then_recovery(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint("http", "ntlm")
    seen: list[str] = []

    def first_command_fails(kind: str) -> str:
        seen.append(kind)
        return "http500" if kind == "Command" and seen.count("Command") == 1 else "ok"

    ep.hooks.before_request = first_command_fails  # type: ignore[assignment]
    with RunspacePool(connect(ep)) as pool:
        with pytest.raises(WinRMTransportError) as info:
            PowerShell(pool).add_script("input").invoke()
        assert info.value.code == 500
        assert PowerShell(pool).add_script("input").invoke() == [0]  # the next one goes through
    assert seen == ["Create", "Receive", "Command", "Command", "Receive", "Delete"]
    assert ep.counters.Command == 2  # counted on receipt, whatever the hook made of it


def test_drop_resets_the_connection_mid_request(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    pool = RunspacePool(connect(ep))
    pool.open()
    ep.hooks.before_request = lambda kind: "drop" if kind == "Command" else "ok"
    with pytest.raises(requests.exceptions.ConnectionError):
        PowerShell(pool).add_script("input").invoke()
    ep.hooks.before_request = lambda kind: "ok"
    # Basic over HTTPS has no per-connection state: the client carries on over a new connection.
    assert PowerShell(pool).add_script("input").invoke() == [0]
    pool.close()


def test_rtt_delays_every_request(endpoint: EndpointFactory, connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    ep.hooks.rtt_s = lambda: 0.05
    start = time.perf_counter()
    with RunspacePool(connect(ep)) as pool:
        PowerShell(pool).add_script("input").invoke()
    assert time.perf_counter() - start >= 5 * 0.05  # Create, Receive, Command, Receive, Delete


def test_receive_with_nothing_to_send_times_out_with_the_poll_again_fault(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        start = time.perf_counter()
        with pytest.raises(WSManFaultError) as info:
            pool.shell.receive("stdout", timeout=1)
        assert info.value.code == 2150858793  # pypsrp's poll_invoke retries on exactly this code
        assert 0.3 < time.perf_counter() - start < 1.5
        # A finished command answers at once with CommandState Done, even with nothing left to send.
        ps = PowerShell(pool).add_script("input")
        ps.invoke()
        state, _, _ = pool.shell.receive("stdout", command_id=ps._command_id, timeout=1)
        assert state == CommandState.DONE


def test_unknown_action_and_unknown_shell_are_wsman_faults(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint()
    wsman = connect(ep)
    with pytest.raises(WSManFaultError) as info:
        wsman.invoke("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
                     "http://schemas.microsoft.com/wbem/wsman/1/windows/shell", None)
    assert info.value.code == 2150858771  # ERROR_WSMAN_ACTION_NOT_SUPPORTED
    assert ep.counters.as_dict()["Other"] == 1
    pool = RunspacePool(wsman)
    pool.open()
    pool.close()
    with pytest.raises(WSManFaultError) as info:
        pool.shell.receive("stdout", timeout=1)
    assert info.value.code == 2150858843 and "invalid selectors" in str(info.value.reason)


def test_garbage_psrp_data_is_a_fault_not_a_crash(endpoint: EndpointFactory,
                                                  connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    with RunspacePool(connect(ep)) as pool:
        with pytest.raises(WSManFaultError) as info:
            pool.shell.send("stdin", b"\x00" * 8 + b"\x00" * 8 + b"\x03" + b"\x00\x00\x00\x04" + b"junk")
        assert info.value.code == 2150858791 and "PSRP data" in str(info.value.reason)
        assert PowerShell(pool).add_script("input").invoke() == [0]  # the shell is still usable


def test_shell_quota_and_idle_timeout(server: LabServer, connect: Callable[..., WSMan], fake_host: Any) -> None:
    ep = server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "Lab-Pass-1", max_shells_per_user=2))
    try:
        pools = [RunspacePool(connect(ep)) for _ in range(2)]
        for p in pools:
            p.open()
        with pytest.raises(WSManFaultError) as info:
            RunspacePool(connect(ep)).open()
        assert info.value.code == 2150859173 and "maximum number of 2 concurrent shells" in str(info.value.reason)
        pools[0].close()
        short = RunspacePool(connect(ep), idle_timeout=1)  # the client asks for IdleTimeOut PT1S
        short.open()
        time.sleep(1.2)
        assert short.is_alive() is False  # the service deleted the idle shell
        assert pools[1].is_alive() is True
        pools[1].close()
    finally:
        server.remove_endpoint(ep)
