"""PowerShell remoting transport: one pypsrp RunspacePool per host for the whole command.

Layering: this module is the only one that imports pypsrp. It runs the package's fixed scripts
(``powershell/*.ps1``) with their data as PSRP parameters — never formatted into script text — and turns
pypsrp's objects into plain Python values. Transport failures (connection refused/reset, timeouts,
HTTP 5xx) are retried by tenacity with jittered exponential backoff and a bounded budget; authentication
and script errors never are. pypsrp's own reconnection retries stay at 0 so there is one retry policy.
Errors are translated here, once, into the project's exception hierarchy.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from pydantic import SecretStr
from pypsrp.complex_objects import GenericComplexObject, PSInvocationState
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from ..errors import IpsecRemoteError
from ..log import get_logger
from .autherrors import describe, is_kerberos_error, tls_alert
from .fastclixml import Frozen, no_copy, speed_up
from .fasthttp import FastSession
from .fastpipeline import create_pipeline
from .fastwsman import FastWSMan
from .reconnect import reauthenticate_on_new_connection


class TransportError(IpsecRemoteError):
    """The host could not be reached or the connection broke (after retries)."""


class HostAuthError(IpsecRemoteError):
    """The host refused our credentials (never retried)."""


class RemoteScriptError(IpsecRemoteError):
    """A script failed on the host (a terminating error); ``errors`` lists the error-stream records."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass(frozen=True)
class HostTarget:
    """Where and how to reach one host. ``password`` stays a SecretStr until pypsrp needs it."""

    name: str
    endpoint: str  # https://host:5986/wsman
    username: str | None
    password: SecretStr | None
    auth: str = "negotiate"
    ca_bundle: str | None = None  # validate the server certificate against this CA file
    operation_timeout_s: int = 30
    connect_timeout_s: int = 15
    # Kerberos (auth kerberos or negotiate): the SPN is <spn_service>/<spn_hostname or the endpoint's host>.
    spn_service: str = "HTTP"
    spn_hostname: str | None = None
    delegate: bool = False
    realm: str | None = None  # for messages; the user name already carries it
    password_env: str | None = None  # for messages: where a password would come from
    client_cert: str | None = None  # auth certificate: PEM certificate and key files
    client_key: str | None = None

    @property
    def spn(self) -> str:
        return f"{self.spn_service}/{self.spn_hostname or urlsplit(self.endpoint).hostname or ''}"

    def __repr__(self) -> str:  # keeps the password out of tracebacks and logs
        return f"HostTarget(name={self.name!r}, endpoint={self.endpoint!r}, auth={self.auth!r})"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    max_wait_s: float = 8.0
    budget_s: float = 60.0


@dataclass
class ScriptOutput:
    objects: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # non-terminating error records, as text


@cache
def script_text(name: str) -> str:
    """A fixed script shipped as package data (``powershell/<name>.ps1``)."""
    return importlib.resources.files("ipsec_remote.remote").joinpath(f"powershell/{name}.ps1").read_text("utf-8")


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return False  # an untrusted certificate stays untrusted (requests' SSLError is a ConnectionError)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, WinRMTransportError):
        return int(exc.code) >= 500
    return False


def plain(value: Any) -> Any:
    """pypsrp's deserialized objects → plain dicts, lists and scalars."""
    if isinstance(value, GenericComplexObject):
        props = dict(value.adapted_properties)
        props.update(value.extended_properties)
        if not props and value.to_string is not None:
            return value.to_string
        return {k: plain(v) for k, v in props.items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "value") and type(value).__name__ == "Enum":
        return str(value)
    return value


class HostSession:
    """An open RunspacePool on one host, reused for every script of a command."""

    def __init__(self, target: HostTarget, retry: RetryPolicy | None = None) -> None:
        self.target = target
        self.retry = retry or RetryPolicy()
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def open(self) -> HostSession:
        self._wsman, self._pool = self._retrying(self._open_pool)
        return self

    def close(self) -> None:
        pool, wsman = self._pool, self._wsman
        self._pool = self._wsman = None
        try:
            if pool is not None:
                pool.close()
        except (WinRMError, requests.RequestException):
            pass  # the host went away; nothing left to release on our side
        finally:
            if wsman is not None:
                wsman.close()

    def __enter__(self) -> HostSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_pool(self) -> tuple[WSMan, RunspacePool]:
        wsman = make_wsman(self.target)
        reauthenticate_on_new_connection(wsman)  # the host closes idle connections (reconnect.py)
        pool = RunspacePool(wsman)
        speed_up(pool)
        try:
            _proxies_read_once(wsman)
            pool.open()
        except BaseException:
            wsman.close()
            raise
        return wsman, pool

    # -- running scripts ------------------------------------------------------------------------------
    def run(self, script: str, parameters: dict[str, Any] | None = None, *, retry: bool = True) -> ScriptOutput:
        """Run ``powershell/<script>.ps1`` with ``parameters``.

        ``retry=False`` for scripts that change state: a broken connection may have left the batch half
        run, and the caller re-reads the host instead of replaying it blindly.
        """
        if self._pool is None:
            raise TransportError(f"{self.target.name}: session is not open")
        pool = self._pool

        def once() -> ScriptOutput:
            ps = _invoke(pool, [(script, parameters)])
            errors = [_error_text(e) for e in ps.streams.error]
            if ps.state == PSInvocationState.FAILED:  # a terminating error; had_errors alone is not enough
                raise RemoteScriptError(f"{self.target.name}: {script} failed: {errors[-1] if errors else ''}",
                                        errors)
            return ScriptOutput([plain(o) for o in ps.output], errors)

        result: ScriptOutput = self._retrying(once) if retry else self._translate(once)
        return result

    def run_statements(self, steps: list[tuple[str, dict[str, Any]]], *, retry: bool = False) -> ScriptOutput:
        """Several scripts as consecutive statements of ONE pipeline (one round trip), outputs in order.

        Not retried unless the caller says every statement only reads (``retry=True``).
        """
        if self._pool is None:
            raise TransportError(f"{self.target.name}: session is not open")
        pool = self._pool

        def once() -> ScriptOutput:
            ps = _invoke(pool, steps)
            errors = [_error_text(e) for e in ps.streams.error]
            if ps.state == PSInvocationState.FAILED:
                names = "+".join(s for s, _ in steps)
                raise RemoteScriptError(f"{self.target.name}: {names} failed: {errors[-1] if errors else ''}", errors)
            return ScriptOutput([plain(o) for o in ps.output], errors)

        result: ScriptOutput = self._retrying(once) if retry else self._translate(once)
        return result

    def _retrying(self, fn: Any) -> Any:
        policy = self.retry
        log = get_logger(host=self.target.name)
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            before_sleep=lambda state: log.warning(
                "transport error, retrying", attempt=state.attempt_number,
                error=type(state.outcome.exception()).__name__ if state.outcome else None),
            wait=wait_random_exponential(multiplier=0.25, max=policy.max_wait_s),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.budget_s),
            reraise=True,
        )
        try:
            return self._translate(lambda: retrying(fn))
        except RetryError as exc:  # pragma: no cover - reraise=True makes tenacity re-raise the cause
            raise TransportError(f"{self.target.name}: {exc}") from None

    def _translate(self, fn: Any) -> Any:
        name = self.target.name
        try:
            return fn()
        except AuthenticationError:
            raise HostAuthError(f"{name}: {self._refused()}") from None
        except WinRMTransportError as exc:
            raise TransportError(f"{name}: HTTP {exc.code} from the WinRM endpoint") from None
        except requests.exceptions.SSLError as exc:
            alert = tls_alert(exc) or ("closed during the handshake" if "EOF occurred in violation" in str(exc)
                                       else None)
            if self.target.auth == "certificate" and alert is not None:
                raise HostAuthError(f"{name}: the host refused the client certificate in the TLS handshake "
                                    f"({alert}: is it issued by a CA the host trusts?)") from None
            raise TransportError(f"{name}: TLS certificate of {self.target.endpoint} is not trusted "
                                 "(check connection.ca_bundle)") from None
        except requests.Timeout:
            raise TransportError(f"{name}: timed out talking to {self.target.endpoint}") from None
        except requests.ConnectionError as exc:
            if self._pool is not None and exc.args and isinstance(exc.args[0], urllib3.exceptions.ProtocolError):
                # The pool was open, then the connection went away before the answer: a pipeline may be half
                # run. (Before the pool is open, a closed connection means the host cannot be reached.)
                raise TransportError(f"{name}: connection to {self.target.endpoint} dropped before the "
                                     "answer") from None
            if self.target.auth == "certificate" and "RemoteDisconnected" in repr(exc):
                # The TLS listener asked for our certificate and then closed without a word: what a host
                # does with a client certificate whose issuer it does not trust (or that it cannot accept).
                raise HostAuthError(f"{name}: the host refused the client certificate: it closed the TLS "
                                    f"connection to {self.target.endpoint} without answering (is the "
                                    "certificate issued by a CA the host trusts?)") from None
            raise TransportError(f"{name}: cannot connect to {self.target.endpoint}") from None
        except WSManFaultError as exc:
            raise TransportError(f"{name}: WSMan fault {exc.code}: {exc.reason}") from None
        except WinRMError as exc:
            raise TransportError(f"{name}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if not is_kerberos_error(exc):
                raise
            t = self.target
            raise HostAuthError(f"{name}: " + describe(exc, user=t.username, spn=t.spn, realm=t.realm,
                                                        password_env=t.password_env)) from None

    def _refused(self) -> str:
        auth = self.target.auth
        if auth == "certificate":
            return "the host refused the client certificate (not mapped to a local account)"
        if auth == "kerberos":
            return "the host refused the Kerberos ticket"
        return f"the host refused the credentials (auth {auth})"


def make_wsman(target: HostTarget) -> WSMan:
    url = urlsplit(target.endpoint)
    ssl = url.scheme == "https"
    return FastWSMan(
        server=url.hostname or "",
        port=url.port or (5986 if ssl else 5985),
        path=(url.path or "/wsman").lstrip("/"),
        ssl=ssl,
        auth=target.auth,
        username=target.username,
        password=target.password.get_secret_value() if target.password else None,
        # A CA file validates against that CA; True uses the system store. Never False.
        # (pypsrp hands this to requests' ``verify``, which takes a CA path; its annotation says bool.)
        cert_validation=target.ca_bundle or True,  # type: ignore[arg-type]
        connection_timeout=target.connect_timeout_s,
        read_timeout=target.operation_timeout_s + 10,
        operation_timeout=target.operation_timeout_s,
        reconnection_retries=0,
        encryption="auto",
        **_auth_kwargs(target),
    )


def _auth_kwargs(target: HostTarget) -> dict[str, Any]:
    if target.auth in ("kerberos", "negotiate"):
        kwargs: dict[str, Any] = {"negotiate_service": target.spn_service, "negotiate_delegate": target.delegate}
        if target.spn_hostname:
            kwargs["negotiate_hostname_override"] = target.spn_hostname
        return kwargs
    if target.auth == "certificate":
        return {"certificate_pem": target.client_cert, "certificate_key_pem": target.client_key}
    return {}


SessionFactory = Callable[[HostTarget, "RetryPolicy | None"], HostSession]
_session_factory: SessionFactory = HostSession


def new_session(target: HostTarget, retry: RetryPolicy | None = None) -> HostSession:
    """A (not yet open) session to ``target``: a pypsrp RunspacePool unless ``sessions_from`` chose another
    kind. Every session the product opens is made here."""
    return _session_factory(target, retry)


@contextmanager
def sessions_from(factory: SessionFactory) -> Iterator[None]:
    """Make every session in this block with ``factory`` (a HostSession subclass with the same contract):
    the one seam where something other than WinRM can carry the scripts, e.g. the lab in-process in tests.
    Process-wide (the fleet's worker threads must see it), so not for concurrent commands in one process."""
    global _session_factory
    previous, _session_factory = _session_factory, factory
    try:
        yield
    finally:
        _session_factory = previous


def probe_fresh_session(target: HostTarget) -> bool:
    """Open a brand-new connection and pool, close it: proof the management path works now.

    The opening is the proof: a new TCP connection through the host's current IPsec policy, authentication,
    a new shell (WSMan Create) and the pool reported Opened by the host (Receive). A pipeline on top (it ran
    an empty batch until issue 17) adds two round trips and proves nothing more about the path."""
    try:
        with new_session(target, RetryPolicy(attempts=1)):
            pass
        return True
    except IpsecRemoteError:
        return False


def _invoke(pool: RunspacePool, steps: Sequence[tuple[str, dict[str, Any] | None]]) -> PowerShell:
    """Run the scripts as consecutive statements of one pipeline and wait for it to finish.

    The message is written as text (``fastpipeline``) and handed to what ``begin_invoke`` calls with the one it
    builds; values the text writer does not take on go through pypsrp's own objects."""
    ps = PowerShell(pool)
    message = create_pipeline(pool, [(script_text(script), parameters) for script, parameters in steps])
    try:
        if message is not None:
            ps._invoke(message)  # type: ignore[arg-type]  # Message.pack takes its bytes (fastclixml.Packed)
            ps.end_invoke()
        else:
            for i, (script, parameters) in enumerate(steps):
                if i:
                    ps.add_statement()
                ps.add_script(script_text(script))
                if parameters:
                    ps.add_parameters(_frozen(parameters))
            no_copy(ps.commands)
            ps.invoke()
    finally:
        _forget(pool, ps)
    return ps


def _forget(pool: RunspacePool, ps: PowerShell) -> None:
    """The pool stops holding a pipeline it has finished with. pypsrp keeps every pipeline (its output,
    streams and parsed messages) in ``pool.pipelines`` until ``ps.close()``, which costs a Signal request
    we do not send; a command's pool lives as long as the command, so on a large fleet every script's output
    stayed in memory to the end (about a quarter of a megabyte per host)."""
    pool.pipelines.pop(ps.id, None)


def _proxies_read_once(wsman: WSMan) -> None:
    """pypsrp reads the environment's proxy settings into its requests session when it builds it; requests
    would read the whole environment again on every request (a tenth of the controller's CPU on a large
    fleet). The session is built now, as pypsrp builds it on the first request, and keeps the settings it
    was built with from its first request on (the pool's Create and first Receive read the environment
    twice more each: a quarter of the CPU of opening a pool)."""
    transport = wsman.transport
    if getattr(transport, "session", None) is None and hasattr(transport, "_build_session"):
        transport.session = transport._build_session()
    session = getattr(transport, "session", None)
    if session is not None:
        session.trust_env = False
        if type(session) is requests.Session:
            session.__class__ = FastSession  # nothing left to merge into its requests (fasthttp)


def _frozen(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as pypsrp should hold them: serialized as they are, never deep-copied (fastclixml)."""
    return {name: Frozen(value) for name, value in parameters.items()}


def _error_text(record: Any) -> str:
    message = getattr(record, "message", None) or str(record)
    fqid = getattr(record, "fq_error", None)
    return f"{message} ({fqid})" if fqid else str(message)
