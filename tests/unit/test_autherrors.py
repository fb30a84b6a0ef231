"""One-line Kerberos reasons from MIT's errors (pure), and the realm-qualified user name."""

from __future__ import annotations

import pytest

from ipsec_remote.remote.autherrors import AP_ERR_SKEW, PREAUTH_FAILED, describe, kerberos_kind
from ipsec_remote.remote.connect import kerberos_user


class Krb5Like(Exception):
    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


@pytest.mark.parametrize(("exc", "kind"), [
    (Krb5Like("Preauthentication failed -1765328360", PREAUTH_FAILED), "wrong_password"),
    (Krb5Like("whatever", AP_ERR_SKEW), "skew"),
    (Krb5Like("Minor (2529638919): Server HTTP/sql01@LAB.LOCAL not found in Kerberos database"), "unknown_spn"),
    (Krb5Like("Client 'x@LAB.LOCAL' not found in Kerberos database"), "unknown_user"),
    (Krb5Like("Cannot contact any KDC for realm 'LAB.LOCAL'"), "kdc_unreachable"),
    (Krb5Like("No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)"), "no_credentials"),
    (Krb5Like("Ticket not yet valid"), "skew"),
    (Krb5Like("something else"), None),
])
def test_kinds(exc: Exception, kind: str | None) -> None:
    assert kerberos_kind(exc) == kind


def test_descriptions_are_one_line_and_name_the_spn() -> None:
    exc = Krb5Like("SpnegoError (1): Major (851968): Unspecified GSS failure.\nMinor (2529638919): Server "
                   "HTTP/sql01@LAB.LOCAL not found in Kerberos database, Context: x")
    text = describe(exc, user="admin@LAB.LOCAL", spn="HTTP/sql01", realm="LAB.LOCAL", password_env="PW")
    assert text.startswith("Kerberos: SPN HTTP/sql01 is not registered") and "\n" not in text
    other = describe(Krb5Like("odd\nfailure"), user=None, spn="HTTP/x", realm=None, password_env=None)
    assert other == "Kerberos: odd failure"
    nocred = describe(Krb5Like("No credentials cache found"), user=None, spn="s", realm=None, password_env="PW")
    assert "run kinit, or set PW" in nocred


@pytest.mark.parametrize(("user", "realm", "expected"), [
    ("CORP\\admin", "corp.example.com", "admin@CORP.EXAMPLE.COM"),
    ("admin", "CORP.EXAMPLE.COM", "admin@CORP.EXAMPLE.COM"),
    ("admin@OTHER.ORG", "CORP.EXAMPLE.COM", "admin@OTHER.ORG"),
    ("CORP\\admin", None, "CORP\\admin"),
    (None, "CORP.EXAMPLE.COM", None),
])
def test_kerberos_user(user: str | None, realm: str | None, expected: str | None) -> None:
    assert kerberos_user(user, realm) == expected
