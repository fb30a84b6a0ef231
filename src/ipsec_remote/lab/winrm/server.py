"""``LabServer``: one event loop thread serving the WinRM endpoints of many lab hosts, each on its own
127.0.0.1 port.

Sync callers (the fleet, tests) drive it: ``start()`` returns once the loop runs, ``add_endpoint`` returns
once the port listens. Sockets are bound in the caller's thread and only handed to the loop, so adding
1,000 endpoints costs one loop round trip each.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from ..runtime import ScriptHost
from . import soap
from .auth import (
    AuthCounters,
    Authenticator,
    AuthFailure,
    ConnectionAuth,
    content_protocol,
    unwrap,
    wrap,
    write_user_file,
)
from .counters import EndpointHooks, RequestCounters
from .http import Connection, HttpRequest, HttpResponse, IdlePolicy
from .tls import TlsMaterial
from .wsman import DEFAULT_MAX_SHELLS_PER_USER, WsmanService

log = logging.getLogger(__name__)
AuthMode = Literal["basic", "ntlm", "negotiate", "kerberos", "certificate"]
DEFAULT_IDLE_TIMEOUT_S = 120.0  # HTTP.sys's documented IdleConnectionTimeout default (sources: http.py)


@dataclass(frozen=True)
class EndpointConfig:
    username: str
    password: str = field(repr=False)
    scheme: Literal["https", "http"] = "https"
    port: int = 0  # 0: any free port
    auth: AuthMode = "basic"
    machine: str | None = None  # the name faults report (WSManFault Machine); defaults to host.name
    max_shells_per_user: int = DEFAULT_MAX_SHELLS_PER_USER
    spn_host: str | None = None  # kerberos: the FQDN of this host's HTTP/ and WSMAN/ SPNs
    cert_user: str | None = None  # certificate: the UPN a client certificate must carry to be mapped
    # HTTP.sys closes a keep-alive connection idle this long (IdleConnectionTimeout, default 120 s: http.py);
    # None: never. ``idle_reset``: that close is a TCP RST rather than an orderly close (undocumented).
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S
    idle_reset: bool = False

    def validate(self, has_tls: bool) -> None:
        if self.scheme not in ("https", "http"):
            raise ValueError(f"scheme must be https or http, not {self.scheme!r}")
        if self.auth not in ("basic", "ntlm", "negotiate", "kerberos", "certificate"):
            raise ValueError(f"auth must be basic, ntlm, negotiate, kerberos or certificate, not {self.auth!r}")
        if self.auth in ("basic", "certificate") and self.scheme != "https":
            raise ValueError(f"{self.auth} authentication is only offered over HTTPS")
        if self.auth == "kerberos" and not self.spn_host:
            raise ValueError("a kerberos endpoint needs spn_host (its SPNs' host name)")
        if self.auth == "certificate" and not self.cert_user:
            raise ValueError("a certificate endpoint needs cert_user (the mapped UPN)")
        if self.idle_timeout_s is not None and self.idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be a positive number of seconds (None: never)")
        if self.scheme == "https" and not has_tls:
            raise ValueError("an https endpoint needs the LabServer to be created with TlsMaterial")


class LabEndpoint:
    """One lab host's WinRM listener."""

    def __init__(self, host: ScriptHost, config: EndpointConfig, port: int, user_file: Path | None) -> None:
        self.host = host
        self.config = config
        self.port = port
        self.url = f"{config.scheme}://127.0.0.1:{port}/wsman"
        self.counters = RequestCounters()
        self.hooks = EndpointHooks()
        self.service = WsmanService(host, self.counters, str(config.machine or getattr(host, "name", "localhost")),
                                    config.max_shells_per_user, basic_auth=config.auth == "basic")
        self.auth = Authenticator(config.auth, config.username, config.password, user_file, config.spn_host,
                                  config.cert_user)
        self.auth_counts = AuthCounters()
        self.user_file = user_file
        self.connections: set[Connection] = set()
        self.idle = IdlePolicy(config.idle_timeout_s, config.idle_reset)
        self.server: asyncio.Server | None = None

    def __repr__(self) -> str:
        return f"LabEndpoint({getattr(self.host, 'name', '?')!r}, {self.url!r}, auth={self.config.auth!r})"

    @property
    def https(self) -> bool:
        return self.config.scheme == "https"

    async def handle(self, conn: Connection, request: HttpRequest) -> HttpResponse | None:
        if request.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            return HttpResponse(404, content_type="text/plain")
        if request.method != "POST":
            return HttpResponse(405, headers=[("Allow", "POST")], content_type="text/plain")
        if conn.state is None:
            conn.state = ConnectionAuth()
        state: ConnectionAuth = conn.state
        challenge = HttpResponse(401, headers=self.auth.challenge())
        extra: list[tuple[str, str]] = []
        authorization = request.header("authorization")
        if self.config.auth == "basic":
            try:
                principal = self.auth.check_basic(authorization)
            except AuthFailure:
                return challenge
            state.kind = "basic"
        elif self.config.auth == "certificate":
            try:
                principal = self.auth.check_certificate(authorization, conn.peer_certificate_upn())
            except AuthFailure:
                return challenge
            state.kind = "certificate"
        else:
            if authorization:
                try:
                    token = self.auth.step(state, authorization)
                except AuthFailure as failure:
                    if failure.token:
                        header = "Negotiate " + base64.b64encode(failure.token).decode()
                        return HttpResponse(401, headers=[("WWW-Authenticate", header)])
                    return challenge
                header = "Negotiate " + base64.b64encode(token).decode() if token else "Negotiate"
                if not state.authenticated:
                    return HttpResponse(401, headers=[("WWW-Authenticate", header)])
                self.auth_counts.add_logon(state)
                if token:
                    extra.append(("WWW-Authenticate", header))
            elif not state.authenticated:
                return challenge
            principal = state.principal

        content_type = request.header("content-type")
        encrypted = content_type.lower().startswith("multipart/encrypted")
        if encrypted:
            if state.context is None or not state.authenticated:
                return challenge
            try:
                body = unwrap(state, request.body)
            except Exception:  # a garbled or foreign-key message
                return HttpResponse(400, content_type="text/plain")
        elif request.body and not self.https:
            # AllowUnencrypted=false: over HTTP every WSMan message must be sealed.
            return challenge
        else:
            body = request.body
        if not body:
            return HttpResponse(200, headers=extra)  # the authentication-only request pypsrp sends first

        try:
            req = soap.parse_request(body)
        except soap.SoapError as err:
            status, envelope = 500, soap.fault_envelope(err.fault, "", self.service.machine)
        else:
            self.counters.add(req.kind)
            self.auth_counts.add(state.kind)
            verdict = self.hooks.before_request(req.kind)
            if verdict == "drop":
                return None
            if verdict == "close":
                conn.close_unanswered()
                return None
            if verdict == "http500":
                return HttpResponse(500, content_type="text/plain")
            delay = self.hooks.rtt_s()
            if delay > 0:
                await asyncio.sleep(delay)
            status, envelope = await self.service.handle(req, principal, conn.peer, self.url)
            owed = self.hooks.owed_s(req.kind)
            if owed > 0:
                await asyncio.sleep(owed)
        if encrypted:
            ctype, envelope = wrap(state, envelope, content_protocol(content_type))
            return HttpResponse(status, envelope, extra, content_type=ctype)
        return HttpResponse(status, envelope, extra)


class LabServer:
    """Owns the event loop thread; endpoints are added and removed from any thread."""

    def __init__(self, tls: TlsMaterial | None = None) -> None:
        self.tls = tls
        self._ssl: ssl.SSLContext | None = tls.server_context() if tls else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._endpoints: list[LabEndpoint] = []
        self._lock = threading.Lock()
        self._cred_dir: Path | None = None
        self._ssl_client: ssl.SSLContext | None = None

    @property
    def endpoints(self) -> list[LabEndpoint]:
        with self._lock:
            return list(self._endpoints)

    def start(self) -> None:
        if self._thread is not None:
            return
        _raise_fd_limit()
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="lab-winrm", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._not_on_loop()
        for ep in self.endpoints:
            self.remove_endpoint(ep)
        with contextlib.suppress(Exception):  # held Receives and half-open handshakes end here
            asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
        self._loop, self._thread = None, None
        if self._cred_dir is not None:
            shutil.rmtree(self._cred_dir, ignore_errors=True)
            self._cred_dir = None

    def __enter__(self) -> LabServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def add_endpoint(self, host: ScriptHost, config: EndpointConfig) -> LabEndpoint:
        loop = self._loop
        if loop is None:
            raise RuntimeError("LabServer.start() must be called before add_endpoint()")
        self._not_on_loop()
        config.validate(self._ssl is not None)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", config.port))
            sock.listen(128)
            sock.setblocking(False)
            port = sock.getsockname()[1]
            user_file = None
            if config.auth in ("ntlm", "negotiate"):
                user_file = self._credential_dir() / f"ntlm-{port}.users"
                write_user_file(user_file, config.username, config.password)
            ep = LabEndpoint(host, config, port, user_file)
            asyncio.run_coroutine_threadsafe(self._listen(ep, sock), loop).result(timeout=30)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self._endpoints.append(ep)
        return ep

    def remove_endpoint(self, ep: LabEndpoint) -> None:
        with self._lock:
            if ep not in self._endpoints:
                return
            self._endpoints.remove(ep)
        loop = self._loop
        if loop is not None and loop.is_running():
            self._not_on_loop()
            asyncio.run_coroutine_threadsafe(self._unlisten(ep), loop).result(timeout=30)
        if ep.user_file is not None:
            ep.user_file.unlink(missing_ok=True)

    async def _listen(self, ep: LabEndpoint, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        ssl_ctx = self._ssl if ep.https else None
        if ep.config.auth == "certificate" and self.tls is not None:
            ssl_ctx = self._client_cert_ssl()

        def factory() -> Connection:
            return Connection(ep.handle, lambda: ep.hooks.refuse_connection(), ssl_ctx, ep.connections, ep.idle)

        ep.server = await loop.create_server(factory, sock=sock, backlog=128)

    @staticmethod
    async def _unlisten(ep: LabEndpoint) -> None:
        if ep.server is not None:
            ep.server.close()
        for conn in list(ep.connections):
            conn.reset()
        ep.service.close_all()

    def _client_cert_ssl(self) -> ssl.SSLContext:
        """The listener asks for a client certificate and verifies it against the lab CA (the host's trusted
        root); a certificate from another CA fails the handshake, none at all reaches the mapping check."""
        if self._ssl_client is None:
            assert self.tls is not None
            ctx = self.tls.server_context()
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(str(self.tls.ca_cert))
            self._ssl_client = ctx
        return self._ssl_client

    def _not_on_loop(self) -> None:
        # These calls wait for the loop; made from the loop itself (a hook, a host) they would deadlock.
        if threading.current_thread() is self._thread:
            raise RuntimeError("LabServer methods must not be called from the lab's event loop thread")

    def _credential_dir(self) -> Path:
        if self._cred_dir is None:
            self._cred_dir = Path(tempfile.mkdtemp(prefix="ipsec-remote-lab-winrm-"))  # mode 0700
        return self._cred_dir


async def _cancel_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _raise_fd_limit() -> None:
    """Each endpoint holds a listening socket: lift the soft open-files limit to the hard one."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
