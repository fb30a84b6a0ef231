"""Every script the product sends must stay inside the engine's subset (DESIGN §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.lab.commands import CommandTable
from ipsec_remote.lab.engine import Engine, UnsupportedConstruct, lint_script, parse_script

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = sorted((ROOT / "src" / "ipsec_remote" / "remote" / "powershell").glob("*.ps1"))
FIXTURE = Path(__file__).parent / "fixtures" / "subset.ps1"


@pytest.mark.parametrize("path", [*SCRIPTS, FIXTURE], ids=lambda p: p.name)
def test_script_stays_in_the_subset(path: Path) -> None:
    assert lint_script(path.read_text(encoding="utf-8")) == []


def test_fixture_runs(tmp_path: Path) -> None:
    items = [{"Name": "x", "Size": 1}, {"Name": "y", "Size": 2}]
    from ipsec_remote.lab.values import PSObject

    res = Engine(CommandTable()).run(
        FIXTURE.read_text(), {"Group": "ipsec-remote", "Items": [PSObject.custom(i) for i in items]}
    )
    assert res.failure is None and res.errors == [], (res.failure, res.errors)
    obj, summary = res.output
    assert obj.properties["Name"] == "ipsec-remote" and obj.properties["Keys"] == ["First", "Second", "Third"]
    props = summary.properties
    assert props["Total"] == 7 and props["Filtered"] == [30, 20] and props["Measure"] == 3
    assert [dict(s.properties.items()) for s in props["Simple"]] == [{"Name": "x", "Size": 1}]
    assert props["Names"] == ["x", "y"] and props["Joined"] == "A;B" and props["Replaced"] == "a-b"
    assert props["Like"] is True and props["Contains"] is True and props["Cmp"] is True and props["Math"] == 3
    assert (props["Doubled"], props["Again"], props["Third"]) == (8, 10, 6)
    assert props["Message"] == "failure in ipsec-remote" and props["Category"] == "OperationStopped"
    assert props["Done"] is True and props["Digit"] == "7" and props["Here"] == "Group: ipsec-remote"
    assert [r.properties["Label"] for r in props["Records"]] == ["item", "item"]
    assert props["Single"] == "it's" and props["Double"].endswith("backtick $") and props["Range"] == [1, 2, 3]
    assert res.warnings == ["careful"] and res.verbose == []


@pytest.mark.parametrize(
    ("script", "kind", "line"),
    [
        ("$a = 1\n$b = $a ? 1 : 2", "ternary operator (PS7)", 2),
        ("$a = 1\n\n$b = $a ?? 2", "null-coalescing operator (PS7)", 3),
        ("'x'\nclass Foo {\n [int]$n\n}", "class", 2),
        ("using namespace System.IO\n'x'", "using statement", 1),
        ("'a'\nworkflow W { 'x' }", "workflow", 2),
        ("filter F { $_ }", "filter", 1),
        ("Invoke-Expression 'Get-Date'", "Invoke-Expression", 1),
        ("'a'\niex $cmd", "Invoke-Expression", 2),
        ("1..3 | ForEach-Object -Parallel { $_ }", "ForEach-Object -Parallel (PS7)", 1),
        ("$sb = { 'x' }\n. $sb", "dot-sourcing", 2),
        ("switch ($x) { 1 { 'one' } }", "switch", 1),
        ("trap { 'x' }\n'y'", "trap", 1),
        ("function F { begin { } process { $_ } }", "begin/process/end blocks", 1),
        ("Get-Thing 2>&1", "redirection", 1),
        ("Get-Thing > out.txt", "redirection", 1),
        ("enum Color { Red }", "enum", 1),
        ("$x = $y -as [int]", "operator -as", 1),
        ("$x = [System.IO.File]::ReadAllText('x')", "type [io.file]", 1),
        ("$x = [xml]'<a/>'", "type [xml]", 1),
        ("Configuration C { Node x { } }", "dynamic keyword (Configuration)", 1),
        ("foreach ($i in 1..2) { break outer }", "loop label", 1),
        ("Invoke-Command -ScriptBlock { $using:x }", "scoped variable $using:x", 1),
        ("$a = @(1)\n$a.Where({ $_ })", "intrinsic .Where() method", 2),
    ],
)
def test_unsupported_constructs_are_flagged_with_their_line(script: str, kind: str, line: int) -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        parse_script(script)
    assert (info.value.kind, info.value.line) == (kind, line)
    assert str(info.value).startswith(f"unsupported construct {kind} at line {line}: ")
    [message] = lint_script(script)
    assert message == str(info.value)


def test_parse_is_cached_by_text() -> None:
    text = "param($a)\n$a + 1"
    assert parse_script(text) is parse_script(text)


def test_parameter_names_with_digits_parse() -> None:
    # tree-sitter-powershell rejects ``-Phase1AuthSet $x``; the retry spells the digits out and back.
    from ipsec_remote.lab.engine import parse_script

    script = parse_script("New-NetIPsecRule -DisplayName r -Phase1AuthSet $p1.Name -Phase2AuthSet:'x' 'a-b1'")
    text = repr(script)
    assert "Phase1AuthSet" in text and "Phase2AuthSet" in text and "___" not in text
