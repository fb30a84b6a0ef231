"""Every malformed inventory gives one located line (file: key path: problem) and nothing else."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.inventory import load_inventory, parse_inventory

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = tomllib.loads((ROOT / "inventory.toml").read_text())


def mutate(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at a dotted path (``pairs[0].b``) set, or deleted when value is DELETE."""
    data = copy.deepcopy(BASE)
    node: Any = data
    parts = path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()

CASES = [
    # (mutation path, value, expected key path, expected fragment of the problem)
    ("pairs.0.b", "sqll01", "pairs[0].b", "unknown host 'sqll01' (did you mean 'sql01'?)"),
    ("pairs.0.a", "group:ap", "pairs[0].a", "unknown group 'ap' (did you mean 'app'?)"),
    ("pairs.0.b", "app01", "pairs[0]", "pairs host 'app01' with itself"),
    ("hosts.1.address", "10.10.1.20", "hosts[1].address", "duplicate address 10.10.1.20"),
    ("hosts.1.name", "sql01", "hosts[1].name", "duplicate host name 'sql01'"),
    ("hosts.0.address", "10.10.1.300", "hosts[0].address", "'10.10.1.300' is not an IP address"),
    ("hosts.0.name", "sql 01", "hosts[0].name", "is not a valid name"),
    ("hosts.0.colour", "blue", "hosts[0].colour", "unknown key"),
    ("hosts.0.endpoint", "sql01:5986", "hosts[0].endpoint", "is not a WinRM URL"),
    ("hosts", [], "hosts", "at least 1 item"),
    ("controller", DELETE, "controller", "required key is missing"),
    ("controller.address", "ten.ten.one.100", "controller.address", "is not an IP address"),
    ("connection.auth", "credssp", "connection", "credssp is refused"),
    ("connection.auth", "certificate", "connection", "needs client_cert and client_key"),
    ("connection.spn_service", "HOST", "connection.spn_service", "'HOST' is not one of"),
    ("connection.scheme", "ftp", "connection.scheme", "'ftp' is not one of 'https' or 'http'"),
    ("connection.auth", "digest", "connection.auth", "'digest' is not one of"),
    ("connection.password", "hunter2", "connection.password", "literal secrets are not allowed"),
    ("connection.password_env", "1BAD-NAME", "connection.password_env", "is not an environment variable name"),
    ("connection.port", 70000, "connection.port", "less than or equal to 65535"),
    ("connection.timeout", 5, "connection.timeout", "unknown key"),
    ("policy.key_module", "IKEv3", "policy.key_module", "'IKEv3' is not one of"),
    ("policy.key_module", "IKEv2", "policy.key_module", "IKEv2 supports certificate authentication only"),
    ("policy.store", "NotAStore", "policy.store", "neither PersistentStore nor a GPO"),
    ("crypto.quick_mode.proposals.0.encapsulation", "Transport", "crypto.quick_mode.proposals[0].encapsulation",
     "'Transport' is not one of"),
    ("crypto.main_mode.proposals.0.key_exchange", "DH99", "crypto.main_mode.proposals[0].key_exchange",
     "'DH99' is not one of"),
    ("crypto.main_mode.proposals", [], "crypto.main_mode.proposals", "at least 1 item"),
    ("crypto.main_mode.max_minutes", 4800, "crypto.main_mode.max_minutes", "less than or equal to 2879"),
    ("crypto.quick_mode.pfs_group", "DH1", "crypto.quick_mode.pfs_group", "DH1 is refused"),
    ("auth.method", "psk", "auth", "pre-shared keys are refused"),
    ("auth.method", "certificate", "auth", "certificate authentication needs authority"),
    ("auth.authority_type", "RootCA", "auth.authority_type", "'RootCA' is not one of 'Root' or 'Intermediate'"),
    ("auth.psk", "s3cret", "auth.psk", "literal secrets are not allowed"),
    ("exemptions.0.address", "10.10.1.30", "exemptions[0].address", "overlaps managed host 'app01'"),
    ("exemptions.0.address", "10.10.1.100", "exemptions[0].address", "is the controller's address"),
    ("exemptions.0.role", "printer", "exemptions[0].role", "'printer' is not one of"),
    ("exemptions", [], "exemptions", "needs the domain controllers listed"),
    ("pairs.0.ports", [1433], "pairs[0]", "ports need protocol"),
    ("pairs.0.probe_port", 0, "pairs[0].probe_port", "greater than or equal to 1"),
    ("pairs.0.protocol", "ICMP", "pairs[0].protocol", "'ICMP' is not one of"),
    ("unexpected", 1, "unexpected", "unknown key"),
]


@pytest.mark.parametrize(("path", "value", "key_path", "fragment"), CASES, ids=[c[0] + "=" + repr(c[1])[:20]
                                                                                  for c in CASES])
def test_malformed_inventory_gives_one_located_line(path: str, value: Any, key_path: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_inventory(mutate(path, value), "inventory.toml")
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(f"inventory.toml: {key_path}: "), line
    assert fragment in line, line
    assert "hunter2" not in line and "s3cret" not in line


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "inv.toml"
    bad.write_text("[controller\naddress = 1\n")
    with pytest.raises(InputError) as info:
        load_inventory(bad)
    assert str(info.value).startswith(f"{bad}: invalid TOML:")
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_inventory(tmp_path / "nope.toml")


def test_group_pairs_expand_to_cross_product() -> None:
    inv = load_inventory(ROOT / "examples" / "three-tier-local.toml")
    pairs = [(a, b) for a, b, _ in inv.expanded_pairs()]
    assert pairs[:6] == [(w, s) for w in ("web01", "web02", "web03") for s in ("sql01", "sql02")]
    assert ("sql01", "sql02") in pairs and len(pairs) == 7


def test_inventory_is_frozen() -> None:
    inv = load_inventory(ROOT / "inventory.toml")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        inv.hosts[0].address = "10.0.0.1"  # type: ignore[misc]
