"""pypsrp's requests are prepared by FastSession exactly as requests' own Session prepares them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pypsrp.wsman import WSMan

from ipsec_remote.remote.fasthttp import FastSession


def built(auth: str, **options: Any) -> requests.Session:
    """The requests session pypsrp builds for a WSMan connection with this authentication."""
    wsman = WSMan("host.invalid", ssl=True, auth=auth, username="user", password="secret", **options)
    session: requests.Session = wsman.transport._build_session()
    session.trust_env = False
    return session


def pypsrps_request(body: bytes | None) -> requests.Request:
    # What pypsrp's _TransportHTTP.send builds: the session's headers, a content type, the envelope.
    headers = requests.structures.CaseInsensitiveDict({"User-Agent": "Python PSRP Client", "Accept-Encoding":
                                                       "identity"})
    headers["Content-Type"] = "application/soap+xml;charset=UTF-8"
    return requests.Request("POST", "https://host.invalid:5986/wsman", data=body, headers=headers)


def fields(p: requests.PreparedRequest) -> dict[str, Any]:
    return {"method": p.method, "url": p.url, "headers": list(p.headers.items()), "body": p.body,
            "hooks": {event: list(hooks) for event, hooks in p.hooks.items()},
            "cookies": [(c.name, c.value, c.domain) for c in p._cookies],
            "position": p._body_position}


@pytest.mark.parametrize("auth", ["basic", "ntlm", "negotiate"])
@pytest.mark.parametrize("body", [b"<s:Envelope />", b"", None])
def test_a_pypsrp_request_is_prepared_as_requests_prepares_it(auth: str, body: bytes | None) -> None:
    session = built(auth)
    expected = fields(session.prepare_request(pypsrps_request(body)))
    session.__class__ = FastSession
    assert fields(session.prepare_request(pypsrps_request(body))) == expected
    assert fields(session.prepare_request(pypsrps_request(body))) == expected  # the URL as remembered


@pytest.mark.parametrize("extra", ["cookie", "params"])
def test_what_there_is_to_merge_is_merged_by_requests(extra: str) -> None:
    # Watched it fail with the cookie condition left out: the session's cookie went missing.
    session = built("basic")
    request = pypsrps_request(b"x")
    if extra == "cookie":
        session.cookies.set("affinity", "node-2", domain="host.invalid")
    else:
        request.params = {"a": "1"}
    expected = fields(session.prepare_request(request))
    session.__class__ = FastSession
    assert fields(session.prepare_request(request)) == expected
    merged = ("Cookie", "affinity=node-2") in expected["headers"] or expected["url"].endswith("?a=1")
    assert merged


def test_the_environment_is_consulted_when_the_session_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETRC", "/nonexistent")
    session = requests.Session()  # trust_env on, no authentication: requests looks in ~/.netrc
    expected = fields(session.prepare_request(pypsrps_request(b"x")))
    session.__class__ = FastSession
    assert fields(session.prepare_request(pypsrps_request(b"x"))) == expected
