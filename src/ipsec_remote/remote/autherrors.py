"""Kerberos and certificate failures as one line an administrator can act on.

pypsrp hands Kerberos to pyspnego, which uses MIT krb5 (``gssapi`` and ``krb5`` packages) on Linux and macOS.
Their errors surface from inside ``requests`` as ``krb5.Krb5Error`` (getting a ticket with a password),
``spnego.exceptions.SpnegoError`` wrapping a GSSAPI status (getting a service ticket, or the host's answer),
or ``gssapi`` errors. The messages below are MIT's own com_err texts (krb5 ``krb5_err.et`` / ``kdb5_err``),
matched on the words that have been stable across MIT releases; the error code is checked first where the
exception carries it. Anything not recognised keeps MIT's words, shortened to one line.
"""

from __future__ import annotations

import re
from typing import Any

# MIT krb5 error codes (krb5_err.et; krb5.h ERROR_TABLE_BASE_krb5 = -1765328384).
_BASE = -1765328384
PREAUTH_FAILED = _BASE + 24  # KRB5KDC_ERR_PREAUTH_FAILED
C_PRINCIPAL_UNKNOWN = _BASE + 6  # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
S_PRINCIPAL_UNKNOWN = _BASE + 7  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
AP_ERR_SKEW = _BASE + 37  # KRB5KRB_AP_ERR_SKEW
TKT_NYV = _BASE + 33  # KRB5KRB_AP_ERR_TKT_NYV: a ticket from a KDC whose clock is ahead of the host's
KDC_UNREACH = -1765328228  # KRB5_KDC_UNREACH ("Cannot contact any KDC for requested realm")
REALM_UNKNOWN = -1765328230  # KRB5_REALM_UNKNOWN

_CODES = {
    PREAUTH_FAILED: "wrong_password",
    C_PRINCIPAL_UNKNOWN: "unknown_user",
    S_PRINCIPAL_UNKNOWN: "unknown_spn",
    AP_ERR_SKEW: "skew",
    TKT_NYV: "skew",
    KDC_UNREACH: "kdc_unreachable",
    REALM_UNKNOWN: "kdc_unreachable",
}
# (words in MIT's message, kind) in the order they are tried.
_WORDS = (
    ("preauthentication failed", "wrong_password"),
    ("password incorrect", "wrong_password"),
    ("decrypt integrity check failed", "wrong_password"),
    ("clock skew too great", "skew"),
    ("ticket not yet valid", "skew"),
    ("not found in kerberos database", "unknown_spn"),
    ("cannot contact any kdc", "kdc_unreachable"),
    ("cannot find kdc", "kdc_unreachable"),
    ("no credentials cache found", "no_credentials"),
    ("no kerberos credentials available", "no_credentials"),
    ("no credentials were supplied", "no_credentials"),
    ("no applicable credentials", "no_credentials"),
    ("ticket expired", "expired"),
    ("credentials cache file", "no_credentials"),
)


def kerberos_kind(exc: BaseException) -> str | None:
    """What went wrong, as one of the keys of ``describe``; None if it is not a Kerberos failure."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in _CODES:
        return _CODES[code]
    text = str(exc).lower()
    if "not found in kerberos database" in text and re.search(r"\bclient\b[^,]*not found in kerberos", text):
        return "unknown_user"  # MIT: "Client 'x@REALM' not found in Kerberos database"
    for words, kind in _WORDS:
        if words in text:
            return kind
    return None


def is_kerberos_error(exc: BaseException) -> bool:
    names = {t.__module__.split(".")[0] for t in type(exc).__mro__}
    return bool(names & {"spnego", "gssapi", "krb5"})


def describe(exc: BaseException, *, user: str | None, spn: str, realm: str | None, password_env: str | None) -> str:
    """One line (no host prefix) for a Kerberos failure."""
    kind = kerberos_kind(exc)
    who = user or "the cached ticket's user"
    if kind == "wrong_password":
        return f"Kerberos: the KDC refused the password of {who} (wrong password)"
    if kind == "unknown_user":
        return f"Kerberos: the KDC does not know the user {who}"
    if kind == "unknown_spn":
        return (f"Kerberos: SPN {spn} is not registered in the KDC (check connection.spn_service and "
                "the host's spn_hostname)")
    if kind == "skew":
        return ("Kerberos: clock skew over 5 minutes between this machine, the host and the KDC "
                f"({_first_line(exc)}); synchronise the clocks")
    if kind == "kdc_unreachable":
        return f"Kerberos: cannot reach a KDC for realm {realm or 'the default realm'} (KDC unreachable)"
    if kind == "no_credentials":
        how = f"set {password_env}" if password_env else "configure connection.password_env"
        return f"Kerberos: no ticket and no credentials (run kinit, or {how})"
    if kind == "expired":
        return "Kerberos: the ticket has expired (run kinit again)"
    return "Kerberos: " + _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # SpnegoError texts repeat the GSSAPI major status before the useful minor one; keep the minor.
    if "Minor (" in text:
        text = text.split("Minor (", 1)[1].split("):", 1)[-1].strip()
    return text[:300] or type(exc).__name__


def spn_of(service: str, hostname: str) -> str:
    return f"{service}/{hostname}"


def tls_alert(exc: Any) -> str | None:
    """The TLS alert a server sent about our client certificate, if that is what ``exc`` is."""
    text = str(exc).lower()
    for alert in ("unknown ca", "bad certificate", "certificate unknown", "certificate required",
                  "certificate expired", "certificate revoked", "access denied", "handshake failure"):
        if f"alert {alert}" in text or f"alert_{alert.replace(' ', '_')}" in text:
            return alert
    return None
