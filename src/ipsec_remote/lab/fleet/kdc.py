"""A real MIT Kerberos realm on loopback for ``lab up --auth kerberos``.

The lab is the fleet's domain: it creates a realm (``kdb5_util create``), one ``HTTP/<host>.<domain>`` and one
``WSMAN/<host>.<domain>`` service principal per lab host with their keys in one keytab the lab's WinRM
acceptors read (``KRB5_KTNAME``), and a user principal for the controller; then it runs ``krb5kdc`` on a
free 127.0.0.1 port. Everything lives in a private directory (``KRB5_CONFIG`` / ``KRB5_KDC_PROFILE`` point
there): nothing of the machine's own Kerberos set-up is read or changed.

A Windows computer account carries HOST/ SPNs that WinRM's HTTP/ and WSMAN/ service classes map to; the lab
registers the two service classes explicitly, for the FQDN only (an alias or a short name is then an unknown
SPN, as for a CNAME in a real domain).

Faults: ``kdc_down`` leaves ``krb5kdc`` stopped (clients cannot reach a KDC); ``kdc_clock_skew_s`` runs
it under libfaketime, its clock that far off the machine's (the lab hosts' and the controller's).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Debian's packages: krb5-kdc (krb5kdc), krb5-admin-server / krb5-kdc (kdb5_util, kadmin.local).
KDC_BINARIES = ("krb5kdc", "kdb5_util", "kadmin.local")
FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)
SERVICE_CLASSES = ("HTTP", "WSMAN")


class KdcError(Exception):
    """The realm could not be created or the KDC did not start (one line, with the tool's own words)."""


def missing_binaries() -> list[str]:
    return [b for b in KDC_BINARIES if _which(b) is None]


def faketime_library() -> str | None:
    return next((p for p in FAKETIME_LIBS if Path(p).is_file()), None)


def _which(name: str) -> str | None:
    # kdb5_util and kadmin.local live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


@dataclass
class LabRealm:
    directory: Path
    realm: str  # e.g. LAB.LOCAL
    domain: str  # e.g. lab.local (the hosts' DNS suffix)
    hosts: list[str]
    user: str  # principal name without realm, e.g. admin
    password: str = field(repr=False)
    skip_spn: frozenset[str] = frozenset()  # hosts whose SPNs are not registered (fault)
    kdc_clock_skew_s: float = 0.0
    kdc_down: bool = False
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.directory / "kdc.conf"

    @property
    def keytab(self) -> Path:
        return self.directory / "http.keytab"

    @property
    def user_principal(self) -> str:
        return f"{self.user}@{self.realm}"

    def spn_host(self, host: str) -> str:
        return f"{host.lower()}.{self.domain}"

    @property
    def env(self) -> dict[str, str]:
        # No replay cache for the lab's acceptors: a refused token is judged a second time to obtain MIT's
        # error token (winrm/auth.py), which a replay cache would turn into "Request is a replay".
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_conf),
                "KRB5_KTNAME": f"FILE:{self.keytab}", "KRB5RCACHETYPE": "none"}

    # --- lifecycle ------------------------------------------------------------------------------------------
    def create(self) -> None:
        missing = missing_binaries()
        if missing:
            raise KdcError(f"MIT Kerberos KDC tools not installed ({', '.join(missing)}); "
                           "run 'make kerberos' (apt-get install krb5-kdc krb5-admin-server krb5-user)")
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, mode=0o700)
        self.port = _free_port()
        self._write_config()
        master = os.urandom(18).hex()
        self._run(["kdb5_util", "create", "-s", "-r", self.realm, "-P", master])
        lines = [f"addprinc -pw {self.password} +requires_preauth {self.user}"]
        for host in self.hosts:
            if host in self.skip_spn:
                continue
            for service in SERVICE_CLASSES:
                spn = f"{service}/{self.spn_host(host)}"
                lines += [f"addprinc -randkey {spn}", f"ktadd -k {self.keytab} {spn}"]
        # One kadmin.local for every principal (one process per host would cost seconds on a big fleet).
        self._run(["kadmin.local", "-r", self.realm], stdin="\n".join(lines) + "\n")

    def start(self) -> None:
        if self.kdc_down:
            return
        env = {**os.environ, **self.env}
        if self.kdc_clock_skew_s:
            lib = faketime_library()
            if lib is None:
                raise KdcError("kdc_clock_skew_s needs libfaketime (apt-get install faketime)")
            env.update({"LD_PRELOAD": lib, "FAKETIME": f"{self.kdc_clock_skew_s:+.0f}s",
                        "FAKETIME_DONT_RESET": "1"})
        log = open(self.directory / "krb5kdc.out", "wb")  # noqa: SIM115 - closed with the process
        try:
            self._process = subprocess.Popen([_which("krb5kdc") or "krb5kdc", "-n", "-r", self.realm],
                                             env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = (self.directory / "krb5kdc.out").read_text(errors="replace").strip().splitlines()[-1:]
                raise KdcError(f"krb5kdc exited with code {self._process.returncode}: {' '.join(tail)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise KdcError(f"krb5kdc did not listen on 127.0.0.1:{self.port} within 15 s")

    def stop(self) -> None:
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # --- helpers --------------------------------------------------------------------------------------------
    def _run(self, args: list[str], stdin: str | None = None) -> None:
        exe = _which(args[0]) or args[0]
        proc = subprocess.run([exe, *args[1:]], input=stdin, text=True, capture_output=True,
                              env={**os.environ, **self.env}, timeout=300)
        errors = [line for line in proc.stderr.splitlines() if "WARNING" not in line and line.strip()]
        if proc.returncode != 0 or any("error" in line.lower() for line in errors):
            raise KdcError(f"{args[0]} failed: {(errors or [f'exit code {proc.returncode}'])[-1]}")

    def _write_config(self) -> None:
        d = self.directory
        # rdns/dns_canonicalize_hostname off: the SPN is the name the client asked for, never a DNS answer.
        # udp_preference_limit = 1: always TCP (one socket; no UDP retransmission timers in tests).
        self.krb5_conf.write_text(f"""[libdefaults]
 default_realm = {self.realm}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
 kdc_timeout = 2000
 max_retries = 1

[realms]
 {self.realm} = {{
  kdc = 127.0.0.1:{self.port}
 }}

[domain_realm]
 .{self.domain} = {self.realm}
 {self.domain} = {self.realm}
""")
        self.kdc_conf.write_text(f"""[kdcdefaults]
 kdc_listen = 127.0.0.1:{self.port}
 kdc_tcp_listen = 127.0.0.1:{self.port}

[realms]
 {self.realm} = {{
  database_name = {d}/principal
  key_stash_file = {d}/stash
  acl_file = {d}/kadm5.acl
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  max_life = 10h
  max_renewable_life = 1d
 }}

[logging]
 kdc = FILE:{d}/kdc.log
""")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
