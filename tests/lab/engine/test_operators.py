"""Operator semantics of Windows PowerShell 5.1 (about_Comparison_Operators, about_Arithmetic_Operators,
about_Booleans, about_Logical_Operators, about_Split, about_Join)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # about_Comparison_Operators: case-insensitive by default, -c prefix for case-sensitive.
        ("'abc' -eq 'ABC'", True),
        ("'abc' -ceq 'ABC'", False),
        ("'abc' -ieq 'ABC'", True),
        # The left operand's type decides the conversion of the right one.
        ("'10' -eq 10", True),
        ("10 -eq '10'", True),
        ("10 -eq '10.0'", True),
        ("'10' -eq '10.0'", False),
        ("10 -eq 'abc'", False),
        ("$true -eq 'false'", True),  # a non-empty string converts to $true
        ("2 -gt '10'", False),
        ("'2' -gt '10'", True),  # string comparison
        ("$null -eq $null", True),
        ("$null -eq 0", False),
        ("'' -eq $null", False),
        ("'b' -in @('A','B')", True),
        ("'b' -notin @('A','B')", False),
        ("@('A','B') -contains 'b'", True),
        ("@('A','B') -ccontains 'b'", False),
        ("@('A','B') -notcontains 'c'", True),
        ("'x' -contains 'X'", True),  # a scalar left side is a one-element collection
        # about_Wildcards
        ("'Remove-NetIPsecRule' -like 'remove-*'", True),
        ("'abc' -like 'a?c'", True),
        ("'abc' -like 'a[a-c]c'", True),
        ("'abc' -like 'b*'", False),
        ("'abc' -notlike 'b*'", True),
        ("'a*c' -like 'a`*c'", True),
        ("'NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand' -notlike 'NoMatching*'", False),
        ("'abc' -match 'B'", True),
        ("'abc' -cmatch 'B'", False),
        ("'abc' -notmatch '^x'", True),
        # about_Logical_Operators and about_Booleans
        ("1 -and 0", False),
        ("1 -or 0", True),
        ("-not 0", True),
        ("!''", True),
        ("-not 'False'", False),  # the string 'False' is true
        ("1 -xor 1", False),
        # about_Arithmetic_Operators
        ("1 + '2'", 3),
        ("'1' + 2", "12"),
        ("7 / 2", 3.5),
        ("6 / 2", 3),
        ("7 % 3", 1),
        ("'ab' * 3", "ababab"),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("-5 + 2", -3),
        ("$null + 1", 1),
        ("1kb", 1024),
        ("0x10", 16),
        ("-join @('a','b')", "ab"),
        ("@('a','b') -join ','", "a,b"),
        ("'x{0}y{1}' -f 1, 'z'", "x1yz"),
        ("'{0:D3}' -f 7", "007"),
        ("'a.b.c' -replace '\\.', '-'", "a-b-c"),
        ("'John Smith' -replace '(\\w+) (\\w+)', '$2 $1'", "Smith John"),
        ("'ABC' -replace 'b'", "AC"),
    ],
)
def test_scalar_operators(out: Any, expr: str, expected: Any) -> None:
    result = out(f"$r = {expr}\n$r")
    assert result == [expected]
    assert type(result[0]) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # about_Comparison_Operators: with a collection on the left, comparison operators filter it.
        ("@(1,2,3) -eq 2", [2]),
        ("@(1,2,3,2) -ne 2", [1, 3]),
        ("@(1,2,3) -gt 1", [2, 3]),
        ("@('apple','banana','cherry') -like '*an*'", ["banana"]),
        ("@('a1','b2','a3') -match '^a'", ["a1", "a3"]),
        ("@(1,2) -eq 5", []),
        ("@(1,2) + 3", [1, 2, 3]),
        ("@(1,2) + @(3,4)", [1, 2, 3, 4]),
        ("1,2,3", [1, 2, 3]),
        ("1..4", [1, 2, 3, 4]),
        ("3..1", [3, 2, 1]),
        ("'a,b,,c' -split ','", ["a", "b", "", "c"]),
        ("-split ' a  b '", ["a", "b"]),
        ("@('a.b','c') -replace '\\.', ''", ["ab", "c"]),
    ],
)
def test_collection_operators(out: Any, expr: str, expected: list[Any]) -> None:
    assert out(f"$r = {expr}\n,$r") == [expected]


def test_null_on_the_left_is_a_null_test_but_on_the_right_filters(out: Any) -> None:
    # about_Comparison_Operators: "$null -eq $a" tests for null; "$a -eq $null" filters an array for nulls.
    assert out("$a = @(1, $null, 2)\n$null -eq $a") == [False]
    assert out("$a = @(1, $null, 2)\n$r = $a -eq $null\n$r.Count") == [1]
    assert out("$a = @()\n$r = $a -eq $null\n$r.Count") == [0]
    assert out("$a = @()\nif ($a -eq $null) { 'yes' } else { 'no' }") == ["no"]


def test_match_sets_matches(out: Any) -> None:
    # about_Automatic_Variables: $Matches is set by a successful scalar -match.
    script = "if ('rule-42' -match '^rule-(?<num>\\d+)$') { $Matches[0]; $Matches[1]; $Matches.num }"
    assert out(script) == ["rule-42", "42", "42"]


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        ("$null", False),
        ("0", False),
        ("''", False),
        ("@()", False),
        ("@(0)", False),  # one element: that element's truthiness
        ("@('x')", True),
        ("@(0, 0)", True),  # two or more elements: true
        ("'False'", True),
        ("'0'", True),
        ("@{}", True),
        ("0.0", False),
        ("1", True),
    ],
)
def test_truthiness(out: Any, value: str, truthy: bool) -> None:
    # about_Booleans
    assert out(f"if ({value}) {{ 'T' }} else {{ 'F' }}") == ["T" if truthy else "F"]


def test_logical_operators_short_circuit(out: Any) -> None:
    assert out("$n = 0\n$false -and ($n = 1)\n$true -or ($n = 2)\n$n") == [False, True, 0]


def test_compound_assignment(out: Any) -> None:
    assert out("$n = 1; $n += 2; $n -= 1; $n *= 5; $n") == [10]
    assert out("$s = 'a'; $s += 'b'; $s += 3; $s") == ["ab3"]
    assert out("$a = @(); $a += 1; $a += @(2, 3); ,$a") == [[1, 2, 3]]
    assert out("$i = 5; $i++; $i--; $i--; $i") == [4]


def test_division_by_zero_is_a_runtime_error(run: Any) -> None:
    res = run("$x = 1 / 0\n'next'")
    assert res.output == ["next"]  # statement-terminating with $ErrorActionPreference = 'Continue'
    assert res.errors[0].message == "Attempted to divide by zero."
