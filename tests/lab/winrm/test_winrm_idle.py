"""HTTP.sys's idle-connection timer on the lab's listeners, and the controller's transport living with it:
a connection found closed before a request is reopened (and re-authenticated), a request whose connection
dies under it is reported, never sent again."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from pypsrp.exceptions import WinRMTransportError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.winrm import LabEndpoint, TlsMaterial
from ipsec_remote.remote.reconnect import has_live_connection
from ipsec_remote.remote.transport import HostSession, HostTarget, RetryPolicy, TransportError

USER, PASSWORD = "LAB\\admin", "Lab-Pass-1"  # the conftest endpoints' account

EndpointFactory = Callable[..., LabEndpoint]
IDLE_S = 0.3
WAIT_S = 20.0  # only bounds a hang; every wait below ends on an event


def _wait(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached")


def _post(ep: LabEndpoint, tls: TlsMaterial) -> socket.socket:
    """A raw keep-alive connection that has had one request answered (an unauthenticated POST: 401)."""
    raw = socket.create_connection(("127.0.0.1", ep.port), timeout=WAIT_S)
    sock: socket.socket = raw
    if ep.https:
        ctx = ssl.create_default_context(cafile=str(tls.ca_bundle))
        sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")  # the lab's certificate names 127.0.0.1
    sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 401"), head
    return sock


@pytest.mark.parametrize(("scheme", "reset"), [("https", False), ("https", True), ("http", False), ("http", True)])
def test_an_idle_keep_alive_connection_is_closed_by_the_server(
    endpoint: EndpointFactory, tls: TlsMaterial, scheme: str, reset: bool
) -> None:
    ep = endpoint(scheme, "basic" if scheme == "https" else "ntlm", idle_timeout_s=IDLE_S, idle_reset=reset)
    sock = _post(ep, tls)
    try:
        try:
            assert sock.recv(4096) == b""  # an orderly close: EOF (after close_notify over TLS)
            closed_how = "orderly"
        except (ConnectionResetError, ssl.SSLError):
            closed_how = "reset"
        if scheme == "http":  # (the ssl module reports a reset under TLS as EOF or an error, by version)
            assert closed_how == ("reset" if reset else "orderly")
        assert ep.idle.closed == 1
        _wait(lambda: not ep.connections)  # its descriptor is freed without waiting for the client
    finally:
        sock.close()


def test_a_connection_with_a_request_in_flight_is_not_idle(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    ep = endpoint(idle_timeout_s=IDLE_S)
    with RunspacePool(connect(ep)) as pool:
        ep.hooks.rtt_s = lambda: 3 * IDLE_S  # each answer takes longer than the idle timeout
        assert PowerShell(pool).add_script("input").invoke() == [0]
        assert ep.idle.closed == 0
        ep.hooks.rtt_s = lambda: 0.0


def test_no_idle_timeout_keeps_connections(endpoint: EndpointFactory, tls: TlsMaterial) -> None:
    ep = endpoint(idle_timeout_s=None)
    sock = _post(ep, tls)
    try:
        sock.settimeout(5 * IDLE_S)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        assert ep.idle.closed == 0 and len(ep.connections) == 1
    finally:
        sock.close()


@pytest.mark.parametrize(("scheme", "auth"), [("https", "basic"), ("https", "ntlm"), ("http", "ntlm")])
@pytest.mark.parametrize("reset", [False, True])
def test_the_next_request_after_an_idle_close_opens_a_new_connection(
    endpoint: EndpointFactory, tls: TlsMaterial, scheme: str, auth: str, reset: bool
) -> None:
    """The controller's own session (transport.py's pool, pypsrp set up as it sets it up)."""
    ep = endpoint(scheme, auth, idle_timeout_s=IDLE_S, idle_reset=reset)
    with _session(ep, tls) as session:
        pool = session._pool  # the fake host runs the test scripts, not the package's
        assert pool is not None
        assert PowerShell(pool).add_script("input").invoke() == [0]
        _wait(lambda: ep.idle.closed == 1)
        _wait(lambda: not has_live_connection(pool.connection.transport.session))
        assert PowerShell(pool).add_script("input").invoke() == [0]  # same shell, new connection
    assert ep.counters.Command == 2 and ep.counters.Create == 1 and ep.counters.Delete == 1


def test_without_reauthentication_a_sealed_request_on_a_new_connection_is_refused(
    endpoint: EndpointFactory, connect: Callable[..., WSMan]
) -> None:
    """The lab is not kind: NTLM's message sealing belongs to the connection it was set up on, so a request
    sealed before the host closed that connection cannot be read on the next one (HTTP 400 here)."""
    ep = endpoint("http", "ntlm", idle_timeout_s=IDLE_S)
    pool = RunspacePool(connect(ep))  # not closed: its Delete would be refused the same way
    pool.open()
    assert PowerShell(pool).add_script("input").invoke() == [0]
    _wait(lambda: ep.idle.closed == 1)
    with pytest.raises(WinRMTransportError) as info:
        PowerShell(pool).add_script("input").invoke()
    assert info.value.code == 400
    assert ep.counters.Command == 1  # the second Command never reached the host


def _session(ep: LabEndpoint, tls: TlsMaterial) -> HostSession:
    target = HostTarget("sql01", ep.url, USER, SecretStr(PASSWORD), auth=ep.config.auth,
                        ca_bundle=str(tls.ca_bundle), operation_timeout_s=5, connect_timeout_s=5)
    return HostSession(target, RetryPolicy(attempts=3, max_wait_s=0.1, budget_s=10))


@pytest.mark.parametrize("verdict", ["close", "drop"])
@pytest.mark.parametrize(("scheme", "auth"), [("https", "basic"), ("http", "ntlm")])
def test_a_command_whose_connection_dies_before_the_answer_is_reported_not_sent_again(
    endpoint: EndpointFactory, tls: TlsMaterial, verdict: str, scheme: str, auth: str
) -> None:
    """The race an idle timer makes: the host closes (FIN, "close") or resets ("drop") the connection the
    Command has just been written on. The host may have run it; the client must say so, not send it again."""
    ep = endpoint(scheme, auth)
    seen: list[str] = []

    def die_on_first_command(kind: str) -> Any:
        seen.append(kind)
        return verdict if kind == "Command" and seen.count("Command") == 1 else "ok"

    with _session(ep, tls) as session:
        ep.hooks.before_request = die_on_first_command
        with pytest.raises(TransportError, match="dropped before the answer"):
            session.run("invoke_batch", {"Calls": []}, retry=False)
        assert ep.counters.Command == 1  # written once, never re-sent
