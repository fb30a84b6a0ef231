"""Authentication and TLS: what a WinRM listener accepts and refuses."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
import requests
import spnego
from pypsrp.encryption import WinRMEncryption
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.winrm import EndpointConfig, LabEndpoint, LabServer, TlsMaterial

EndpointFactory = Callable[..., LabEndpoint]


@pytest.mark.parametrize(("scheme", "auth"), [("https", "basic"), ("http", "ntlm"), ("http", "negotiate")])
def test_wrong_password_is_an_authentication_error(
    endpoint: EndpointFactory, connect: Callable[..., WSMan], scheme: str, auth: str
) -> None:
    ep = endpoint(scheme, auth)
    with pytest.raises(AuthenticationError):
        RunspacePool(connect(ep, password="not-the-password")).open()
    assert ep.counters.total == 0  # nothing reached WSMan


def test_basic_over_http_is_refused(server: LabServer, endpoint: EndpointFactory,
                                    connect: Callable[..., WSMan], fake_host: Any) -> None:
    with pytest.raises(ValueError, match="only offered over HTTPS"):
        server.add_endpoint(fake_host(), EndpointConfig("LAB\\admin", "pw", scheme="http", auth="basic"))
    # A client that insists on Basic in clear against an HTTP endpoint gets a Negotiate-only 401.
    ep = endpoint("http", "ntlm")
    with pytest.raises(AuthenticationError):
        RunspacePool(connect(ep, auth="basic", encryption="never")).open()
    assert ep.counters.total == 0


def test_unencrypted_messages_over_http_are_refused(endpoint: EndpointFactory,
                                                    connect: Callable[..., WSMan]) -> None:
    ep = endpoint("http", "ntlm")
    with pytest.raises(AuthenticationError):
        RunspacePool(connect(ep, encryption="never")).open()
    assert ep.counters.total == 0


GET_CONFIG = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
    b"<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"
    b"<a:MessageID>uuid:11111111-2222-3333-4444-555555555555</a:MessageID>"
    b"<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/config</w:ResourceURI>"
    b"</s:Header><s:Body/></s:Envelope>"
)


def test_ntlm_over_http_seals_every_message(endpoint: EndpointFactory) -> None:
    """The handshake by hand: once authenticated, a clear SOAP body is refused and a sealed one answered
    sealed, in pypsrp's multipart/encrypted framing."""
    ep = endpoint("http", "ntlm")
    session = requests.Session()
    first = session.post(ep.url, data=b"")
    assert first.status_code == 401 and first.headers["WWW-Authenticate"] == "Negotiate"
    ctx = spnego.client("LAB\\admin", "Lab-Pass-1", hostname="127.0.0.1", service="WSMAN", protocol="ntlm",
                        options=spnego.NegotiateOptions.wrapping_winrm)
    negotiate = session.post(ep.url, data=b"",
                             headers={"Authorization": "Negotiate " + base64.b64encode(ctx.step()).decode()})
    assert negotiate.status_code == 401
    challenge = base64.b64decode(negotiate.headers["WWW-Authenticate"].split(" ", 1)[1])
    done = session.post(ep.url, data=b"",
                        headers={"Authorization": "Negotiate " + base64.b64encode(ctx.step(challenge)).decode()})
    assert done.status_code == 200 and ctx.complete

    clear = session.post(ep.url, data=GET_CONFIG, headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert clear.status_code == 401
    assert ep.counters.total == 0

    enc = WinRMEncryption(ctx, WinRMEncryption.SPNEGO)
    content_type, payload = enc.wrap_message(GET_CONFIG)
    sealed = session.post(ep.url, data=payload, headers={
        "Content-Type": f'{content_type};protocol="{enc.protocol}";boundary="Encrypted Boundary"'})
    assert sealed.status_code == 200
    assert sealed.headers["Content-Type"].startswith("multipart/encrypted;")
    assert b"MaxEnvelopeSizekb" not in sealed.content
    plain = enc.unwrap_message(sealed.content, "Encrypted Boundary")
    assert b"<cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb>" in plain
    assert b"uuid:11111111-2222-3333-4444-555555555555</a:RelatesTo>" in plain
    assert ep.counters.Get == 1


def test_ntlm_user_files_are_private_and_per_endpoint(endpoint: EndpointFactory) -> None:
    a, b = endpoint("http", "ntlm"), endpoint("http", "negotiate")
    assert a.user_file is not None and b.user_file is not None and a.user_file != b.user_file
    assert stat.S_IMODE(os.stat(a.user_file).st_mode) == 0o600
    assert a.user_file.read_text() == "LAB:admin:Lab-Pass-1\n"
    assert "NTLM_USER_FILE" not in os.environ or os.environ["NTLM_USER_FILE"] not in (str(a.user_file),
                                                                                        str(b.user_file))


def test_ntlm_over_https_without_message_encryption(endpoint: EndpointFactory,
                                                    connect: Callable[..., WSMan]) -> None:
    ep = endpoint("https", "ntlm")
    with RunspacePool(connect(ep)) as pool:
        assert PowerShell(pool).add_script("input").invoke() == [0]


def test_default_ca_store_rejects_the_lab_certificate(endpoint: EndpointFactory,
                                                      connect: Callable[..., WSMan]) -> None:
    ep = endpoint()
    with pytest.raises(requests.exceptions.SSLError):
        RunspacePool(connect(ep, cert_validation=True)).open()
    assert ep.counters.total == 0


def test_lab_ca_validates_by_name_and_address(endpoint: EndpointFactory, tls: TlsMaterial) -> None:
    ep = endpoint()
    auth = "Basic " + base64.b64encode(b"LAB\\admin:Lab-Pass-1").decode()
    for host in ("127.0.0.1", "localhost"):
        r = requests.post(f"https://{host}:{ep.port}/wsman", data=b"", verify=str(tls.ca_bundle),
                          headers={"Authorization": auth})
        assert r.status_code == 200
    assert stat.S_IMODE(os.stat(tls.ca_key).st_mode) == 0o600
