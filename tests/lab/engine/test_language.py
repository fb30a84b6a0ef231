"""Variables, literals, casts, member access, control flow and functions (Windows PowerShell 5.1)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from ipsec_remote.lab.values import PSHashtable, PSObject


def test_strings_quoting_and_expansion(out: Any) -> None:
    # about_Quoting_Rules: '' escapes a quote in single quotes; "" and backticks in double quotes.
    script = r'''$name = 'sql01'; $h = @{ k = 'v' }
'it''s $name'
"host $name"
"sub $($h.k) and $($name.ToUpper())"
"tab`tquote`"dollar`$name"
"say ""hi"""
"$name.Length"
'''
    assert out(script) == [
        "it's $name",
        "host sql01",
        "sub v and SQL01",
        'tab\tquote"dollar$name',
        'say "hi"',
        "sql01.Length",
    ]


def test_here_strings(out: Any) -> None:
    script = "$x = 'X'\n$a = @\"\nline $x\n  two\n\"@\n$b = @'\nno $x\n'@\n$a\n$b"
    assert out(script) == ["line X\n  two", "no $x"]


def test_hashtables_are_case_insensitive_and_ordered(out: Any) -> None:
    res = out("$h = @{ B = 1; a = 2 }\n$h['b']; $h.A; $h.Count; $h.ContainsKey('A'); $h.missing; ,$h.Keys")
    assert res == [1, 2, 2, True, None, ["B", "a"]]
    res = out("$h = [ordered]@{ z = 1 }\n$h.Add('y', 2)\n$h.Remove('z')\n$h['x'] = 3\n$h.w = 4\n,@($h.Keys)")
    assert res == [["y", "x", "w"]]
    assert isinstance(out("@{a=1}")[0], PSHashtable)  # a hashtable is not enumerated into the pipeline


def test_pscustomobject_keeps_property_order(out: Any) -> None:
    [obj] = out("[pscustomobject]@{ Zeta = 1; Alpha = 'a'; List = @(1, 2) }")
    assert isinstance(obj, PSObject) and not obj.adapted
    assert list(obj.properties) == ["Zeta", "Alpha", "List"]
    assert obj.properties["List"] == [1, 2]
    assert out("$o = [pscustomobject]@{ Name = 'x' }\n$o.name; $o.Missing; $o.Name = 'y'; $o.Name") == ["x", None, "y"]


def test_missing_members_and_null_are_null(out: Any) -> None:
    # StrictMode off: a missing property, a property of $null and an index past the end are $null.
    assert out("$n = $null\n$r = $n.Foo.Bar\n$null -eq $r") == [True]
    assert out("$a = @(1)\n$null -eq $a[5]") == [True]
    assert out("$s = 'abc'\n$s.Length; $s.Count; (5).Count") == [3, 1, 1]


def test_member_enumeration(out: Any) -> None:
    # about_Member-Access_Enumeration: $list.Prop is each element's Prop; one result is a scalar.
    script = (
        "$l = @([pscustomobject]@{ n = 'a'; v = @(1, 2) }, [pscustomobject]@{ n = 'b'; v = 3 })\n,$l.n\n,$l.v\n$l.Count"
    )
    assert out(script) == [["a", "b"], [1, 2, 3], 2]
    assert out("$l = @([pscustomobject]@{ n = 'a' })\n$l.n") == ["a"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("[string]5", "5"),
        ("[string]$true", "True"),
        ("[string]$null", ""),
        ("[string]@(1, 2)", "1 2"),  # arrays join with $OFS (a space)
        ("[int]'42'", 42),
        ("[int]2.5", 2),  # .NET rounds half to even
        ("[int]3.5", 4),
        ("[int]$true", 1),
        ("[bool]'False'", True),
        ("[bool]0", False),
        ("[bool]@()", False),
        ("[datetime]'2024-05-01T10:00:00Z'", datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),
        ("[int]::MaxValue", 2**31 - 1),
        ("[string]::IsNullOrEmpty('')", True),
    ],
)
def test_casts(out: Any, expr: str, expected: Any) -> None:
    assert out(f"$r = {expr}\n$r") == [expected]


def test_array_casts_and_void(out: Any) -> None:
    assert out(",[array]5") == [[5]]
    assert out(",[string[]]@(1, 2)") == [["1", "2"]]
    assert out("$h = @{}\n[void]$h.Add('a', 1)\n$null = $h.Count\n$h.Count | Out-Null\n'done'") == ["done"]


def test_bad_cast_is_a_runtime_error(run: Any) -> None:
    res = run("[int]'abc'\n'after'")
    assert res.output == ["after"]
    assert 'Cannot convert value "abc" to type "System.Int32"' in res.errors[0].message


def test_string_methods(out: Any) -> None:
    script = """$s = '  Hello,World  '
$s.Trim(); $s.ToLower().Trim(); $s.Trim().StartsWith('Hello'); $s.Trim().StartsWith('hello')
$s.Contains('World'); ,$s.Trim().Split(','); $s.Trim().Replace('World', 'There'); 'x'.ToString()
'a;b,c'.Split(';,').Count
"""
    # .NET string methods are case-sensitive, unlike PowerShell's operators.
    assert out(script) == ["Hello,World", "hello,world", True, False, True, ["Hello", "World"], "Hello,There", "x", 3]


def test_method_on_null_is_an_error(run: Any) -> None:
    res = run("$x = $null\n$x.ToString()\n'after'")
    assert res.output == ["after"]
    assert res.errors[0].message == "You cannot call a method on a null-valued expression."
    assert res.errors[0].error_id == "InvokeMethodOnNull"


def test_datetime_members(out: Any) -> None:
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    script = "$d.AddSeconds(30).ToString('o'); $d.AddMinutes(-1).ToString('s'); $d.ToUniversalTime().ToString('o')"
    assert out(script, variables={"d": start}) == [
        "2024-01-02T03:04:35.0000000Z",
        "2024-01-02T03:03:05",
        "2024-01-02T03:04:05.0000000Z",
    ]
    assert out("([datetime]'2024-01-02 03:04:05').ToString('yyyyMMdd-HHmmss')") == ["20240102-030405"]
    assert isinstance(out("[datetime]::UtcNow")[0], datetime)
    assert len(out("[guid]::NewGuid().ToString()")[0]) == 36


def test_indexing(out: Any) -> None:
    assert out("$a = 10, 20, 30\n$a[0]; $a[-1]; ,$a[0, 2]; ,$a[1..2]; 'abc'[1]") == [10, 30, [10, 30], [20, 30], "b"]
    assert out("$a = @(1, 2)\n$a[0] = 5\n,$a") == [[5, 2]]


def test_if_elseif_else(out: Any) -> None:
    script = "foreach ($n in 1, 2, 3) { if ($n -eq 1) { 'one' } elseif ($n -eq 2) { 'two' } else { 'many' } }"
    assert out(script) == ["one", "two", "many"]


def test_foreach_over_null_and_scalar(out: Any) -> None:
    # about_Foreach: since PS 3.0 a $null collection is not iterated; a scalar is one iteration.
    assert out("foreach ($x in $null) { 'ran' }\nforeach ($x in 5) { $x }") == [5]


def test_loops_break_continue(out: Any) -> None:
    script = """for ($i = 0; $i -lt 10; $i++) { if ($i -eq 1) { continue }; if ($i -eq 4) { break }; $i }
$n = 0; while ($n -lt 3) { $n++ }; $n
$k = 0; do { $k++ } while ($k -lt 2); $k
$u = 0; do { $u++ } until ($u -ge 5); $u
foreach ($x in 1..5) { if ($x -eq 3) { break }; $x }"""
    assert out(script) == [0, 2, 3, 3, 2, 5, 1, 2]


def test_loop_cap_stops_a_runaway_loop(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipsec_remote.lab.engine import evaluator

    monkeypatch.setattr(evaluator, "LOOP_LIMIT", 50)
    res = run("'before'\nwhile ($true) { }\n'after'")
    assert res.output == ["before"]
    assert res.failure is not None and res.failure.error_id == "LoopLimitExceeded"


def test_functions_params_return_and_scope(out: Any) -> None:
    script = """$outer = 'o'
function Add-Two([int]$a, $b = 2) { $local = 'inner'; return $a + $b }
function Get-Flag { param([Parameter(Mandatory = $true)][string]$Name, [switch]$Loud)
    if ($Loud) { $Name.ToUpper() } else { $Name }
    $outer
}
Add-Two 1; Add-Two -a 1 -b 5; Add-Two '3'
Get-Flag -Name x; Get-Flag x -Loud; Get-Flag -N y -Loud:$false
$null -eq $local
function Get-Many { 1; 2; return; 3 }
$m = Get-Many; ,$m
"""
    assert out(script) == [3, 6, 5, "x", "o", "X", "o", "y", "o", True, [1, 2]]


def test_function_binding_errors(run: Any) -> None:
    res = run("function F { param([Parameter(Mandatory)][string]$Name) $Name }\nF\nF -Bogus 1\n'end'")
    assert res.output == ["end"]
    assert [e.error_id for e in res.errors] == ["MissingMandatoryParameter,F", "NamedParameterNotFound,F"]
    assert res.errors[0].message == "Cannot process command because of one or more missing mandatory parameters: Name."


def test_script_params_types_and_defaults(run: Any) -> None:
    script = """param([string]$Group = 'ipsec-remote', [int]$Count, [bool]$Flag = $true, [switch]$Force,
    [string[]]$Names = @(), [hashtable]$Extra = @{}, [object[]]$Items = @(), [datetime]$At, $Any)
$Group; $Count; $Flag; $Force; ,$Names; $Extra.Count; $Items.Count; $At.Year; $null -eq $Any"""
    assert run(script).output == ["ipsec-remote", 0, True, False, [], 0, 0, 1, True]
    res = run(script, {"Group": "g", "Count": "7", "Force": True, "Names": "one", "Items": [1, 2]})
    assert res.output == ["g", 7, True, True, ["one"], 0, 2, 1, True]
    res = run(script, [(None, "pos"), ("Count", 2)])
    assert res.output[:2] == ["pos", 2]


def test_script_param_errors_fail_the_script(run: Any) -> None:
    res = run("param([int]$Count)\n'body'", {"Count": "many"})
    assert res.output == [] and res.failure is not None
    assert res.failure.error_id.startswith("ParameterArgumentTransformationError")
    res = run("[CmdletBinding()]\nparam([string]$A)\n'body'", {"Nope": 1})
    assert res.failure is not None and "matches parameter name 'Nope'" in res.failure.message


def test_scriptblock_invocation_and_splatting(out: Any) -> None:
    script = """function Show { param($A, $B) "$A-$B" }
$h = @{ A = 1; B = 2 }
$arr = @('x', 'y')
Show @h; Show @arr
$name = 'Show'; & $name -A 3 -B 4; & 'Show' 5 6
$sb = { param($v) $v * 2 }
& $sb 21"""
    assert out(script) == ["1-2", "x-y", "3-4", "5-6", 42]


def test_variables_passed_in_and_env(out: Any) -> None:
    assert out("$given; $env:COMPUTERNAME", variables={"Given": 1, "env:COMPUTERNAME": "SQL01"}) == [1, "SQL01"]


def test_format_and_comments(out: Any) -> None:
    script = "# comment\n<# block\ncomment #>\n$x = 1 # trailing\n'{0}-{1}' -f $x, 2"
    assert out(script) == ["1-2"]


def test_statements_as_values(out: Any) -> None:
    assert out("$x = if ($true) { 'a' } else { 'b' }\n$x") == ["a"]
    assert out("$x = foreach ($i in 1..3) { $i * 2 }\n,$x") == [[2, 4, 6]]
    assert out("\"$(1 + 1) and $((2, 3) -join '+')\"") == ["2 and 2+3"]


def test_simple_function_args_and_input(out: Any) -> None:
    # about_Automatic_Variables: $args holds undeclared arguments, $input the pipeline input.
    assert out("function G { param($a) $args.Count; $args[1] }\nG 1 2 -x") == [2, "-x"]
    assert out("function H { $input | ForEach-Object { $_ + 1 } }\n1, 2 | H") == [2, 3]


def test_advanced_function_error_action(run: Any) -> None:
    # about_CommonParameters: -ErrorAction on an advanced function sets its $ErrorActionPreference.
    script = "function F { [CmdletBinding()] param($A) Write-Error \"e $A\"; 'after' }\nF -A 1 -ErrorAction Stop\n'x'"
    res = run(script)
    assert res.output == [] and res.failure is not None and res.failure.message == "e 1"
    res = run(script.replace("Stop", "SilentlyContinue"))
    assert res.output == ["after", "x"] and res.errors == []


def test_exit_stops_quietly(run: Any) -> None:
    res = run("'a'\nexit\n'b'")
    assert res.output == ["a"] and res.failure is None


def test_null_count_and_method_errors(run: Any) -> None:
    assert run("$e = $null\n$e.Count\n@($null).Count\n@().Count").output == [0, 1, 0]
    res = run("'x'.Foo()")
    assert (
        res.errors[0].message
        == "Method invocation failed because [System.String] does not contain a method named 'Foo'."
    )
    res = run("$a = @(1)\n$a.Add(2)")
    assert "Collection was of a fixed size." in res.errors[0].message


def test_math_static_methods(out: Any) -> None:
    assert out("[math]::Max(3, 7); [math]::Round(2.5); [math]::Floor(2.7)") == [7, 2, 2]


def test_datetime_subtraction_gives_a_timespan(out: Any) -> None:
    start = datetime(2024, 1, 2, 3, 0, 0, tzinfo=timezone.utc)
    script = (
        "$later = $d.AddMinutes(90).AddSeconds(5)\n$span = $later - $d\n$span.TotalSeconds; $span.Hours; [string]$span"
    )
    assert out(script, variables={"d": start}) == [5405.0, 1, "01:30:05"]
