"""Malformed inventories, playbooks and command lines: one located line, exit 2, nothing contacted.

Generated cases mutate every key of the shipped ``inventory.toml`` and ``playbooks/server-to-server.toml``
(a value of the wrong type, a value outside the allowed set, an unknown key in every table); hand-written
cases cover TOML syntax, cross references and literal secrets; bad flags cover the CLI. All of them run
with ``--lab`` against one running lab whose WSMan request counters must not move.

The generated cases call the CLI's ``main`` in this process (hundreds of interpreter start-ups would cost
a minute); the hand-written ones and the flags run the real CLI as a subprocess.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ipsec_remote.model.inventory import tomllib  # tomli on 3.10

from .helpers import ROOT, Lab, assert_one_line, control_inspect, requests_total, run_in_process, running_lab
from .tomlgen import dumps, key_path, leaves, tables, with_unknown_key, with_value, wrong_type

FREE_TEXT = {("description",)}  # accepted as any string: no "bad value" for these


def inventory_cases() -> list[tuple[str, dict[str, Any], str]]:
    """(name, document, key path the error must name)."""
    doc = tomllib.loads((ROOT / "inventory.toml").read_text())
    cases = []
    for path, value in leaves(doc):
        cases.append((f"inventory type {key_path(path)}", with_value(doc, path, wrong_type(value)), key_path(path)))
        if isinstance(value, str):
            cases.append((f"inventory value {key_path(path)}", with_value(doc, path, "Bogus value!"),
                          key_path(path)))
    for path in tables(doc):
        where = key_path((*path, "bogus_key"))
        cases.append((f"inventory unknown key {where}", with_unknown_key(doc, path), where))
    return cases


def playbook_cases() -> list[tuple[str, dict[str, Any], str]]:
    doc = tomllib.loads((ROOT / "playbooks" / "server-to-server.toml").read_text())
    cases = []
    for path, value in leaves(doc):
        cases.append((f"playbook type {key_path(path)}", with_value(doc, path, wrong_type(value)), key_path(path)))
        if isinstance(value, str) and path not in FREE_TEXT and path[-1] != "name":
            cases.append((f"playbook value {key_path(path)}", with_value(doc, path, "Bogus value!"), key_path(path)))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            cases.append((f"playbook range {key_path(path)}", with_value(doc, path, -1), key_path(path)))
    for path in tables(doc):
        where = key_path((*path, "bogus_key"))
        cases.append((f"playbook unknown key {where}", with_unknown_key(doc, path), where))
    return cases


INVENTORY = (ROOT / "inventory.toml").read_text()
# Hand-written: (name, inventory text or None for the valid one, playbook text or None, key path).
HAND_WRITTEN: list[tuple[str, str | None, str | None, str]] = [
    ("toml syntax", INVENTORY + "\n[hosts\n", None, ""),
    ("not utf-8", None, None, ""),  # filled in below with bytes
    ("unknown pair host", INVENTORY.replace('b = "sql01"', 'b = "sqll01"'), None, "pairs[0].b"),
    ("unknown group", INVENTORY.replace('a = "app01"', 'a = "group:web"'), None, "pairs[0].a"),
    ("duplicate host", INVENTORY.replace('name = "app01"', 'name = "SQL01"'), None, "hosts[1].name"),
    ("duplicate address", INVENTORY.replace('"10.10.1.30"', '"10.10.1.20"'), None, "hosts[1].address"),
    ("credssp refused", INVENTORY.replace('auth = "negotiate"', 'auth = "credssp"'), None, "connection"),
    ("literal password", INVENTORY.replace("[connection]", '[connection]\npassword = "hunter2"'), None,
     "connection.password"),
    ("kerberos without a DC", INVENTORY.replace('role = "domain_controller"', 'role = "dns"'), None, "exemptions"),
    ("psk refused", INVENTORY.replace('method = "kerberos"', 'method = "psk"\npsk_env = "K"'), None, "auth"),
    ("ikev2 with kerberos", INVENTORY.replace('key_module = "IKEv1"', 'key_module = "IKEv2"'), None,
     "policy.key_module"),
    ("basic over http", INVENTORY.replace('scheme = "https"', 'scheme = "http"').replace(
        'auth = "negotiate"', 'auth = "basic"'), None, "connection"),
    ("ports without protocol", INVENTORY.replace("probe_port = 1433", "probe_port = 1433\nports = [1433]"), None,
     "pairs[0]"),
    ("no hosts", INVENTORY.split("[[hosts]]")[0], None, "hosts"),
    ("playbook reordered", None, '[rollout]\nphases = ["sets", "exemptions"]\n', "rollout"),
    ("playbook skips exemptions", None, '[rollout]\nphases = ["sets", "rules"]\n', "rollout"),
    ("playbook wave with both", None, '[promote]\nwaves = [{ name = "w", pairs = 1, percent = 5 }]\n',
     "promote.waves[0]"),
    ("playbook empty waves", None, "[promote]\nwaves = []\n", "promote.waves"),
]

# Bad command lines: (args, text the one line must contain).
BAD_FLAGS: list[tuple[tuple[str, ...], str]] = [
    (("apply", "inventory.toml", "--lab", "--forks", "0"), "--forks"),
    (("apply", "inventory.toml", "--lab", "--forks", "many"), "--forks"),
    (("apply", "inventory.toml", "--lab", "--bogus"), "--bogus"),
    (("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--pairs", "app01:web01"), "--pairs"),
    (("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--pairs", "app01"), "--pairs"),
    (("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--confirm-timeout", "-1"),
     "--confirm-timeout"),
    (("promote", "--to", "sideways", "-i", "inventory.toml", "--lab"), "--to"),
    (("promote", "-i", "inventory.toml", "--lab"), "--to"),
    (("--log-level", "loud", "status", "inventory.toml", "--lab"), "--log-level"),
    (("status", "missing.toml", "--lab"), "missing.toml"),
    (("apply", "inventory.toml", "--lab", "--playbook", "missing.toml"), "missing.toml"),
    (("rollback", "inventory.toml", "-i", "other.toml", "--lab"), "-i/--inventory"),  # two different inventories
    (("apply", "--lab", "--limit", "sql02"), "--limit"),
    (("promote", "--to", "require", "--lab", "--forks", "0"), "--forks"),
]

COMMANDS = [("apply", "{inv}", "--lab"), ("plan", "{inv}", "--lab"), ("status", "{inv}", "--lab"),
            ("doctor", "{inv}", "--lab"), ("promote", "--to", "require", "-i", "{inv}", "--lab"),
            ("rollback", "-i", "{inv}", "--lab")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_lab(tmp_path_factory.mktemp("malformed")) as running:
        yield running


def test_generated_cases_cover_every_key() -> None:
    inv, book = inventory_cases(), playbook_cases()
    assert len(inv) >= 50 and len(book) >= 30
    assert {c[2] for c in inv} >= {"policy.store", "auth.method", "pairs[0].probe_port", "hosts[1].groups"}


def test_generated_malformed_inputs(lab: Lab) -> None:
    before = requests_total(control_inspect(lab))
    cases = inventory_cases() + playbook_cases()
    for i, (name, doc, where) in enumerate(cases):
        if name.startswith("inventory"):
            path = lab.dir / f"bad-{i}.toml"
            path.write_text(dumps(doc))
            args = [a.format(inv=path) for a in COMMANDS[i % len(COMMANDS)]]
        else:
            path = lab.dir / f"bad-playbook-{i}.toml"
            path.write_text(dumps(doc))
            args = ["apply", str(lab.inventory), "--lab", "--playbook", str(path)]
        rc, out, err = run_in_process(args)
        assert_one_line(name, rc, out, err, str(path), where)
    assert requests_total(control_inspect(lab)) == before
    assert all(n == 0 for n in before.values()), before  # and nothing before either


def test_hand_written_inputs_and_bad_flags(lab: Lab) -> None:
    before = requests_total(control_inspect(lab))
    jobs: list[tuple[str, tuple[str, ...], str, str]] = []
    for i, (name, inv_text, book_text, where) in enumerate(HAND_WRITTEN):
        if name == "not utf-8":
            (lab.dir / f"hand-{i}.toml").write_bytes(INVENTORY.encode("utf-16"))
            jobs.append((name, ("apply", f"hand-{i}.toml", "--lab"), f"hand-{i}.toml", where))
        elif inv_text is not None:
            (lab.dir / f"hand-{i}.toml").write_text(inv_text)
            jobs.append((name, ("apply", f"hand-{i}.toml", "--lab"), f"hand-{i}.toml", where))
        else:
            assert book_text is not None
            (lab.dir / f"hand-pb-{i}.toml").write_text(book_text)
            jobs.append((name, ("apply", "inventory.toml", "--lab", "--playbook", f"hand-pb-{i}.toml"),
                         f"hand-pb-{i}.toml", where))
    for args, expected in BAD_FLAGS:
        jobs.append((" ".join(args), args, expected, ""))

    def run(job: tuple[str, tuple[str, ...], str, str]) -> str:
        name, args, file, where = job
        proc = lab.cli(*args, timeout=60)
        try:
            assert_one_line(name, proc.returncode, proc.stdout, proc.stderr, file, where)
        except AssertionError as exc:
            return str(exc)
        return ""

    with ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for p in pool.map(run, jobs) if p]
    assert not problems, "\n".join(problems)
    assert requests_total(control_inspect(lab)) == before
    assert len(jobs) >= 25

