"""The report document and its renderers, from the commands' JSON shapes (pure, no host)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from ipsec_remote.report.document import build
from ipsec_remote.report.html import render_html
from ipsec_remote.report.junit import render_junit

from .junit_schema import violations
from .samples import CONTEXT, HOSTILE, META, PROMOTE, STATUS


def states(doc: dict[str, Any]) -> dict[str, str]:
    return {f"{p['a']}:{p['b']}": p["state"] for p in doc["pairs"]}


def test_status_pairs_take_their_state_from_proof_and_rule_security() -> None:
    doc = build("status", STATUS, CONTEXT, META)
    assert states(doc) == {"app01:sql01": "verified-require", "app02:sql01": "verified-request",
                           "web01:app01": "failed", "web01:app02": "not-covered"}
    assert doc["counts"] == {"verified-require": 1, "verified-request": 1, "failed": 1, "not-covered": 1}
    first = doc["pairs"][0]
    assert first["extra"] == {"rekeyed_at": "2026-01-02T03:04:05+00:00"}  # keys added later are kept
    assert first["addresses"] == {"app01": "10.10.1.30", "sql01": "10.10.1.20"}
    assert doc["source"] == STATUS and doc["meta"]["ok"] is False


def test_grid_is_hosts_by_hosts_plus_exemptions_and_controller() -> None:
    grid = build("status", STATUS, CONTEXT, META)["grid"]
    assert grid["rows"] == ["sql01", "app01", "app02", "web01"]
    assert [c["name"] for c in grid["columns"]] == ["sql01", "app01", "app02", "web01", "dc01", "controller"]
    cell = {(r, c["name"]): cell["state"] for r, line in zip(grid["rows"], grid["cells"], strict=True)
            for c, cell in zip(grid["columns"], line, strict=True)}
    assert cell[("sql01", "app01")] == cell[("app01", "sql01")] == "verified-require"  # symmetric
    assert cell[("app01", "web01")] == "failed"
    assert cell[("app02", "web01")] == "not-covered"
    assert cell[("sql01", "sql01")] == cell[("sql01", "web01")] == "not-applicable"
    assert {cell[(r, "dc01")] for r in grid["rows"]} == {cell[(r, "controller")] for r in grid["rows"]} == {"exempt"}


def test_promote_pairs_reach_the_target_only_in_confirmed_waves() -> None:
    doc = build("promote", PROMOTE, CONTEXT, {**META, "command_line": "ipsec-remote promote --to require"})
    assert states(doc) == {"app01:sql01": "verified-require", "app02:sql01": "failed",
                           "web01:app01": "failed", "web01:app02": "not-covered"}
    reverted = next(p for p in doc["pairs"] if p["a"] == "app02")
    assert reverted["wave"] == {"number": 2, "name": "rest", "status": "reverted"}
    assert reverted["problems"] == ["app02: no quick-mode SA", "app02: no new WinRM session through the new policy"]
    skipped = next(p for p in doc["pairs"] if p["a"] == "web01" and p["b"] == "app01")
    assert skipped["problems"] == ["skipped: not verified by apply yet"]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.cards: list[dict[str, str | None]] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "data-state" in a:
            self.cells.append(a)
        if tag == "article":
            self.cards.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("#"):
                self.external.append(str(a[key]))


def test_html_is_self_contained_escaped_and_names_every_pair() -> None:
    text = render_html(build("status", STATUS, CONTEXT, META))
    parser = _Cells()
    parser.feed(text)
    assert parser.scripts == 0 and parser.external == []
    assert "Content-Security-Policy" in text
    assert len(parser.cells) == 4 * 6
    assert {c["id"]: c["data-state"] for c in parser.cards} == {
        "pair-app01--sql01": "verified-require", "pair-app02--sql01": "verified-request",
        "pair-web01--app01": "failed", "pair-web01--app02": "not-covered"}
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "auth_method" not in text and "Main mode SA auth method" in text  # extra SA keys are shown
    assert "rekeyed at" in text


def test_junit_has_a_testcase_per_pair_and_a_failure_per_unverified_pair() -> None:
    text = render_junit(build("status", STATUS, CONTEXT, META))
    assert violations(text) == []
    from xml.etree import ElementTree as ET

    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    cases = {c.attrib["name"]: c for c in suite.iter("testcase")}
    assert sorted(cases) == ["app01 <-> sql01", "app02 <-> sql01", "web01 <-> app01", "web01 <-> app02"]
    failed = cases["web01 <-> app01"].find("failure")
    assert failed is not None and failed.attrib["message"].startswith("web01: <script>")
    assert "\x07" not in (failed.text or "")  # XML 1.0 cannot carry it, even escaped
    assert cases["web01 <-> app02"].find("skipped") is not None
    assert all(cases[n].find("failure") is None for n in ("app01 <-> sql01", "app02 <-> sql01"))
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["skipped"]) == ("4", "1", "1")
    assert suite.attrib["timestamp"] == "2026-01-02T03:04:05"


def test_junit_checker_catches_broken_documents() -> None:
    good = render_junit(build("status", STATUS, CONTEXT, META))
    assert violations(good.replace('failures="1"', 'failures="0"', 1))
    assert violations(good.replace("<testcase ", "<testcase bogus=\"1\" ", 1))
    assert violations(good.replace("<properties>", "<wrong>").replace("</properties>", "</wrong>"))


def test_json_report_is_the_same_document() -> None:
    doc = build("apply", {**STATUS, "run_id": 7, "summary": {"add": 3, "change": 0, "destroy": 0}}, CONTEXT,
                META)
    again = json.loads(json.dumps(doc))
    assert again["schema"] == "ipsec-remote.report/1" and again["pairs"] == doc["pairs"]
    assert HOSTILE in again["pairs"][2]["problems"]


def test_unknown_command_is_refused() -> None:
    with pytest.raises(ValueError):
        build("rollback", {}, CONTEXT, META)
