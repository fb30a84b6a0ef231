"""HTTP authentication as a WinRM listener does it: Basic (HTTPS only), Negotiate/NTLM, or Kerberos (through
Negotiate or the Kerberos scheme), the last two with WinRM message encryption over HTTP
(``multipart/encrypted``, boundary ``Encrypted Boundary``, SPNEGO or Kerberos session protocol).

Kerberos is accepted by MIT krb5 through pyspnego/gssapi: the endpoint's acceptor credential names its own
SPN (``HTTP@<host fqdn>``, then ``WSMAN@<host fqdn>``), from the keytab ``KRB5_KTNAME`` names — so a ticket
for another host is refused, as a Windows host refuses a ticket that is not for its account.

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
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
_MIME = b"--" + BOUNDARY.encode()
_TOKEN = re.compile(r"^\s*(Negotiate|NTLM|Kerberos)\s+(\S+)\s*$", re.I)
_ENV_LOCK = threading.Lock()
# The service classes a WinRM listener answers to: WSMAN/ is registered by the WinRM service, HTTP/ is what
# the Windows WinRM client asks for by default (both map to the computer account's HOST/ keys).
SPN_SERVICES = ("HTTP", "WSMAN")
AUTH_KINDS = ("kerberos", "ntlm", "basic", "certificate")


class AuthFailure(Exception):
    """The credentials or the token were rejected (HTTP 401), with the acceptor's error token if it made one
    (a Kerberos KRB-ERROR such as KRB_AP_ERR_SKEW, which tells the client why)."""

    def __init__(self, message: str, token: bytes | None = None) -> None:
        super().__init__(message)
        self.token = token


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
    """Authentication state of one TCP connection: NTLM and Kerberos contexts are bound to the connection."""

    context: Any = None
    authenticated: bool = False
    principal: str = ""
    kind: str = ""  # what authenticated it: one of AUTH_KINDS
    delegated: bool = False  # the client forwarded its TGT (Kerberos delegation)


class AuthCounters:
    """WSMan requests by the authentication that carried them (``lab inspect``'s ``requests_by_auth``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(AUTH_KINDS, 0)
        self.delegated_logons = 0  # Kerberos logons that carried a forwarded TGT (``delegate = true``)

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def add_logon(self, conn: ConnectionAuth) -> None:
        if conn.delegated:
            with self._lock:
                self.delegated_logons += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


# What pypsrp (and Windows' WinRM client) sends as the Authorization header for client certificates
# (WS-Management "https/mutual" security profile, DSP0226).
CERT_PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


class Authenticator:
    def __init__(self, mode: str, username: str, password: str, user_file: Path | None,
                 spn_host: str | None = None, cert_user: str | None = None) -> None:
        self.mode = mode  # basic | ntlm | negotiate | kerberos | certificate
        self.username = username
        self._basic = self._encode(f"{username}:{password}")
        self._user_file = user_file
        self.spn_host = spn_host  # kerberos: this host's FQDN in its SPNs
        self.cert_user = cert_user  # certificate: the UPN mapped to the local account

    @staticmethod
    def _encode(text: str) -> bytes:
        try:
            return text.encode("latin-1")  # what requests' HTTPBasicAuth sends
        except UnicodeEncodeError:
            return text.encode("utf-8")

    def challenge(self) -> list[tuple[str, str]]:
        if self.mode == "basic":
            return [("WWW-Authenticate", 'Basic realm="WSMAN"')]
        if self.mode == "certificate":
            return []  # the certificate travels in the TLS handshake; nothing to negotiate over HTTP
        if self.mode == "kerberos":
            # A listener with Negotiate and Kerberos enabled offers both schemes; NTLM inside Negotiate is
            # refused below (Restrict NTLM: deny incoming, the setting of a Kerberos-only domain).
            return [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "Kerberos")]
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

    def check_certificate(self, header: str, upn: str | None) -> str:
        """The TLS layer verified the chain against the lab CA; the mapping decides the account (by UPN)."""
        if header.strip() != CERT_PROFILE:
            raise AuthFailure("no client certificate authentication requested")
        if upn is None or self.cert_user is None or upn.lower() != self.cert_user.lower():
            raise AuthFailure("client certificate is not mapped to a local account")
        return self.username

    def step(self, conn: ConnectionAuth, header: str) -> bytes | None:
        """One Negotiate/NTLM/Kerberos leg; returns the token to send back (if any). Raises AuthFailure."""
        m = _TOKEN.match(header)
        if not m:
            raise AuthFailure("not a Negotiate token")
        token = base64.b64decode(m.group(2))
        out = self._step_kerberos(conn, token) if self.mode == "kerberos" else self._step_ntlm(conn, token)
        if conn.context is not None and conn.context.complete:
            conn.authenticated = True
            conn.principal = str(conn.context.client_principal or self.username)
        return out

    def _step_ntlm(self, conn: ConnectionAuth, token: bytes) -> bytes | None:
        if self._user_file is None:
            raise AuthFailure("no NTLM accounts on this endpoint")
        try:
            with _ntlm_user_file(self._user_file):
                if conn.context is None or conn.context.complete:
                    conn.authenticated = False
                    # use_negotiate: pyspnego's own SPNEGO, which takes NTLM — not GSSAPI's, which on this
                    # machine would offer Kerberos only.
                    conn.context = spnego.server(
                        protocol="negotiate",
                        options=spnego.NegotiateOptions.wrapping_winrm | spnego.NegotiateOptions.use_negotiate,
                    )
                out: bytes | None = conn.context.step(token)
        except Exception as exc:  # SpnegoError and friends: a failed logon
            conn.context, conn.authenticated = None, False
            raise AuthFailure(str(exc)) from None
        if conn.context.complete and conn.context.negotiated_protocol != "ntlm":
            conn.context, conn.authenticated = None, False
            raise AuthFailure("only NTLM is accepted by this endpoint")
        conn.kind = "ntlm"
        return out

    def _step_kerberos(self, conn: ConnectionAuth, token: bytes) -> bytes | None:
        if conn.context is not None and not conn.context.complete:
            try:  # a later SPNEGO leg (mechListMIC) of the context that took the first one
                return self._kerberos_only(conn, conn.context.step(token))
            except AuthFailure:
                raise
            except Exception as exc:
                conn.context, conn.authenticated = None, False
                raise AuthFailure(str(exc)) from None
        conn.authenticated = False
        last = "no SPN"
        # The ticket names one SPN; the acceptor credential of each service class is tried in turn. A ticket
        # for another principal fails before its authenticator is decrypted, so nothing enters the replay
        # cache and the next class can take the same token.
        for service in SPN_SERVICES:
            try:
                context = spnego.server(
                    protocol="negotiate",
                    options=spnego.NegotiateOptions.wrapping_winrm,
                    credentials=spnego.CredentialCache(username=f"{service}@{self.spn_host}"),
                )
                out: bytes | None = context.step(token)
            except Exception as exc:  # wrong principal, skew, bad ticket … — MIT's words
                last = str(exc)
                continue
            conn.context = context
            return self._kerberos_only(conn, out)
        conn.context = None
        raise AuthFailure(last, self._kerberos_error_token(token))

    def _kerberos_error_token(self, token: bytes) -> bytes | None:
        """The KRB-ERROR MIT's acceptor answers a refused AP-REQ with (mutual authentication asks for one).

        pyspnego raises on that answer and drops the token, so it is asked for again from gssapi directly. A
        refused AP-REQ never reaches the replay cache (time and principal are checked first), so the same
        token is refused the same way.
        """
        import gssapi  # present wherever this endpoint accepted Kerberos at all

        for service in SPN_SERVICES:
            name = gssapi.Name(f"{service}@{self.spn_host}", gssapi.NameType.hostbased_service)
            try:
                creds = gssapi.Credentials(name=name, usage="accept")
                out = gssapi.SecurityContext(creds=creds, usage="accept").step(token)
            except Exception:  # not this SPN's ticket, or no token to give: try the next
                continue
            if out:
                return bytes(out)
        return None

    @staticmethod
    def _kerberos_only(conn: ConnectionAuth, out: bytes | None) -> bytes | None:
        if conn.context.complete and conn.context.negotiated_protocol != "kerberos":
            conn.context, conn.authenticated = None, False
            raise AuthFailure("NTLM is refused: this endpoint accepts Kerberos only")
        conn.kind = "kerberos"
        if conn.context.complete:
            conn.delegated = bool(conn.context.context_attr & spnego.ContextReq.delegate)
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
