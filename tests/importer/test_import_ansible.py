"""import ansible: INI and YAML inventories become an inventory TOML that plan --offline accepts once the TODO
parts (controller, domain controllers, pairs) are filled in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.importer.ansible import load_ansible, parse_ini, parse_yaml
from ipsec_remote.importer.to_toml import to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
FAKE_DNS = {"sql01.corp.example": "10.20.1.11", "sql02.corp.example": "10.20.1.12", "app-a": "10.20.2.1",
            "app-b": "10.20.2.2"}
TODO_PARTS = """
[controller]
address = "10.99.0.100"

[[exemptions]]
name = "dc01"
address = "10.99.0.5"
role = "domain_controller"

[[pairs]]
a = "group:app"
b = "group:sql"
protocol = "TCP"
ports = [1433]
probe_port = 1433
"""


def cli(*args: str, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def fake_resolve(name: str) -> str:
    if name not in FAKE_DNS:
        raise ValueError(f"cannot resolve '{name}'")
    return FAKE_DNS[name]


def plan_offline(toml_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "inventory.toml"
    path.write_text(toml_text + TODO_PARTS)
    return cli("plan", str(path), "--offline", "--json", cwd=tmp_path)


def test_ini_groups_children_vars_ranges_and_ports() -> None:
    inv = load_ansible(HERE / "hosts.ini")
    assert list(inv.host_vars) == ["mgmt01", "sql01.corp.example", "sql02.corp.example", "sql03.corp.example",
                                   "app-a", "app-b", "app-c", "bastion"]
    assert inv.groups_of("sql01.corp.example") == ["backend", "sql", "windows"]  # children make parents
    assert inv.groups_of("mgmt01") == []  # ungrouped
    v = inv.effective_vars("app-c")
    assert (v["ansible_winrm_scheme"], v["ansible_port"], v["ansible_connection"]) == ("http", "5985", "winrm")
    assert v["ansible_user"] == "svc-ansible@CORP.EXAMPLE"  # quotes of a :vars value dropped


def test_variables_merge_from_all_to_deeper_groups_to_the_host() -> None:
    inv = parse_yaml("""
all:
  vars: {x: all, y: all, z: all}
  children:
    parent:
      vars: {x: parent, y: parent}
      children:
        child:
          vars: {x: child}
          hosts:
            h1: {}
            h2: {x: host}
""", "t.yml")
    assert [inv.effective_vars(h)["x"] for h in ("h1", "h2")] == ["child", "host"]
    assert (inv.effective_vars("h1")["y"], inv.effective_vars("h1")["z"]) == ("parent", "all")


def test_ini_becomes_an_inventory_plan_offline_accepts(tmp_path: Path) -> None:
    text = to_toml(load_ansible(HERE / "hosts.ini"), fake_resolve)
    assert "not-copied-anywhere" not in text  # passwords are never copied
    assert text.count("# TODO") == 3
    data = tomllib.loads(text)
    hosts = {h["name"]: h for h in data["hosts"]}
    assert list(hosts) == ["mgmt01", "sql01.corp.example", "sql02.corp.example", "sql03.corp.example",
                           "app-a", "app-b", "app-c"]  # bastion (ssh) is left out, and said so
    assert "bastion (ansible_connection = ssh)" in text
    assert hosts["sql01.corp.example"] == {"name": "sql01.corp.example", "address": "10.20.1.11",
                                           "groups": ["backend", "sql", "windows"]}  # default endpoint: the name
    assert hosts["sql03.corp.example"]["endpoint"] == "https://10.20.1.13:5986/wsman"
    assert hosts["app-c"]["endpoint"] == "http://10.20.2.3:5985/wsman"
    assert data["connection"] == {"scheme": "https", "port": 5986, "auth": "negotiate",
                                  "username": "svc-ansible@CORP.EXAMPLE", "username_env": "IPSEC_REMOTE_USER",
                                  "password_env": "IPSEC_REMOTE_PASSWORD"}
    proc = plan_offline(text, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "app-c" in proc.stdout and "sql01.corp.example" in proc.stdout


def test_yaml_through_the_cli_becomes_an_inventory_plan_offline_accepts(tmp_path: Path) -> None:
    proc = cli("import", "ansible", "hosts.yml")
    assert proc.returncode == 0, proc.stderr
    assert "$ANSIBLE_VAULT" not in proc.stdout and "<vault>" not in proc.stdout
    data = tomllib.loads(proc.stdout)
    assert data["connection"]["auth"] == "ntlm" and "controller" not in data
    assert [(h["name"], h["address"], h.get("groups")) for h in data["hosts"]] == [
        ("mgmt01", "10.30.0.5", None), ("sql01", "10.30.1.11", ["sql"]), ("sql02", "10.30.1.12", ["sql"]),
        ("app01", "10.30.2.1", ["app"]), ("app02", "10.30.2.2", ["app"]),
        ("app-eu-01", "10.30.3.1", ["app", "app_eu"])]
    assert data["hosts"][2]["endpoint"] == "https://10.30.1.12:15986/wsman"
    planned = plan_offline(proc.stdout, tmp_path)
    assert planned.returncode == 0, planned.stderr
    # Without the TODO parts it is not a complete inventory yet: the controller is missing.
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text(proc.stdout)
    refused = cli("plan", str(incomplete), "--offline", cwd=tmp_path)
    assert refused.returncode == 2 and "controller: required key is missing" in refused.stderr


REFUSED = [
    ("[w]\nh1 ansible_host=10.0.0.1\n[w:vars]\nansible_winrm_server_cert_validation=ignore\n",
     "h1: ansible_winrm_server_cert_validation: 'ignore' is refused: ipsec-remote always validates"),
    ("[w]\nh1 ansible_host=10.0.0.1 ansible_winrm_transport=plaintext\n", "sends the password in clear"),
    ("[w]\nh1 ansible_host=10.0.0.1 ansible_winrm_transport=kerberos\nh2 ansible_host=10.0.0.2 "
     "ansible_winrm_transport=ntlm\n",
     "auth: hosts use different WinRM transports"),
    ("[w]\nh1.corp.example\n", "h1.corp.example: ansible_host: 'h1.corp.example' is a name, not an IP address: "
                              "pass --resolve"),
    ("[w]\nh1 ansible_host=10.0.0.1\nh2 ansible_host=10.0.0.1\n", "duplicate address 10.0.0.1"),
    ("[w]\nweb[3:1] ansible_host=10.0.0.1\n", "the range is empty"),
    ("[w:bogus]\nx\n", "expected :vars or :children"),
]


@pytest.mark.parametrize(("ini", "expected"), REFUSED)
def test_refusals_are_one_line_and_exit_2(ini: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(ini)
    proc = cli("import", "ansible", str(path), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert expected in proc.stderr


def test_yaml_is_read_with_a_safe_loader(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"all:\n  hosts:\n    h1: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(InputError, match="invalid YAML"):
        parse_yaml(text, "evil.yml")
    assert not marker.exists()


def test_names_are_resolved_only_when_asked() -> None:
    inv = parse_ini("[w]\nsql01.corp.example\n", "hosts")
    with pytest.raises(InputError, match="pass --resolve"):
        to_toml(inv)
    assert 'address = "10.20.1.11"' in to_toml(inv, fake_resolve)
