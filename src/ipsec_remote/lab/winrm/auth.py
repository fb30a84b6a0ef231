"""HTTP authentication as a WinRM listener does it: Basic (HTTPS only) or Negotiate/NTLM with WinRM
message encryption (``multipart/encrypted``, boundary ``Encrypted Boundary``).

pyspnego's NTLM acceptor reads the accepted credentials from the file named by ``NTLM_USER_FILE``. Each
endpoint gets its own file (one ``DOMAIN:USER:PASSWORD`` line, mode 0600) and the variable is pointed at
it only for the duration of an acceptor call, under a process-wide lock; the acceptor reads the file in
its constructor and in the step that checks the client's answer, and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego

BOUNDARY = "Encrypted Boundary"
SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
_MIME = b"--" + BOUNDARY.encode()
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
_TOKEN = re.compile(r"^\s*(Negotiate|NTLM|Kerberos)\s+(\S+)\s*$", re.I)
_ENV_LOCK = threading.Lock()


class AuthFailure(Exception):
    """The credentials or the token were rejected (HTTP 401)."""


@contextmanager
def _ntlm_user_file(path: Path) -> Iterator[None]:
    with _ENV_LOCK:
        previous = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = previous


def write_user_file(path: Path, username: str, password: str) -> None:
    """``DOMAIN:USER:PASSWORD`` (Heimdal format), readable by the owner only."""
    if any(c in password or c in username for c in ":\r\n"):
        raise ValueError("NTLM endpoints need a username and password without ':' or line breaks")
    domain, _, user = username.rpartition("\\")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{domain}:{user}:{password}\n")


@dataclass
class ConnectionAuth:
    """Authentication state of one TCP connection: NTLM contexts are bound to the connection."""

    context: Any = None
    authenticated: bool = False
    principal: str = ""


class Authenticator:
    def __init__(self, mode: str, username: str, password: str, user_file: Path | None) -> None:
        self.mode = mode  # basic | ntlm | negotiate
        self.username = username
        self._basic = self._encode(f"{username}:{password}")
        self._user_file = user_file

    @staticmethod
    def _encode(text: str) -> bytes:
        try:
            return text.encode("latin-1")  # what requests' HTTPBasicAuth sends
        except UnicodeEncodeError:
            return text.encode("utf-8")

    def challenge(self) -> list[tuple[str, str]]:
        if self.mode == "basic":
            return [("WWW-Authenticate", 'Basic realm="WSMAN"')]
        return [("WWW-Authenticate", "Negotiate")]

    def check_basic(self, header: str) -> str:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise AuthFailure("not Basic")
        try:
            supplied = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise AuthFailure("malformed Basic credentials") from None
        if not hmac.compare_digest(supplied, self._basic):
            raise AuthFailure("wrong user name or password")
        return self.username

    def step(self, conn: ConnectionAuth, header: str) -> bytes | None:
        """One Negotiate/NTLM leg; returns the token to send back (if any). Raises AuthFailure."""
        m = _TOKEN.match(header)
        if not m or self._user_file is None:
            raise AuthFailure("not a Negotiate token")
        token = base64.b64decode(m.group(2))
        try:
            with _ntlm_user_file(self._user_file):
                if conn.context is None or conn.context.complete:
                    conn.authenticated = False
                    conn.context = spnego.server(
                        protocol="negotiate", options=spnego.NegotiateOptions.wrapping_winrm
                    )
                out: bytes | None = conn.context.step(token)
        except Exception as exc:  # SpnegoError and friends: a failed logon
            conn.context, conn.authenticated = None, False
            raise AuthFailure(str(exc)) from None
        if conn.context.complete:
            conn.authenticated = True
            conn.principal = str(conn.context.client_principal or self.username)
        return out


def unwrap(conn: ConnectionAuth, body: bytes) -> bytes:
    """Decrypt a ``multipart/encrypted`` body (one or more parts) with the connection's context."""
    parts = [p for p in body.split(_MIME + b"\r\n") if p]
    message = b""
    for i in range(0, len(parts) - 1, 2):
        header_part, payload = parts[i], parts[i + 1]
        expected = int(header_part.split(b"Length=")[1].split(b"\r\n")[0])
        if payload.endswith(_MIME + b"--\r\n"):
            payload = payload[: -len(_MIME + b"--\r\n")]
        if payload.startswith(_OCTET):
            payload = payload[len(_OCTET):]
        (hlen,) = struct.unpack("<i", payload[:4])
        plain: bytes = conn.context.unwrap_winrm(payload[4 : 4 + hlen], payload[4 + hlen :])
        if len(plain) != expected:
            raise AuthFailure("encrypted message length mismatch")
        message += plain
    return message


def wrap(conn: ConnectionAuth, message: bytes, protocol: str = SPNEGO_PROTOCOL) -> tuple[str, bytes]:
    header, data, padding = conn.context.wrap_winrm(message)
    head = (
        f"--{BOUNDARY}\r\n\tContent-Type: {protocol}\r\n"
        f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message) + padding}\r\n"
        f"--{BOUNDARY}\r\n"
    ).encode()
    body = head + _OCTET + struct.pack("<i", len(header)) + header + data + _MIME + b"--\r\n"
    return f'multipart/encrypted;protocol="{protocol}";boundary="{BOUNDARY}"', body


def content_protocol(content_type: str) -> str:
    m = re.search(r'protocol="([^"]+)"', content_type)
    return m.group(1) if m else SPNEGO_PROTOCOL
