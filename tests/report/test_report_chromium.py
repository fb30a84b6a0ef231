"""The HTML report as a person sees it: loaded in Debian's headless Chromium, grid rendered, no console error."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from ipsec_remote.report.document import build
from ipsec_remote.report.html import STYLE, render_html

from .chromium import count_colour, load
from .samples import CONTEXT, META, STATUS


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.tables: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and a.get("data-state"):
            self.cells.append(str(a["data-state"]))
        if tag == "table" and a.get("id"):
            self.tables.append(str(a["id"]))


def test_report_renders_in_chromium_without_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    page.write_text(render_html(build("status", STATUS, CONTEXT, META)), encoding="utf-8")
    loaded = load(page, tmp_path)
    assert loaded.console == [], loaded.console
    dom = _Dom()
    dom.feed(loaded.dom)
    assert dom.tables == ["grid"]
    assert len(dom.cells) == 4 * 6, dom.cells  # 4 managed hosts × (4 hosts + dc01 + controller)
    shown = set(dom.cells)
    assert shown == set(STYLE), shown
    # The screenshot shows every state's colour: the CSS applied and the grid has a size on screen.
    for state in shown:
        assert count_colour(loaded, STYLE[state][0]) > 200, state


def test_the_console_check_sees_an_external_load(tmp_path: Path) -> None:
    """The harness can fail: a page that reaches outside is reported by the browser's console."""
    page = tmp_path / "bad.html"
    text = render_html(build("status", STATUS, CONTEXT, META))
    page.write_text(text.replace("</main>", '<img src="https://example.invalid/logo.png"></main>'), encoding="utf-8")
    loaded = load(page, tmp_path)
    assert any("Content Security Policy" in line for line in loaded.console), loaded.console
