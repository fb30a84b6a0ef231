"""A small asyncio HTTP/1.1 server protocol: keep-alive, TCP_NODELAY, TLS started per connection.

Written against ``asyncio.Protocol`` rather than streams because a thousand listeners share one loop, and
because TLS must start only *after* the endpoint decides whether to accept the connection at all (a
locked-out host resets the TCP connection before any handshake).

Every request body is read completely before it is answered, including on 401: NTLM's handshake reuses
the connection, and an unread body would be taken for the next request.

A keep-alive connection with no request in flight is closed by the server once it has been idle for the
endpoint's idle timeout, as HTTP.sys (which WinRM listens through) does: its IdleConnection timer, 120 s by
default ("Server Timeouts Property", learn.microsoft.com/windows/win32/http/server-timeouts-property: "IdleConnection
The connection expired while staying idle. 120 Sec"; "add timeout", learn.microsoft.com/windows/win32/http/
add-timeout; HTTP.sys enforces it "only after the first request on the connection is routed to the
application", learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.httpsys.timeoutmanager.idleconnection).
Whether that close is a FIN or a reset is not documented: ``IdlePolicy.reset`` chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error"}


@dataclass
class HttpRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/soap+xml;charset=UTF-8"

    def encode(self, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Status')}", "Server: Microsoft-HTTPAPI/2.0"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body:
            lines.append(f"Content-Type: {self.content_type}")
        lines.append(f"Content-Length: {len(self.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class IdlePolicy:
    """HTTP.sys's idle-connection timer for one endpoint; ``closed`` counts the connections it closed."""

    timeout_s: float | None = 120.0  # None: never (HTTP.sys's default IdleConnectionTimeout is 120 s)
    reset: bool = False  # True: close with a TCP RST instead of an orderly close (FIN, TLS close_notify)
    closed: int = 0


class Connection(asyncio.Protocol):
    """One client connection. ``handler`` returns a response, or None to drop the connection unanswered."""

    def __init__(self, handler: Callable[[Connection, HttpRequest], Awaitable[HttpResponse | None]],
                 refuse: Callable[[], bool], ssl_context: ssl.SSLContext | None,
                 registry: set[Connection], idle: IdlePolicy | None = None) -> None:
        self._handler = handler
        self._refuse = refuse
        self._ssl = ssl_context
        self._registry = registry
        self._idle = idle or IdlePolicy(None)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._raw: asyncio.Transport | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._buffer = bytearray()
        self._queue: deque[HttpRequest] = deque()
        self._serving = False
        self._closed = False
        self.peer = "127.0.0.1"
        self.state: Any = None  # per-connection data owned by the handler (authentication)

    def peer_certificate_upn(self) -> str | None:
        """The UPN in the verified TLS client certificate, if the client sent one."""
        from .clientcert import upn_of  # only certificate endpoints get here

        tls = self._transport
        ssl_object = tls.get_extra_info("ssl_object") if tls is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return upn_of(der) if der else None

    # ---- transport events ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0])
        if sock is not None:
            # Without it a response split into segments waits for the client's delayed ACK (~40-200 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            refuse = self._refuse()
        except Exception:  # a broken hook must not take the listener down; treat it as "accept"
            log.exception("refuse_connection hook failed")
            refuse = False
        if refuse:
            self.reset()
            return
        self._registry.add(self)
        if self._ssl is None:
            self._transport = transport
        else:
            transport.pause_reading()  # nothing may reach data_received before the TLS layer is in place
            asyncio.get_running_loop().create_task(self._start_tls(transport, self._ssl))

    async def _start_tls(self, transport: asyncio.Transport, ctx: ssl.SSLContext) -> None:
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, self, ctx, server_side=True, ssl_handshake_timeout=15
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            log.debug("TLS handshake from %s failed: %s", self.peer, exc)
            self.reset()
            return
        if tls is None:
            self.reset()
            return
        self._transport = tls

    def data_received(self, data: bytes) -> None:
        self._disarm_idle()
        self._buffer += data
        try:
            self._parse()
        except _BadRequest as exc:
            self._send(HttpResponse(exc.status, content_type="text/plain"), keep_alive=False)
            self.close()
            return
        if self._queue and not self._serving:
            self._serving = True
            asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._disarm_idle()
        self._registry.discard(self)

    # ---- parsing and serving -------------------------------------------------------------------------
    def _parse(self) -> None:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER:
                    raise _BadRequest(400)
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            try:
                method, path, version = request_line.split(" ", 2)
            except ValueError:
                raise _BadRequest(400) from None
            headers: dict[str, str] = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                raise _BadRequest(411)  # WinRM clients always send Content-Length
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest(400) from None
            if length < 0 or length > MAX_BODY:
                raise _BadRequest(413)
            if len(self._buffer) < end + 4 + length:
                return  # the whole body is read before the request is handled
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            self._queue.append(HttpRequest(method.upper(), path, version.upper(), headers, body))

    async def _serve(self) -> None:
        try:
            while self._queue and not self._closed:
                request = self._queue.popleft()
                keep_alive = request.version == "HTTP/1.1" and request.header("connection").lower() != "close"
                try:
                    response = await self._handler(self, request)
                except Exception:
                    log.exception("lab WinRM handler failed")
                    response = HttpResponse(500, content_type="text/plain")
                if response is None:
                    if not self._closed:  # already closed in order (close_unanswered): no reset after it
                        self.reset()
                    return
                self._send(response, keep_alive)
                if not keep_alive:
                    self.close()
                    return
            if not self._buffer:
                self._arm_idle()  # answered everything and nothing half-received: the connection is idle now
        finally:
            self._serving = False

    # ---- HTTP.sys's idle-connection timer ------------------------------------------------------------
    def _arm_idle(self) -> None:
        self._disarm_idle()
        if self._idle.timeout_s is not None and not self._closed:
            self._idle_timer = asyncio.get_running_loop().call_later(self._idle.timeout_s, self._idle_expired)

    def _disarm_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self._closed or self._serving or self._queue or self._buffer:
            return  # a request arrived meanwhile: not idle
        self._idle.closed += 1
        if self._idle.reset:
            self.reset()
        else:
            self.close_unanswered()

    def _send(self, response: HttpResponse, keep_alive: bool) -> None:
        transport = self._transport
        if transport is not None and not self._closed and isinstance(transport, asyncio.WriteTransport):
            transport.write(response.encode(keep_alive))  # one write: head and body in one segment train

    # ---- teardown ------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        elif self._raw is not None:
            self._raw.close()

    def close_unanswered(self) -> None:
        """Close in order (TLS close_notify, then FIN) with nothing more to answer.

        The socket is closed at once, without waiting for the client's close_notify (TLS lets the side that
        closes do so, RFC 8446 §6.1): asyncio would otherwise hold it until the client next touches the
        connection or for 30 s, a descriptor per idle connection that HTTP.sys does not keep."""
        self._closed = True
        self.close()
        raw = self._raw
        if raw is not None and self._transport is not raw:
            asyncio.get_running_loop().call_soon(raw.close)  # after the close_notify is queued on it

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0): the client sees 'connection reset', not a clean close."""
        self._closed = True
        self._disarm_idle()
        self._registry.discard(self)
        raw = self._raw
        if raw is None:
            return
        sock = raw.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.abort()


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
