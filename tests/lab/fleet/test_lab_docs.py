"""docs/lab.md documents every faults key the parsers accept, each with an example the real parser accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.lab.fleet.faultkeys import HOST, fault_keys
from ipsec_remote.lab.fleet.faults import Faults, HostFaults, parse_faults
from ipsec_remote.lab.fleet.spec import load_fleet_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "lab.md"
SECTION = re.compile(r"^### `([^`]+)`\n(.*?)(?=^### |^## |\Z)", re.S | re.M)
EXAMPLE = re.compile(r"```toml\n(.*?)```", re.S)


def documented() -> dict[str, str]:
    """key path -> the first TOML example of its section."""
    out: dict[str, str] = {}
    for key, body in SECTION.findall(DOC.read_text(encoding="utf-8")):
        found = EXAMPLE.search(body)
        assert found, f"docs/lab.md: {key}: no ```toml example"
        out[key] = found.group(1)
    return out


def paths(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    out: set[str] = set()
    for key, value in node.items():
        out |= paths(value, f"{prefix}.{key}" if prefix else key)
    return out


def test_every_key_the_parsers_accept_is_documented_and_nothing_else() -> None:
    keys = fault_keys()
    assert len(keys) > 50 and f"{HOST}.ikeext" in keys and "assumptions.own_address_traffic" in keys
    docs = documented()
    assert [k for k in keys if k not in docs] == [], "keys the parsers accept but docs/lab.md does not document"
    assert [k for k in docs if k not in keys] == [], "docs/lab.md documents keys the parsers do not accept"


@pytest.mark.parametrize("key", fault_keys())
def test_each_example_sets_its_key_through_the_real_parser(key: str) -> None:
    example = documented()[key]
    data = tomllib.loads(example)
    written = {p.replace("hosts.sql01.", f"{HOST}.") for p in paths(data)}
    assert key in written, (key, written)  # the example is about its key
    faults = parse_faults(data, "docs/lab.md", load_fleet_spec(ROOT / "inventory.toml"))
    if key.startswith(f"{HOST}."):
        assert faults.hosts["sql01"] != HostFaults(), key  # it changed the host
    else:
        assert faults != Faults(), key
