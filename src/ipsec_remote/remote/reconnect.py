"""A host's WinRM listener (HTTP.sys) closes a keep-alive connection idle past its IdleConnectionTimeout
(120 s by default): on a fleet whose phases take minutes, the controller's connection to a host is often
gone when its next request is due. What happens then, by layer (pypsrp 0.9, requests 2.x, urllib3 2.x):

* urllib3 checks a pooled connection before reusing it (``is_connection_dropped``: readable at rest means
  the server closed or reset it) and opens a new one instead. Nothing was sent on the old one.
* If the close arrives after that check, while the request is being written or its answer awaited, the
  request may have reached the host. pypsrp's Retry (``reconnection_retries=0``, ``read=0``) and urllib3
  (POST is not a retryable method) then raise instead of re-sending; requests makes that a ConnectionError
  and transport.py a TransportError for the host. A WSMan Command or Send is never silently sent twice.
* A new connection is a new logon: Basic sends its header with every request, Negotiate/NTLM answers the
  401 by authenticating and re-sending (the 401 means the host did not process it). But with message
  encryption (HTTP) the request is already sealed with the old connection's security context, which the
  host dropped with the connection: pypsrp's re-send after the 401 fails (the host cannot unseal it).

``reauthenticate_on_new_connection`` closes that last gap: before a sealed request, if no live connection
is left in the session's pool, it makes pypsrp set up a new security context first (its own empty
authentication POST, which carries no WSMan request), then seal with that one.
"""

from __future__ import annotations

from typing import Any

import requests
from pypsrp.wsman import WSMan


def reauthenticate_on_new_connection(wsman: WSMan) -> None:
    """Wrap ``wsman``'s transport so a sealed request never goes out under a security context whose
    connection the host has closed."""
    transport: Any = wsman.transport
    if not getattr(transport, "wrap_required", False):
        return  # HTTPS: nothing is sealed; a new connection only needs a new logon, which pypsrp does
    send = transport.send

    def send_sealed(message: bytes, **kwargs: Any) -> bytes:
        if transport.encryption is not None and not has_live_connection(transport.session):
            transport.encryption = None  # pypsrp authenticates afresh (empty POST) before sealing
        result: bytes = send(message, **kwargs)
        return result

    transport.send = send_sealed


def has_live_connection(session: requests.Session | None) -> bool:
    """Whether the session's connection pools hold a connection the server has not closed (the test urllib3
    makes before reusing one). A pypsrp session talks to one host, so any pool of it is that host's."""
    if session is None:
        return False
    for adapter in session.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is None:
            continue
        for key in list(manager.pools.keys()):
            pool = manager.pools.get(key)
            queue = getattr(pool, "pool", None)
            if queue is None:
                continue
            for conn in list(queue.queue):
                if conn is not None and conn.sock is not None and conn.is_connected:
                    return True
    return False
