"""Hosts close idle WinRM connections (HTTP.sys's IdleConnectionTimeout, here 1 s): apply, status and
promote still succeed, over HTTPS (Basic) and over HTTP (NTLM with message encryption, whose security
context dies with the connection).

What leaves connections idle is what does on a real fleet: a phase ends only when its slowest host is done.
sql01 answers every request 1.5 s late, so at every phase app01's connection waits longer than the host's
idle timeout for the next request, and app01 closes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.lab.fleet.kdc import faketime_library, missing_binaries

from .conftest import ROOT, running_lab

FAULTS = """
winrm_idle_timeout_s = 1
[hosts.sql01]
rtt_ms = 1500
"""


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_apply_status_promote_survive_hosts_closing_idle_connections(tmp_path: Path, scheme: str) -> None:
    inventory = (ROOT / "inventory.toml").read_text().replace('scheme = "https"', f'scheme = "{scheme}"')
    with running_lab(tmp_path, inventory, FAULTS) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, applied
        assert applied["pairs"] and all(p["verified"] for p in applied["pairs"]), applied["pairs"]
        closed = lab.inspect()["app01"]["winrm_idle_closed"]
        assert closed >= 1  # the host did close the controller's idle connection during the apply

        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0, status

        rc, promoted = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 0, promoted
        assert promoted["waves"] and all(w["status"] == "confirmed" for w in promoted["waves"]), promoted
        assert lab.inspect()["app01"]["winrm_idle_closed"] > closed  # and again during the promote


@pytest.mark.skipif(bool(missing_binaries() + ([] if faketime_library() else ["libfaketime"])),
                    reason="needs the KDC binaries and libfaketime (make kerberos)")
def test_kerberos_sealed_messages_survive_hosts_closing_idle_connections(tmp_path: Path) -> None:
    """Over HTTP with Kerberos the sealing key is the connection's too: a new connection needs a new context."""
    inventory = ((ROOT / "inventory.toml").read_text().replace('scheme = "https"', 'scheme = "http"')
                 .replace('auth = "negotiate"', 'auth = "kerberos"'))
    with running_lab(tmp_path, inventory, FAULTS, up_args=("--auth", "kerberos")) as lab:
        rc, applied = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, applied
        assert applied["pairs"] and all(p["verified"] for p in applied["pairs"]), applied["pairs"]
        hosts = lab.inspect()
        assert hosts["app01"]["winrm_idle_closed"] >= 1
        assert hosts["app01"]["requests_by_auth"]["kerberos"] == hosts["app01"]["requests"]["total"]
