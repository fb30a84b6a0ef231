"""Where each host is reached (remote/connect.py): from the inventory and the environment, or from lab.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.remote.connect import journal_path, targets_for

ROOT = Path(__file__).resolve().parents[2]


def _inventory(tmp_path: Path, connection: str = "", extra_host: str = "") -> Path:
    text = (ROOT / "inventory.toml").read_text()
    head, sep, rest = text.partition("[connection]\n")
    conn_end = rest.index("\n\n")
    text = head + sep + (connection or rest[:conn_end]) + rest[conn_end:]
    if extra_host:
        text = text.replace('name = "app01"\n', f'name = "app01"\n{extra_host}', 1)
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_inventory_targets_take_endpoint_user_and_password_from_the_inventory_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPSEC_REMOTE_USER", "CORP\\svc-ipsec")
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", "s3cret")
    path = _inventory(tmp_path, extra_host='endpoint = "https://app01.corp.example:5999/wsman"\n')
    targets = targets_for(load_inventory(path), path, lab=False)
    assert sorted(targets) == ["app01", "sql01"]
    sql, app = targets["sql01"], targets["app01"]
    assert sql.endpoint == "https://sql01:5986/wsman"
    assert app.endpoint == "https://app01.corp.example:5999/wsman"
    assert (sql.username, sql.auth, sql.ca_bundle) == ("CORP\\svc-ipsec", "negotiate", None)
    assert sql.password is not None and sql.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(sql)
    assert sql.password_env == "IPSEC_REMOTE_PASSWORD"


def test_a_realm_turns_the_user_into_a_kerberos_principal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPSEC_REMOTE_USER", "CORP\\svc-ipsec")
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", "x")
    path = _inventory(tmp_path, 'scheme = "http"\nauth = "negotiate"\nrealm = "corp.example.com"\n'
                                'username_env = "IPSEC_REMOTE_USER"\npassword_env = "IPSEC_REMOTE_PASSWORD"\n')
    target = targets_for(load_inventory(path), path, lab=False)["sql01"]
    assert target.username == "svc-ipsec@CORP.EXAMPLE.COM"
    assert target.endpoint == "http://sql01:5985/wsman"
    assert target.realm == "corp.example.com"


def test_a_missing_password_variable_is_an_input_error_before_any_contact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPSEC_REMOTE_PASSWORD", raising=False)
    monkeypatch.setenv("IPSEC_REMOTE_USER", "admin")
    path = _inventory(tmp_path)
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=False)
    assert str(err.value) == "environment: IPSEC_REMOTE_PASSWORD: is not set (it should hold the credential)"


def test_a_missing_user_name_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPSEC_REMOTE_USER", raising=False)
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", "x")
    path = _inventory(tmp_path)
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=False)
    assert err.value.key_path == "connection.username_env"
    assert "IPSEC_REMOTE_USER" in err.value.problem


def test_a_ca_bundle_that_does_not_exist_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPSEC_REMOTE_USER", "admin")
    monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", "x")
    path = _inventory(tmp_path, 'scheme = "https"\nauth = "basic"\nusername_env = "IPSEC_REMOTE_USER"\n'
                                'password_env = "IPSEC_REMOTE_PASSWORD"\nca_bundle = "ca/corp.pem"\n')
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=False)
    assert err.value.key_path == "connection.ca_bundle"
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "corp.pem").write_text("pem")
    target = targets_for(load_inventory(path), path, lab=False)["sql01"]
    assert target.ca_bundle == str(tmp_path / "ca" / "corp.pem")
    assert target.auth == "basic"


def _lab_json(tmp_path: Path, hosts: dict[str, dict[str, str]], **extra: object) -> None:
    state = tmp_path / ".ipsec-remote"
    state.mkdir(exist_ok=True)
    (state / "lab.json").write_text(json.dumps({"pid": 4242, "ca_bundle": "/lab/ca.pem", "hosts": hosts, **extra}))


def test_lab_targets_come_from_lab_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPSEC_REMOTE_PASSWORD", raising=False)  # --lab needs no credential variable
    path = _inventory(tmp_path)
    _lab_json(tmp_path, {
        "sql01": {"endpoint": "https://127.0.0.1:45001/wsman", "username": "LAB\\admin", "password": "pw"},
        "app01": {"endpoint": "http://127.0.0.1:45002/wsman", "username": "LAB\\admin", "password": "pw",
                  "auth": "negotiate"}})
    targets = targets_for(load_inventory(path), path, lab=True)
    assert targets["sql01"].endpoint == "https://127.0.0.1:45001/wsman"
    assert targets["sql01"].auth == "basic"  # the lab's default listener
    assert targets["app01"].auth == "ntlm"  # the lab's NTLM listener is asked for NTLM directly
    assert targets["sql01"].ca_bundle == "/lab/ca.pem"
    assert targets["sql01"].password is not None and targets["sql01"].password.get_secret_value() == "pw"
    assert journal_path(path, lab=True).name == "lab-state-4242.db"
    assert journal_path(path, lab=False).name == "state.db"


def test_lab_targets_without_a_running_lab_or_with_a_host_missing(tmp_path: Path) -> None:
    path = _inventory(tmp_path)
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=True)
    assert "no lab is running" in err.value.problem
    _lab_json(tmp_path, {"sql01": {"endpoint": "https://127.0.0.1:45001/wsman"}})
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=True)
    assert err.value.key_path == "hosts.app01"
    (tmp_path / ".ipsec-remote" / "lab.json").write_text("{not json")
    with pytest.raises(InputError) as err:
        targets_for(load_inventory(path), path, lab=True)
    assert err.value.problem.startswith("unreadable: ")
