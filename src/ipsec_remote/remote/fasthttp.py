"""pypsrp's requests session, preparing its requests without requests' generic merging.

Every WSMan request is a POST of bytes to the host's one URL with the session's headers. ``Session.prepare_request``
merges the session's cookies (two new jars), parameters and authentication into it and parses the URL again
each time: a tenth of the controller's CPU per pipeline (issue 17, cProfile on thread CPU time). When there is
nothing to merge — no cookies in the session or the request, no parameters, files or JSON, no per-request
authentication, and the environment not consulted (``trust_env`` off: ``transport._proxies_read_once``) —
``FastSession.prepare_request`` builds the PreparedRequest with requests' own steps in requests' order and
the URL as ``prepare_url`` gave it the first time; otherwise it is requests' own. ``tests/unit/test_fasthttp.py``
compares the two on pypsrp's requests, authentication hooks included.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests
from requests.cookies import RequestsCookieJar
from requests.models import PreparedRequest
from requests.sessions import merge_hooks, merge_setting
from requests.structures import CaseInsensitiveDict

_URLS: dict[str, str] = {}  # a URL as PreparedRequest.prepare_url writes it (without parameters)


class FastSession(requests.Session):
    def prepare_request(self, request: requests.Request) -> PreparedRequest:
        url = request.url
        if (self.trust_env or self.params or len(self.cookies) or request.params or request.cookies
                or request.files or request.json is not None or request.auth is not None
                or type(url) is not str or not isinstance(request.headers, Mapping)
                or not isinstance(self.headers, Mapping)):
            return super().prepare_request(request)
        p = PreparedRequest()
        p.prepare_method(request.method)
        prepared = _URLS.get(url)
        if prepared is None:
            p.prepare_url(url, {})
            if len(_URLS) < 100_000:
                _URLS[url] = p.url  # type: ignore[assignment]
        else:
            p.url = prepared
        p.prepare_headers(merge_setting(request.headers, self.headers, dict_class=CaseInsensitiveDict))
        p.prepare_cookies(RequestsCookieJar())  # what merging two empty jars into a new one gives
        p.prepare_body(request.data, None, None)
        p.prepare_auth(self.auth, url)
        p.prepare_hooks(merge_hooks(request.hooks, self.hooks))
        return p
