"""Preflight by default: apply and promote run the doctor's checks first, on the sessions they open; a host
with an error is failed with its line and not changed; --skip-preflight goes on anyway."""

from __future__ import annotations

from pathlib import Path

from .conftest import changing_calls, running_lab


def test_an_error_blocks_its_host_and_skip_preflight_overrides(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults='[hosts.app01]\nikeext = "disabled"\n') as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1, report
        assert list(report["failed_hosts"]) == ["app01"]
        line = report["failed_hosts"]["app01"]
        assert line.startswith("app01: preflight: IKEEXT is Disabled") and "--skip-preflight" in line, line
        assert any(f["host"] == "app01" and f["severity"] == "error" for f in report["preflight"])
        hosts = lab.inspect()
        assert changing_calls(hosts["app01"]) == []  # nothing sent to the host that failed its checks
        assert changing_calls(hosts["sql01"])  # the other host went on
        text = lab.cli("apply", "inventory.toml", "--lab")
        assert text.returncode == 1 and "app01: preflight: IKEEXT is Disabled" in text.stdout, text.stdout

        # promote: the host is refused by its preflight before any wave
        rc, promoted = lab.json("promote", "--to", "require", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1 and "preflight" in promoted["failed_hosts"]["app01"], promoted
        assert promoted["waves"] == []
        assert not [c for c in changing_calls(lab.inspect()["sql01"]) if c["cmdlet"] == "Set-NetIPsecRule"]

        rc, report = lab.json("apply", "inventory.toml", "--lab", "--skip-preflight")
        assert report["preflight"] is None and "app01" not in report["failed_hosts"], report
        assert changing_calls(lab.inspect()["app01"])  # overridden: the host is changed


def test_a_healthy_fleet_passes_its_preflight(tmp_path: Path) -> None:
    with running_lab(tmp_path) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        assert report["preflight"] is not None
        assert not [f for f in report["preflight"] if f["severity"] == "error"]
        assert {f["host"] for f in report["preflight"]} == {"sql01", "app01"}  # the checks did run on both
