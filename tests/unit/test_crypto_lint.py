"""Crypto lint: the worst choices refused unless allowed by name, the others warned about, each with a reason."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.crypto_lint import find_weaknesses, weak_warnings
from ipsec_remote.model.inventory import parse_inventory

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = tomllib.loads((ROOT / "inventory.toml").read_text())


def inventory(mm: dict[str, str] | None = None, qm: dict[str, str] | None = None, pfs: str | None = None,
              allow: list[str] | None = None, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    crypto = data.setdefault("crypto", {})
    if mm:
        crypto["main_mode"]["proposals"] = [{**crypto["main_mode"]["proposals"][0], **mm}]
    if qm:
        crypto["quick_mode"]["proposals"] = [{**crypto["quick_mode"]["proposals"][0], **qm}]
    if pfs:
        crypto["quick_mode"]["pfs_group"] = pfs
    if allow is not None:
        crypto["allow_weak"] = allow
    if auth:
        data["auth"] = auth
    return data


REFUSED = [
    (inventory(mm={"encryption": "DES"}), "crypto.main_mode.proposals[0].encryption", "DES", "backward compatibility"),
    (inventory(mm={"encryption": "DES3"}), "crypto.main_mode.proposals[0].encryption", "DES3", "SP 800-131A"),
    (inventory(mm={"hash": "MD5"}), "crypto.main_mode.proposals[0].hash", "MD5", "Main Mode"),
    (inventory(mm={"key_exchange": "DH1"}), "crypto.main_mode.proposals[0].key_exchange", "DH1", "Group 1"),
    (inventory(mm={"key_exchange": "DH2"}), "crypto.main_mode.proposals[0].key_exchange", "DH2", "2048-bit"),
    (inventory(qm={"encryption": "DES"}), "crypto.quick_mode.proposals[0].encryption", "DES", "AES"),
    (inventory(qm={"encryption": "DES3"}), "crypto.quick_mode.proposals[0].encryption", "DES3", "AES"),
    (inventory(qm={"esp_hash": "MD5"}), "crypto.quick_mode.proposals[0].esp_hash", "MD5", "SHA256"),
    (inventory(pfs="DH2"), "crypto.quick_mode.pfs_group", "DH2", "DH19"),
]


@pytest.mark.parametrize(("data", "path", "token", "reason"), REFUSED)
def test_the_worst_are_refused_in_one_line_with_why_and_instead(data: dict[str, Any], path: str, token: str,
                                                                reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse_inventory(data, "inventory.toml")
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(f"inventory.toml: {path}: {token} is refused: ")
    assert reason in line and f'crypto.allow_weak = ["{token}"]' in line


@pytest.mark.parametrize(("data", "path", "token", "reason"), REFUSED)
def test_allowing_by_name_turns_a_refusal_into_a_warning(data: dict[str, Any], path: str, token: str,
                                                         reason: str) -> None:
    inv = parse_inventory({**data, "crypto": {**data["crypto"], "allow_weak": [token]}}, "inventory.toml")
    lines = weak_warnings(inv, "inventory.toml")
    assert lines == [f"inventory.toml: {path}: warning: {token} is weak (allowed by crypto.allow_weak): "
                     + lines[0].split("(allowed by crypto.allow_weak): ", 1)[1]]
    assert reason in lines[0]


def test_allowing_one_name_does_not_allow_another() -> None:
    with pytest.raises(InputError, match="DH2 is refused"):
        parse_inventory(inventory(mm={"encryption": "DES3", "key_exchange": "DH2"}, allow=["DES3"]), "i.toml")


def test_weak_but_accepted_choices_are_warnings() -> None:
    inv = parse_inventory(inventory(mm={"hash": "SHA1"}, qm={"encryption": "None", "esp_hash": "SHA1"}), "i.toml")
    assert [(w.key_path, w.name) for w in find_weaknesses(inv)] == [
        ("crypto.main_mode.proposals[0].hash", "SHA1"), ("crypto.quick_mode.proposals[0].esp_hash", "SHA1"),
        ("crypto.quick_mode.proposals[0].encryption", "null_encryption")]
    lines = weak_warnings(inv, "i.toml")
    assert len(lines) == 3 and all(" is weak: " in line and ("; use " in line or "; where " in line)
                                   for line in lines)
    ah = parse_inventory(inventory(qm={"encapsulation": "AH", "ah_hash": "SHA256"}), "i.toml")
    assert [w.name for w in find_weaknesses(ah)] == ["null_encryption"]


def test_psk_warns_where_it_is_allowed_for_testing() -> None:
    inv = parse_inventory(inventory(auth={"method": "psk", "psk_env": "K", "allow_psk_for_testing": True}), "i")
    (line,) = weak_warnings(inv, "i")
    assert line.startswith("i: auth.method: warning: psk is weak: ") and "plain text" in line


def test_the_shipped_inventories_are_clean() -> None:
    for path in (ROOT / "inventory.toml", ROOT / "examples" / "three-tier-local.toml"):
        inv = parse_inventory(tomllib.loads(path.read_text()), str(path))
        assert find_weaknesses(inv) == []


def test_unknown_allow_weak_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"crypto.allow_weak\[0\]"):
        parse_inventory(inventory(allow=["RC4"]), "i.toml")


def test_cli_refuses_before_contacting_and_warns_on_stderr(tmp_path: Path) -> None:
    weak = (ROOT / "inventory.toml").read_text().replace('hash = "SHA256", key_exchange = "DH19"',
                                                          'hash = "SHA1", key_exchange = "DH19"')
    assert weak != (ROOT / "inventory.toml").read_text()
    path = tmp_path / "inventory.toml"
    path.write_text(weak)
    proc = subprocess.run([sys.executable, "-m", "ipsec_remote", "plan", str(path), "--offline", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("{")  # stdout stays one JSON document
    assert proc.stderr.count("warning: SHA1 is weak") == 1
    path.write_text(weak.replace('key_exchange = "DH19"', 'key_exchange = "DH1"'))
    proc = subprocess.run([sys.executable, "-m", "ipsec_remote", "apply", str(path), "--lab"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "key_exchange: DH1 is refused" in proc.stderr
