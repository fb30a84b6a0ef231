"""Hostile strings in the inventory's free-text fields reach a host only as parameter values.

Free text that reaches a host: ``auth.authority`` (the certificate authority of the phase 1 auth proposal).
The GPO name of ``policy.store`` is free text too: where a command refuses a GPO store (model/gpo.py) a
hostile one comes back in the one-line refusal, escaped, with nothing sent; GPO mode's plan quotes it. Everything
else sent to a host is built from names the inventory validator restricts to ``[A-Za-z0-9_.-]`` (host,
exemption and group names, ``policy.group``, pair ends); for those the hostile string is refused with the
usual one-line error. Then: the lab's call log shows each value arrived byte for byte as a parameter and no
other cmdlet ran; ``plan --show-powershell`` and ``--export`` single-quote them with every quote character
PowerShell knows doubled, and reading each literal back with PowerShell's quoting rules gives exactly the
value, ending where the next parameter starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT, Lab, assert_one_line, changing_calls, cli_json, control_inspect, run_in_process, running_lab


def toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string


# Quotes, subexpressions, backticks, a statement separator, newlines, PowerShell's smart quotes (U+2018,
# U+2019, U+201A, U+201B are single quotes to its tokenizer; U+201C/U+201D double quotes), other scripts.
HOSTILE = ("O'Brien \"x\" $(Remove-NetIPsecRule -All) `whoami` ; Remove-NetIPsecRule -Name * # \n"
           "line2 \u2018smart\u2019 \u201alow\u201b \u201cdq\u201d @{a=1} $env:PATH é 中文 🔐 '' ")
AUTHORITY = "CN=" + HOSTILE
STORE = "lab.local\\" + HOSTILE  # domain\GPO name: the GPO name is free text without a backslash
INVENTORY = (ROOT / "inventory.toml").read_text().replace(
    'method = "kerberos"', f"method = \"certificate\"\nauthority = {toml_str(AUTHORITY)}"
)
# A preexisting set of someone else's lives in the store we write to.
FAULTS = "".join(
    f"[hosts.{h}.preexisting]\nmain_mode_crypto_sets = [{{ name = \"other-team-mm\", display_name = \"other\", "
    f"policy_store = \"PersistentStore\", proposal = [{{ encryption = \"AES256\", hash = \"SHA256\", "
    f"key_exchange = \"DH19\" }}] }}]\n" for h in ("sql01", "app01"))

SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def quoted(value: str) -> str:
    for q in SINGLE_QUOTES:
        value = value.replace(q, q * 2)
    return f"'{value}'"


def flat_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plan calls with their nested proposal calls listed after them (the lab logs nested calls too)."""
    out: list[dict[str, Any]] = []
    for call in calls:
        nested = [v for value in call["params"].values() for v in (value if isinstance(value, list) else [value])
                  if isinstance(v, dict) and "cmdlet" in v]
        out += [*nested, call]
    return out


def values_of(calls: list[dict[str, Any]], param: str) -> list[Any]:
    return [c["params"][param] for c in calls if param in c["params"]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_lab(tmp_path_factory.mktemp("hostile"), INVENTORY, FAULTS) as running:
        yield running


def test_hostile_values_arrive_only_as_parameter_values(lab: Lab) -> None:
    rc, plan, err = cli_json(lab, "plan", "inventory.toml", "--offline")
    assert rc == 0, err
    rc, report, err = cli_json(lab, "apply", "inventory.toml", "--lab")
    assert rc == 0, (report, err)
    assert report["pairs"] and all(p["verified"] for p in report["pairs"]), report["pairs"]
    hosts = control_inspect(lab)
    for name in ("sql01", "app01"):
        calls = hosts[name]["calls"]
        # Nothing but reads and the planned changes, in the planned order: no Remove-*, no extra command.
        planned = [c["cmdlet"] for c in plan["hosts"][name]["calls"]]
        assert [c["cmdlet"] for c in changing_calls(hosts[name])] == planned, name
        assert not [c for c in calls if c["cmdlet"].startswith("Remove-")], name
        assert {c["cmdlet"] for c in calls} <= {c["cmdlet"] for c in flat_calls(plan["hosts"][name]["calls"])} | {
            c["cmdlet"] for c in calls if c["cmdlet"].startswith("Get-")}, name
        # Each hostile value arrived byte for byte as a parameter value, everywhere it was planned.
        stores = values_of(calls, "PolicyStore")
        assert stores and all(s == "PersistentStore" for s in stores if s not in ("ActiveStore",)), stores
        authorities = values_of(calls, "Authority")
        assert authorities == [AUTHORITY], authorities
        # The objects live in that store, untouched neighbours included.
        assert "other-team-mm" in [o.get("Name") for o in
                                   hosts[name]["stores"]["PersistentStore"]["main_mode_crypto_sets"]]
        assert not any(str(c["params"].get("DisplayName", "")).startswith("other") for c in changing_calls(
            hosts[name]))

    # The revert task of a promotion carries the store as data too; confirming removes it.
    rc, promoted, err = cli_json(lab, "promote", "--to", "require", "-i", "inventory.toml", "--lab",
                                   "--skip-drill")
    assert rc == 0, (promoted, err)
    hosts = control_inspect(lab)
    for name in ("sql01", "app01"):
        sets = [c for c in hosts[name]["calls"] if c["cmdlet"].startswith("Set-")]
        assert sets and all(c["params"].get("PolicyStore") == "PersistentStore" for c in sets), sets
        # Zero-drop promotion (issue 15): the SAs carrying the pair are kept, nothing is removed.
        assert [c for c in hosts[name]["calls"] if c["cmdlet"].startswith("Remove-")] == [], name
        assert hosts[name]["scheduled_tasks"] == []
    before = {name: len(hosts[name]["calls"]) for name in ("sql01", "app01")}

    # rekey is what drops SAs now: each SA given back as the object read, never a selector built from text.
    rc, rekeyed, err = cli_json(lab, "rekey", "-i", "inventory.toml", "--lab", "--skip-drill")
    assert rc == 0, (rekeyed, err)
    hosts = control_inspect(lab)
    removed_anywhere: list[dict[str, Any]] = []
    for name in ("sql01", "app01"):
        removed_anywhere += [c for c in hosts[name]["calls"][before[name]:] if c["cmdlet"].startswith("Remove-")]
        assert hosts[name]["scheduled_tasks"] == []
    # The reset ran, both kinds: the first end to drop an SA takes its peer's with it (IKE delete), so
    # one of the two hosts did the removing. An empty list would let a no-op reset through.
    assert {c["cmdlet"] for c in removed_anywhere} == {"Remove-NetIPsecMainModeSA", "Remove-NetIPsecQuickModeSA"}
    assert all(set(c["params"]) == {"InputObject"} for c in removed_anywhere), removed_anywhere


def test_show_powershell_and_export_quote_safely(lab: Lab, tmp_path: Path) -> None:
    export = tmp_path / "plan.ps1"
    shown = lab.cli("plan", "inventory.toml", "--offline", "--show-powershell", "--export", str(export))
    assert shown.returncode == 0, shown.stderr
    script = export.read_text(encoding="utf-8")
    for text in (shown.stdout, script):
        assert f"-Authority {quoted(AUTHORITY)}" in text
        # No quote of any kind left single inside a literal: every one of them is doubled.
        assert HOSTILE not in text
    # Read every -Authority literal back with PowerShell's rules for single-quoted strings:
    # the value is exactly the inventory's, and the literal ends right where the next token starts.
    for text in (shown.stdout, script):
        for param, expected in (("-Authority ", AUTHORITY),):
            starts = [i for i in range(len(text)) if text.startswith(param, i)]
            assert starts
            for start in starts:
                value, end = read_single_quoted(text, start + len(param))
                assert value == expected
                assert text[end:end + 2] in (" -", ")", "\n", "") or text[end] in (")", "\n"), text[end:end + 20]


def read_single_quoted(text: str, i: int) -> tuple[str, int]:
    """about_Quoting_Rules: a single-quoted literal; two quote characters in a row stand for the first one.
    U+2018, U+2019, U+201A and U+201B are single quotes to PowerShell's tokenizer as well."""
    assert text[i] in SINGLE_QUOTES, text[i:i + 20]
    out, i = [], i + 1
    while True:
        c = text[i]
        if c in SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in SINGLE_QUOTES:
                out.append(c)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1


def test_a_hostile_gpo_name_is_refused_in_one_line_or_quoted_in_the_plan(lab: Lab, tmp_path: Path) -> None:
    before = {n: h["requests"]["total"] for n, h in control_inspect(lab).items()}
    path = lab.dir / "hostile-gpo.toml"
    path.write_text(INVENTORY.replace('store = "PersistentStore"', f"store = {toml_str(STORE)}\ngpo_writer = \"dc01\""),
                    encoding="utf-8")
    # rekey refuses a GPO store (promote works with one since issue 13): the refusal quotes the name.
    rc, out, err = run_in_process(["rekey", str(path), "--lab"])
    assert_one_line("rekey", rc, out, err, str(path), "policy.store")
    assert "line2" in err and "\\n" in err  # the newline shows escaped
    assert {n: h["requests"]["total"] for n, h in control_inspect(lab).items()} == before
    # GPO mode's offline plan writes the GPO on the DC: the name is one quoted literal in the export.
    export = tmp_path / "gpo.ps1"
    rc, out, err = run_in_process(["plan", str(path), "--offline", "--export", str(export)])
    assert rc == 0, err
    script = export.read_text(encoding="utf-8")
    starts = [i for i in range(len(script)) if script.startswith("-PolicyStore ", i)]
    assert starts
    for start in starts:
        value, end = read_single_quoted(script, start + len("-PolicyStore "))
        assert value == STORE and script[end] in (" ", "\n"), script[end:end + 20]


VALIDATED = [
    ("policy.group", 'group = "ipsec-remote"', "group = {v}"),
    ("hosts[0].name", 'name = "sql01"', "name = {v}"),
    ("hosts[1].groups[0]", 'groups = ["app"]', "groups = [{v}]"),
    ("exemptions[0].name", 'name = "dc01"', "name = {v}"),
    ("pairs[0].b", 'b = "sql01"', "b = {v}"),
    ("pairs[0].a", 'a = "app01"', 'a = "group:" + {v}'),
    ("connection.username_env", 'username_env = "IPSEC_REMOTE_USER"', "username_env = {v}"),
]


@pytest.mark.parametrize("where,old,new", VALIDATED, ids=[v[0] for v in VALIDATED])
def test_hostile_strings_in_validated_fields_are_refused(lab: Lab, where: str, old: str, new: str) -> None:
    before = {n: h["requests"]["total"] for n, h in control_inspect(lab).items()}
    for value in (HOSTILE, "ok'; Remove-NetIPsecRule -All", "a\u2019b", "$(x)"):
        literal = toml_str(value)
        replacement = new.replace('"group:" + {v}', toml_str("group:" + value)).replace("{v}", literal)
        text = (ROOT / "inventory.toml").read_text().replace(old, replacement, 1)
        path = lab.dir / "hostile-refused.toml"
        path.write_text(text, encoding="utf-8")
        rc, out, err = run_in_process(["apply", str(path), "--lab"])
        assert_one_line(where, rc, out, err, str(path), where.split("[0]")[0] if where.endswith("]") else where)
    assert {n: h["requests"]["total"] for n, h in control_inspect(lab).items()} == before
