"""The lab's runspace pool answers a client's session setup with psrpcore's own bytes (it writes the
ApplicationPrivateData once for every shell instead of serialising it per shell)."""

from __future__ import annotations

from psrpcore import ClientRunspacePool, ServerRunspacePool

from ipsec_remote.lab.winrm.psrp import _PS_VERSION_TABLE, _LabRunspacePool


def _replies(server: ServerRunspacePool) -> list[bytes]:
    """What the server sends back while a new client opens a pool, its runspace pool id (new for every
    client) blanked out."""
    client = ClientRunspacePool()
    client.open()
    while (payload := client.data_to_send()) is not None:
        server.receive_data(payload)
        while server.next_event() is not None:
            pass
    out = []
    while (payload := server.data_to_send()) is not None:
        out.append(bytes(payload.data).replace(server.runspace_pool_id.bytes_le, bytes(16)))
    return out


def test_session_setup_replies_are_psrpcores() -> None:
    for _ in range(2):  # the second shell gets the remembered ApplicationPrivateData
        lab = _replies(_LabRunspacePool())
        core = _replies(ServerRunspacePool(application_private_data={"PSVersionTable": dict(_PS_VERSION_TABLE)}))
        assert b"PSVersionTable" in b"".join(lab)
        assert lab == core
