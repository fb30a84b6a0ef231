"""The one line a user reads for a bad inventory (file, key path, problem), for each way pydantic and our own
checks word a fault: validator messages without pydantic's "Value error, ", "Input should be" → "must be",
list lengths without "after validation, not 0", names and patterns, and the suggestion for a misspelt host or
group."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.model.inventory import InputError, load_toml, parse_inventory

ROOT = Path(__file__).resolve().parents[2]
DATA = load_toml(ROOT / "inventory.toml")
QM = DATA["crypto"]["quick_mode"]

LINES = [
    ({"crypto": {**DATA["crypto"], "quick_mode": {**QM, "proposals": [{"esp_hash": "SHA384"}]}}},
     "crypto.quick_mode.proposals[0].esp_hash: SHA384 is not an IPsec (AH/ESP) integrity algorithm on Windows "
     "(main mode only); use SHA256 or AESGMAC128/192/256"),
    ({"crypto": {**DATA["crypto"], "quick_mode": {**QM, "proposals": [{"encapsulation": "AH"}]}}},
     "crypto.quick_mode.proposals[0]: encapsulation with AH needs ah_hash"),
    ({"crypto": {**DATA["crypto"], "main_mode": {"proposals": []}}},
     "crypto.main_mode.proposals: must have at least 1 item"),
    ({"hosts": []}, "hosts: must have at least 1 item"),
    ({"hosts": [{"name": "bad name!", "address": "10.0.0.1"}]},
     "hosts[0].name: 'bad name!' is not a valid name (letters, digits, '.', '_', '-')"),
    ({"auth": {"method": "certificate", "authority": 5}}, "auth.authority: must be a valid string"),
    ({"connection": {**DATA["connection"], "operation_timeout_s": 0}},
     "connection.operation_timeout_s: must be greater than or equal to 5"),
    ({"pairs": [{"a": "app1", "b": "sql01"}]}, "pairs[0].a: unknown host 'app1' (did you mean 'app01'?)"),
    ({"pairs": [{"a": "app01", "b": "group:sq"}]}, "pairs[0].b: unknown group 'sq' (did you mean 'sql'?)"),
    ({"pairs": [{"a": "group:web", "b": "sql01"}]}, "pairs[0].a: unknown group 'web'"),
]


@pytest.mark.parametrize(("change", "line"), LINES)
def test_a_bad_inventory_is_one_located_line(change: dict[str, Any], line: str) -> None:
    with pytest.raises(InputError) as err:
        parse_inventory({**copy.deepcopy(DATA), **change}, "inv.toml")
    assert str(err.value) == f"inv.toml: {line}"


def test_a_file_that_cannot_be_read_is_named_with_the_reason(tmp_path: Path) -> None:
    from ipsec_remote.model.inventory import load_inventory

    missing = tmp_path / "nope.toml"
    for load in (load_toml, load_inventory):
        with pytest.raises(InputError) as err:
            load(missing)
        assert str(err.value) == f"{missing}: cannot read: No such file or directory"


def test_an_inventory_file_names_itself_in_its_errors(tmp_path: Path) -> None:
    from ipsec_remote.model.inventory import load_inventory

    path = tmp_path / "inv.toml"
    path.write_text((ROOT / "inventory.toml").read_text(encoding="utf-8").replace(
        'name = "sql01"', 'name = "sql01"\nbogus = 1', 1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_inventory(path)
    assert str(err.value) == f"{path}: hosts[0].bogus: unknown key"


def test_a_file_that_is_not_utf8_or_not_toml_is_named(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(InputError) as err:
        load_toml(latin1)
    assert str(err.value) == f"{latin1}: is not UTF-8 text"
    broken = tmp_path / "broken.toml"
    broken.write_text("hosts = [\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_toml(broken)
    assert str(err.value).startswith(f"{broken}: invalid TOML: ")
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbfname = 'x'\n")  # Notepad and PowerShell 5.1 write a byte order mark
    assert load_toml(bom) == {"name": "x"}
