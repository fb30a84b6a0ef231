"""Kerberos to WinRM for real: the lab runs an MIT KDC (``lab up --auth kerberos``) and its endpoints accept
Kerberos only; the controller uses pypsrp/pyspnego/gssapi. Skipped, with the reason, where the KDC binaries
are absent (``make kerberos`` installs them; CI does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.lab.fleet.kdc import faketime_library, missing_binaries

from .conftest import ROOT, Lab, changing_calls, running_lab

MISSING = missing_binaries() + ([] if faketime_library() else ["libfaketime"])
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"Kerberos tests need {', '.join(MISSING)} (make kerberos)")

KERBEROS = ("--auth", "kerberos")
MANAGED = ("sql01", "app01")


def inventory(scheme: str = "https", auth: str = "kerberos", extra_host_keys: str = "") -> str:
    text = (ROOT / "inventory.toml").read_text().replace('auth = "negotiate"', f'auth = "{auth}"')
    text = text.replace('scheme = "https"', f'scheme = "{scheme}"')
    if extra_host_keys:
        for name in MANAGED:
            text = text.replace(f'name = "{name}"', f'name = "{name}"\n' + extra_host_keys.format(name=name))
    return text


def only_kerberos(hosts: dict[str, Any]) -> None:
    for name in MANAGED:
        by_auth = hosts[name]["requests_by_auth"]
        assert by_auth["kerberos"] > 0 and by_auth["kerberos"] == hosts[name]["requests"]["total"], (name, by_auth)
        assert not {kind: n for kind, n in by_auth.items() if kind != "kerberos" and n}, (name, by_auth)


def test_kerberos_rollout_over_https(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory(), up_args=KERBEROS) as lab:
        data = lab.lab_file()
        assert data["realm"] == "LAB.LOCAL" and Path(data["krb5_conf"]).is_file()
        for args in (("apply", "inventory.toml", "--lab"), ("status", "inventory.toml", "--lab"),
                     ("doctor", "inventory.toml", "--lab", "--drill"),
                     ("promote", "--to", "require", "-i", "inventory.toml", "--lab"),
                     ("rollback", "-i", "inventory.toml", "--lab")):
            proc = lab.cli(*args)
            assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        only_kerberos(lab.inspect())


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_kerberos_over_http_with_message_encryption(tmp_path: Path, auth: str) -> None:
    # http: every WSMan message is sealed with the Kerberos session key (the lab refuses clear bodies);
    # "negotiate" reaches the same listener through SPNEGO, which picks Kerberos.
    with running_lab(tmp_path, inventory("http", auth), up_args=KERBEROS) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        hosts = lab.inspect()
        only_kerberos(hosts)
        assert all(hosts[n]["kerberos_delegated_logons"] == 0 for n in MANAGED)  # no TGT leaves by default


def test_delegation_and_spn_service_options_reach_the_host(tmp_path: Path) -> None:
    text = inventory().replace('password_env = "IPSEC_REMOTE_PASSWORD"',
                               'password_env = "IPSEC_REMOTE_PASSWORD"\ndelegate = true\nspn_service = "WSMAN"')
    with running_lab(tmp_path, text, up_args=KERBEROS) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 0, report
        hosts = lab.inspect()
        only_kerberos(hosts)
        assert all(hosts[n]["kerberos_delegated_logons"] > 0 for n in MANAGED)


def test_a_host_without_its_spn_fails_alone_in_one_line(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory(), faults="[hosts.sql01]\nspn_registered = false\n",
                     up_args=KERBEROS) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1
        assert list(report["failed_hosts"]) == ["sql01"]
        assert "SPN HTTP/sql01.lab.local is not registered" in report["failed_hosts"]["sql01"]
        assert lab.inspect()["sql01"]["calls"] == []


def test_ntlm_is_refused_by_a_kerberos_only_fleet(tmp_path: Path) -> None:
    with running_lab(tmp_path, inventory("http", "ntlm"), up_args=KERBEROS) as lab:
        rc, report = lab.json("apply", "inventory.toml", "--lab")
        assert rc == 1
        assert sorted(report["failed_hosts"]) == sorted(MANAGED)


def _wrong_password(lab: Lab) -> dict[str, str]:
    _edit_lab_file(lab, lambda host: host.update(password="not-the-password"))
    return {}


def _no_credentials(lab: Lab) -> dict[str, str]:
    _edit_lab_file(lab, lambda host: host.pop("password"))
    return {"KRB5CCNAME": f"FILE:{lab.dir / 'no-such-ccache'}"}


def _edit_lab_file(lab: Lab, change: Any) -> None:
    path = lab.dir / ".ipsec-remote" / "lab.json"
    data = json.loads(path.read_text())
    for host in data["hosts"].values():
        change(host)
    path.write_text(json.dumps(data))


FAILURES = [
    # (case, inventory, faults, client-side change, words of the one-line reason)
    ("wrong password", inventory(), None, _wrong_password, "refused the password of admin@LAB.LOCAL"),
    ("no ticket, no credentials", inventory(), None, _no_credentials, "no ticket and no credentials"),
    ("KDC clock ahead", inventory(), "[kerberos]\nkdc_clock_skew_s = 600\n", None, "clock skew over 5 minutes"),
    ("KDC clock behind", inventory(), "[kerberos]\nkdc_clock_skew_s = -600\n", None, "clock skew over 5 minutes"),
    ("unknown SPN", inventory(extra_host_keys='spn_hostname = "{name}"'), None, None,
     "SPN HTTP/{name} is not registered"),
    ("KDC unreachable", inventory(), "[kerberos]\nkdc_down = true\n", None, "cannot reach a KDC for realm LAB.LOCAL"),
]


@pytest.mark.parametrize(("case", "text", "faults", "change", "words"), FAILURES, ids=[f[0] for f in FAILURES])
def test_kerberos_failure_is_one_line_and_changes_nothing(tmp_path: Path, case: str, text: str, faults: str | None,
                                                          change: Any, words: str) -> None:
    with running_lab(tmp_path, text, faults=faults, up_args=KERBEROS) as lab:
        env = change(lab) if change else {}
        proc = lab.cli("apply", "inventory.toml", "--lab", "--json", env_extra=env)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        report = json.loads(proc.stdout)
        assert sorted(report["failed_hosts"]) == sorted(MANAGED)
        for name, reason in report["failed_hosts"].items():
            assert words.format(name=name) in reason, reason
            assert "\n" not in reason and "Traceback" not in proc.stderr
        hosts = lab.inspect()
        for name in MANAGED:
            assert changing_calls(hosts[name]) == [] and hosts[name]["calls"] == [], name
            assert hosts[name]["requests"]["total"] == 0, name
