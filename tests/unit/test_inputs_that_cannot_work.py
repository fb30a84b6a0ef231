"""Inputs that parse but cannot work are refused before any host is contacted, with one located line
(issue 12: everything that can be checked before contacting a host is)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.lab.fleet.spec import load_fleet_spec
from ipsec_remote.model.inventory import check_run, load_inventory, parse_inventory
from ipsec_remote.model.playbook import load_playbook

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = tomllib.loads((ROOT / "inventory.toml").read_text())


def with_(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = value
    return data


CASES = [
    ("winrm_ports empty", with_(policy__winrm_ports=[]), "policy.winrm_ports", "at least 1 item"),
    ("connection port not exempted", with_(connection__port=5999), "connection.port",
     "port 5999, which policy.winrm_ports (5985, 5986) does not exempt"),
    ("default port not exempted", with_(policy__winrm_ports=[5985]), "policy.winrm_ports",
     "port 5986, which policy.winrm_ports (5985) does not exempt"),
    ("probe port outside the pair's ports", with_(pairs__0__protocol="TCP", pairs__0__ports=[1433],
                                                  pairs__0__probe_port=445),
     "pairs[0].probe_port", "445 is not one of the pair's ports (1433)"),
    ("probe of a UDP pair", with_(pairs__0__protocol="UDP"), "pairs[0].protocol", "the verification probe is TCP"),
    ("IPv4 and IPv6 ends", with_(hosts__1__address="fd00::30"), "pairs[0]", "one end is IPv4 and the other IPv6"),
    ("max_minutes as a string", with_(crypto__main_mode__max_minutes="480"), "crypto.main_mode.max_minutes",
     "must be a valid integer"),
    ("a port as a string", with_(pairs__0__probe_port="1433"), "pairs[0].probe_port", "must be a valid integer"),
    ("a boolean as a string", with_(policy__server_isolation="true"), "policy.server_isolation",
     "must be a valid boolean"),
]


@pytest.mark.parametrize(("name", "data", "key_path", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_refused_with_a_located_line(name: str, data: dict[str, Any], key_path: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_inventory(data, "inventory.toml")
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"inventory.toml: {key_path}: "), line
    assert fragment in line, line


def test_the_shipped_examples_still_pass() -> None:
    load_inventory(ROOT / "inventory.toml")
    load_inventory(ROOT / "examples" / "three-tier-local.toml")
    load_playbook(ROOT / "playbooks" / "server-to-server.toml")


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # Notepad and Windows PowerShell 5.1's Out-File -Encoding UTF8 start the file with EF BB BF.
    path = tmp_path / "inventory.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (ROOT / "inventory.toml").read_bytes())
    assert load_inventory(path).hosts[0].name == "sql01"
    assert [h.name for h in load_fleet_spec(path).hosts][:2] == ["sql01", "app01"]  # `lab up` reads it too
    book = tmp_path / "book.toml"
    book.write_bytes(b"\xef\xbb\xbf[verify]\ntimeout_s = 5\n")
    assert load_playbook(book).verify.timeout_s == 5


def test_playbook_types_are_strict(tmp_path: Path) -> None:
    book = tmp_path / "book.toml"
    book.write_text('[promote]\nconfirm_timeout_s = "120"\n')
    with pytest.raises(InputError, match=r"book.toml: promote.confirm_timeout_s: must be a valid integer"):
        load_playbook(book)


def test_skipping_exemptions_needs_the_lab() -> None:
    inv = parse_inventory(with_(test_only_skip_exemptions=["domain_controller"]))
    check_run(inv, "inventory.toml", lab=True, sends_psk=True)
    with pytest.raises(InputError) as info:
        check_run(inv, "inventory.toml", lab=False, sends_psk=False)
    assert str(info.value).startswith("inventory.toml: test_only_skip_exemptions: ")
    assert "--lab only" in str(info.value)


def test_a_missing_psk_variable_is_found_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = parse_inventory(with_(auth={"method": "psk", "psk_env": "TRUST_TEST_PSK", "allow_psk_for_testing": True}))
    monkeypatch.delenv("TRUST_TEST_PSK", raising=False)
    check_run(inv, "inventory.toml", lab=True, sends_psk=False)  # plan and status never send the key
    with pytest.raises(InputError) as info:
        check_run(inv, "inventory.toml", lab=True, sends_psk=True)
    assert str(info.value) == ("inventory.toml: auth.psk_env: environment variable TRUST_TEST_PSK is not set "
                               "(it should hold the pre-shared key)")
    monkeypatch.setenv("TRUST_TEST_PSK", "lab-only-key")
    check_run(inv, "inventory.toml", lab=True, sends_psk=True)
