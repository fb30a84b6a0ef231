"""reset_sas.ps1 on one lab host: quick-mode SAs first, peers matched as addresses, and an SA that is gone
by the time it is removed (expired, or deleted by the peer's notification) is not an error."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from host_harness import new_lab

from ipsec_remote.lab.commands import CommandTable, FunctionCommand
from ipsec_remote.lab.host import LabHost
from ipsec_remote.lab.host.config import HostAssumptions

SCRIPT = resources.files("ipsec_remote.remote").joinpath("powershell/reset_sas.ps1").read_text(encoding="utf-8")
PEER = "2001:db8::30"


def _host(type_layer: bool = False) -> LabHost:
    host = new_lab(address="2001:db8::20", assumptions=HostAssumptions(type_layer=type_layer)).host
    host.main_mode_sas.append({"Name": "7", "LocalEndpoint": "2001:db8::20", "RemoteEndpoint": PEER,
                               "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19, "KeyModule": 0})
    host.quick_mode_sas.append({"Name": "8", "MmSaId": 7, "LocalEndpoint": "2001:db8::20", "RemoteEndpoint": PEER,
                                "FirstCipherAlgorithm": 65003, "FirstIntegrityAlgorithm": 65001})
    host.quick_mode_sas.append({"Name": "9", "MmSaId": 5, "LocalEndpoint": "2001:db8::20",
                                "RemoteEndpoint": "2001:db8::99", "FirstCipherAlgorithm": 65003,
                                "FirstIntegrityAlgorithm": 65001})
    return host


def _vanishing(host: LabHost, getter: str) -> None:
    """``getter`` lists the SAs, then they expire before the caller can remove them."""
    real = host.commands.get(getter)
    assert real is not None
    table = host.quick_mode_sas if "Quick" in getter else host.main_mode_sas
    calls = {"n": 0}

    def listing(ctx: Any, args: Any, pipe: list[Any]) -> list[Any]:
        out = list(real.invoke(ctx, args, pipe))
        calls["n"] += 1
        if calls["n"] == 1:
            table[:] = [sa for sa in table if sa["RemoteEndpoint"] != PEER]
        return out

    patched = CommandTable()
    patched.add(FunctionCommand(getter, real.params, listing, accepts_pipeline=True))
    host.commands.update(patched)


@pytest.mark.parametrize("type_layer", [False, True])
def test_peer_written_differently_loses_its_sas_quick_mode_first(type_layer: bool) -> None:
    host = _host(type_layer)
    result = host.run_script(SCRIPT, {"Peers": ["2001:DB8:0:0::30"]})
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    out = result.output[0]
    assert (out.get("QuickModeRemoved"), out.get("MainModeRemoved")) == (1, 1)
    assert host.main_mode_sas == [] and [sa["Name"] for sa in host.quick_mode_sas] == ["9"]
    assert [c["cmdlet"] for c in host.calls if c["cmdlet"].startswith("Remove-")] == [
        "Remove-NetIPsecQuickModeSA", "Remove-NetIPsecMainModeSA"]


@pytest.mark.parametrize("getter", ["Get-NetIPsecQuickModeSA", "Get-NetIPsecMainModeSA"])
def test_an_sa_gone_between_read_and_removal_is_not_an_error(getter: str) -> None:
    host = _host()
    _vanishing(host, getter)
    result = host.run_script(SCRIPT, {"Peers": [PEER]})
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    assert host.main_mode_sas == [] and [sa["Name"] for sa in host.quick_mode_sas] == ["9"]
    # The removal did fail on the host (not found); the script checked the SA was gone and went on.
    failed = [c for c in host.calls if c["cmdlet"].startswith("Remove-") and "error" in c]
    assert failed and "No MSFT_Net" in failed[0]["error"]


def test_an_sa_that_cannot_be_removed_still_fails_the_reset() -> None:
    host = _host()
    real = host.commands.get("Remove-NetIPsecQuickModeSA")
    assert real is not None

    def refuse(ctx: Any, args: Any, pipe: list[Any]) -> list[Any]:
        from ipsec_remote.lab.host import errors

        raise errors.cim_error("Remove-NetIPsecQuickModeSA", errors.ERROR_ACCESS_DENIED, "PermissionDenied")

    patched = CommandTable()
    patched.add(FunctionCommand("Remove-NetIPsecQuickModeSA", real.params, refuse, accepts_pipeline=True,
                                ignores_caller_preference=True))
    host.commands.update(patched)
    result = host.run_script(SCRIPT, {"Peers": [PEER]})
    assert result.failure is not None and "Access is denied" in result.failure.message
