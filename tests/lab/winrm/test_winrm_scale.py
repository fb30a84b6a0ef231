"""Several endpoints in one server: concurrency, isolation, and how fast endpoints come and go."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.winrm import EndpointConfig, LabEndpoint, LabServer

EndpointFactory = Callable[..., LabEndpoint]


def _session(ep: LabEndpoint, connect: Callable[..., WSMan], runs: int) -> list[Any]:
    names = []
    with RunspacePool(connect(ep)) as pool:
        for i in range(runs):
            ps = PowerShell(pool).add_script("echo").add_parameter("I", i)
            [obj] = ps.invoke()
            names.append((obj.extended_properties["Host"], obj.extended_properties["I"]))
            ps.close()
    return names


def test_two_endpoints_concurrently(endpoint: EndpointFactory, connect: Callable[..., WSMan],
                                    fake_host: Any) -> None:
    a = endpoint("https", "basic", fake_host("a01"))
    b = endpoint("http", "ntlm", fake_host("b01"))
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_session, ep, connect, 10) for ep in (a, b, a, b)]
        results = [f.result(timeout=60) for f in futures]
    assert results[0] == results[2] == [("a01", i) for i in range(10)]
    assert results[1] == results[3] == [("b01", i) for i in range(10)]
    for ep in (a, b):  # two pools of 10 pipelines each
        assert ep.counters.as_dict() == {"Create": 2, "Command": 20, "Receive": 22, "Send": 0, "Signal": 20,
                                         "Delete": 2, "Get": 0, "total": 66}
    assert len(a.host.calls) == len(b.host.calls) == 20


def test_adding_and_removing_many_endpoints_is_quick(server: LabServer, connect: Callable[..., WSMan],
                                                     fake_host: Any) -> None:
    count = 300
    start = time.perf_counter()
    eps = [server.add_endpoint(fake_host(f"h{i:04d}"), EndpointConfig("LAB\\admin", "Lab-Pass-1"))
           for i in range(count)]
    added = time.perf_counter() - start
    try:
        assert len({ep.port for ep in eps}) == count
        for ep in (eps[0], eps[count // 2], eps[-1]):
            assert _session(ep, connect, 1) == [(ep.host.name, 0)]
        print(f"\nadded {count} endpoints in {added:.3f}s ({added / count * 1000:.2f} ms each)")
        assert added < 15  # ~1 ms each when measured; the bound only catches a pathological regression
    finally:
        start = time.perf_counter()
        for ep in eps:
            server.remove_endpoint(ep)
        removed = time.perf_counter() - start
    print(f"removed {count} endpoints in {removed:.3f}s")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(eps[0].url.replace("https", "http"), data=b"", timeout=2)


def test_add_endpoint_on_a_fixed_port_and_a_busy_port(server: LabServer, fake_host: Any) -> None:
    first = server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "pw"))
    try:
        with pytest.raises(OSError):
            server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "pw", port=first.port))
        assert first in server.endpoints
    finally:
        server.remove_endpoint(first)
    again = server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "pw", port=first.port))
    try:
        assert again.url == f"https://127.0.0.1:{first.port}/wsman"
    finally:
        server.remove_endpoint(again)


def test_stop_ends_held_receives_and_frees_the_ports(tls: Any, fake_host: Any, connect: Callable[..., WSMan]) -> None:
    server = LabServer(tls)
    server.start()
    ep = server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "Lab-Pass-1"))
    pool = RunspacePool(connect(ep))
    pool.open()
    with ThreadPoolExecutor(1) as executor:
        held = executor.submit(pool.shell.receive, "stdout", None, 5)  # waits on the server for output
        time.sleep(0.2)
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 3
        with pytest.raises(requests.exceptions.ConnectionError):
            held.result(timeout=5)
    with pytest.raises(RuntimeError, match="start"):
        server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "pw"))
    server.start()  # a stopped server can be started again, and the old port is free
    again = server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "Lab-Pass-1", port=ep.port))
    try:
        with RunspacePool(connect(again)) as fresh:
            assert PowerShell(fresh).add_script("input").invoke() == [0]
    finally:
        server.stop()
