"""Lab WinRM endpoint figures: endpoint setup cost, per-request latency, and a 1,000-host sweep.

    .venv/bin/python bench/lab_endpoints.py [--hosts 1000] [--threads 32] [--pipelines 3]

The server runs in a child process (as ``lab up`` runs it) so the pypsrp clients in this process do not
share its GIL; figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.runtime import PipelineCommand, PipelineResult
from ipsec_remote.lab.values import PSObject
from ipsec_remote.lab.winrm import EndpointConfig, LabServer, make_lab_ca

PASSWORD = "Bench-Pass-1"


class EchoHost:
    def __init__(self, name: str) -> None:
        self.name = name

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult:
        params = {n: v for n, v in commands[0].parameters if n}
        return PipelineResult(output=[PSObject.custom({"Host": self.name, **params})])


def _serve(conn: Connection, ca_dir: str, hosts: int) -> None:
    server = LabServer(make_lab_ca(Path(ca_dir)))
    server.start()
    start = time.perf_counter()
    https = [server.add_endpoint(EchoHost(f"h{i:04d}"), EndpointConfig("LAB\\admin", PASSWORD))
             for i in range(hosts)]
    added = time.perf_counter() - start
    ntlm = server.add_endpoint(EchoHost("ntlm"), EndpointConfig("LAB\\admin", PASSWORD, scheme="http", auth="ntlm"))
    conn.send((added, [ep.port for ep in https], ntlm.port))
    conn.recv()  # the parent starts the sweep
    cpu_before = time.process_time()
    conn.send("go")
    conn.recv()  # the parent is done
    conn.send((sum(ep.counters.total for ep in https), time.process_time() - cpu_before))
    server.stop()


def _client(port: int, ca: str, ssl: bool = True) -> WSMan:
    return WSMan("127.0.0.1", port=port, ssl=ssl, auth="basic" if ssl else "ntlm", username="LAB\\admin",
                 password=PASSWORD, cert_validation=ca, operation_timeout=10)


def _latency(port: int, ca: str, ssl: bool, runs: int = 200) -> tuple[float, float]:
    """(median ms per pipeline round trip = Command + Receive, ms to open a pool = Create + Receive)."""
    opens = []
    for _ in range(5):
        t = time.perf_counter()
        pool = RunspacePool(_client(port, ca, ssl))
        pool.open()
        opens.append(time.perf_counter() - t)
        pool.close()
    samples = []
    with RunspacePool(_client(port, ca, ssl)) as pool:
        for i in range(runs):
            ps = PowerShell(pool).add_script("echo").add_parameter("I", i)
            t = time.perf_counter()
            ps.invoke()
            samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000, statistics.median(opens) * 1000


def _host_session(port: int, ca: str, pipelines: int) -> int:
    with RunspacePool(_client(port, ca)) as pool:
        for i in range(pipelines):
            ps = PowerShell(pool).add_script("echo").add_parameter("I", i)
            ps.invoke()
            ps.close()
    return 2 + 3 * pipelines + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--pipelines", type=int, default=3)
    args = parser.parse_args()
    ca_dir = tempfile.mkdtemp(prefix="lab-bench-ca-")
    ca = str(Path(ca_dir) / "lab-ca.pem")
    parent, child = mp.get_context("fork").Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(child, ca_dir, args.hosts), daemon=True)
    proc.start()
    added, ports, ntlm_port = parent.recv()
    print(f"add_endpoint x{args.hosts} (https/basic): {added:.3f} s ({added / args.hosts * 1000:.2f} ms each)")

    for label, port, ssl in (("https/basic", ports[0], True), ("http/ntlm+encryption", ntlm_port, False)):
        per_pipeline, per_open = _latency(port, ca, ssl)
        print(f"{label}: pipeline (Command+Receive) median {per_pipeline:.2f} ms "
              f"= {per_pipeline / 2:.2f} ms/request; pool open (Create+Receive) {per_open:.2f} ms")

    parent.send("sweep")
    parent.recv()
    start = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        requests_sent = sum(pool.map(lambda p: _host_session(p, ca, args.pipelines), ports))
    took = time.perf_counter() - start
    parent.send("done")
    counted, server_cpu = parent.recv()
    proc.join(timeout=30)
    print(f"sweep: {args.hosts} hosts x (open, {args.pipelines} pipelines, close) with {args.threads} client "
          f"threads: {took:.2f} s, {requests_sent} requests ({counted} counted by the lab), "
          f"{requests_sent / took:.0f} requests/s")
    print(f"lab server CPU during the sweep: {server_cpu:.2f} s = {server_cpu / requests_sent * 1000:.2f} ms per "
          "request (the rest of the wall time is the pypsrp clients)")


if __name__ == "__main__":
    main()
