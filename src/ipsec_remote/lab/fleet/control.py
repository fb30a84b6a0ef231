"""The lab process's control endpoint on 127.0.0.1: ``GET /health`` (how many WinRM endpoints serve),
``GET /inspect`` (DESIGN §5 shape), ``GET /stats`` (the lab process's CPU and memory and each host's WSMan
request count: what benchmarks read without a whole inspect), ``POST /shutdown``.

Only whoever can read ``lab.json`` (mode 0600) knows the random bearer token, so another local user cannot
read the fleet's state or stop it. Plain HTTP is enough on the loopback interface.
"""

from __future__ import annotations

import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ControlServer:
    def __init__(self, token: str, inspect: Callable[[], dict[str, Any]], shutdown: Callable[[], None],
                 health: Callable[[], dict[str, Any]], stats: Callable[[], dict[str, Any]] | None = None) -> None:
        self._token = token
        handler = _make_handler(token, inspect, shutdown, health, stats or (lambda: {}))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="lab-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(
    token: str, inspect: Callable[[], dict[str, Any]], shutdown: Callable[[], None],
    health: Callable[[], dict[str, Any]], stats: Callable[[], dict[str, Any]],
) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not worth a log line; errors reach the caller as status codes

        def _authorised(self) -> bool:
            given = self.headers.get("Authorization", "").encode()
            if hmac.compare_digest(given, expected):
                return True
            self._send(401, {"error": "missing or wrong token"})
            return False

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path == "/health":
                self._send(200, health())
            elif self.path == "/inspect":
                self._send(200, inspect())
            elif self.path == "/stats":
                self._send(200, stats())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if not self._authorised():
                return
            if self.path == "/shutdown":
                self._send(200, {"ok": True})
                shutdown()
            else:
                self._send(404, {"error": "not found"})

    return Handler


class ControlError(Exception):
    """The lab process did not answer as expected."""


def call(url: str, token: str, method: str, path: str, timeout: float = 60.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url + path, method=method, data=b"" if method == "POST" else None,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        raise ControlError(f"lab control endpoint answered {exc.code} for {path}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ControlError(f"lab control endpoint {url} is not answering ({reason})") from None
