"""Pipeline enumeration and the engine's built-in cmdlets."""

from __future__ import annotations

from typing import Any

from ipsec_remote.lab.values import PSObject


def test_command_output_enumerates_and_collects(out: Any) -> None:
    # about_Pipelines / about_Arrays: command output of several objects becomes an array when assigned;
    # one object stays scalar unless wrapped in @(); no output is $null.
    script = """$many = Get-Items 3; $one = Get-Items 1; $none = Get-Items 0
$many.Count; ($one -is $null) -eq $null
$one.Id; $null -eq $none
@($one).Count; @($none).Count; @(Get-Items 2).Count"""
    script = script.replace("($one -is $null) -eq $null\n", "")
    assert out(script) == [3, 0, True, 1, 0, 2]


def test_arrays_enumerate_into_pipeline_but_unary_comma_wraps(out: Any) -> None:
    assert out("@(1, 2) | ForEach-Object { $_ * 10 }") == [10, 20]
    assert out(",@(1, 2) | ForEach-Object { $_.Count }") == [2]
    assert out("$x = 1, 2\n$x") == [1, 2]
    assert out("$x = 1, 2\n,$x") == [[1, 2]]
    assert out("$h = @{ a = 1 }\n$h | ForEach-Object { $_.a }") == [1]


def test_where_object_scriptblock_and_simple_form(out: Any) -> None:
    script = """$items = Get-Items 4
($items | Where-Object { $_.Id -ge 2 }).Id
($items | Where-Object Name -eq 'item1').Id
($items | ? { $_.Name -like '*3' }).Id
@($items | where { $false }).Count"""
    assert out(script) == [2, 3, 1, 3, 0]


def test_foreach_object_scope_and_member_name(out: Any) -> None:
    script = """$sum = 0
1..4 | ForEach-Object { $sum += $_ }
$sum
Get-Items 2 | % Name
Get-Items 1 | ForEach-Object -MemberName Id
1..3 | foreach -Begin { 'b' } -Process { $_ } -End { 'e' }"""
    # ForEach-Object runs its block in the caller's scope, so $sum is updated.
    assert out(script) == [10, "item0", "item1", 0, "b", 1, 2, 3, "e"]


def test_select_object(out: Any) -> None:
    script = """$items = Get-Items 3
($items | Select-Object -First 2).Id
$items | Select-Object -ExpandProperty Name
$items | Select-Object -Property Name, @{ Name = 'Double'; Expression = { $_.Id * 2 } } -Last 1
$items | select -Skip 2 Id"""
    res = out(script)
    assert res[:5] == [0, 1, "item0", "item1", "item2"]
    selected = res[5]
    assert isinstance(selected, PSObject) and not selected.adapted  # extended properties, as on Windows
    assert selected.type_names == [
        "Selected.System.Management.Automation.PSCustomObject",
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    ]
    assert dict(selected.properties.items()) == {"Name": "item2", "Double": 4}
    assert dict(res[6].properties.items()) == {"Id": 2}


def test_select_object_expand_missing_is_non_terminating(run: Any) -> None:
    res = run("Get-Items 1 | Select-Object -ExpandProperty Nope\n'after'")
    assert res.output == ["after"]
    assert res.errors[0].message == 'Property "Nope" cannot be found.'


def test_sort_and_measure(out: Any) -> None:
    script = """$list = @([pscustomobject]@{ n = 'b'; v = 2 }, [pscustomobject]@{ n = 'A'; v = 10 },
    [pscustomobject]@{ n = 'c'; v = 1 })
($list | Sort-Object n).n
($list | Sort-Object -Property v -Descending).v
(3, 1, 2 | Sort-Object)
(1, 1, 2 | Sort-Object -Unique)
($list | Measure-Object).Count
($list | Measure-Object -Property v -Sum).Sum"""
    assert out(script) == ["A", "b", "c", 10, 2, 1, 1, 2, 3, 1, 2, 3, 13]


def test_write_and_out_cmdlets(run: Any) -> None:
    res = run("""Write-Output 'a'
Write-Output @(1, 2)
Write-Output -NoEnumerate @(1, 2)
'x' | Out-Null
Write-Host 'ignored'
Write-Verbose 'v1'
Write-Verbose 'v2' -Verbose
Write-Warning 'careful'
Write-Warning 'quiet' -WarningAction SilentlyContinue
Write-Information 'info'""")
    assert res.failure is None and res.errors == []
    assert res.output == ["a", 1, 2, [1, 2]]
    assert res.warnings == ["careful"]
    assert res.verbose == ["v2"]
    assert res.information == ["info"]


def test_pipeline_input_to_script_is_input(engine: Any) -> None:
    res = engine.run("$input | ForEach-Object { $_ + 1 }", pipeline_input=[1, 2])
    assert res.output == [2, 3]


def test_run_pipeline_script_then_cmdlets(engine: Any, host: Any) -> None:
    from ipsec_remote.lab.runtime import PipelineCommand

    res = engine.run_pipeline(
        [
            PipelineCommand("param($Count) Get-Items $Count", True, [("Count", 3)]),
            PipelineCommand("Where-Object", False, [(None, "Id"), ("GT", None), (None, 0)]),
            PipelineCommand("Select-Object", False, [("ExpandProperty", "Name")]),
        ],
        [],
    )
    assert res.failure is None and res.errors == []
    assert res.output == ["item1", "item2"]
    res = engine.run_pipeline([PipelineCommand("Get-Thing", False, [("Name", ["a", "missing"])])], [])
    assert [o.get("Name") for o in res.output] == ["a"]
    assert res.errors[0].error_id == "ThingNotFound"
    res = engine.run_pipeline([PipelineCommand("'before'; throw 'no'; 'after'", True)], [])
    assert res.failure is not None and res.failure.message == "no"
    assert res.output == ["before"]  # Windows fails the pipeline but keeps what was already written


def test_write_error_with_a_caught_record_and_out_string(run: Any) -> None:
    res = run("try { throw 'inner' } catch { Write-Error $_ }\n'x', 1 | Out-String")
    assert [(e.message, e.error_id) for e in res.errors] == [("inner", "inner")]
    assert res.output == ["x\n1\n"]


def test_sort_object_falls_back_to_strings_and_objects_compare_by_reference(out: Any) -> None:
    assert out("@{ a = 1 }, 'b', 'a' | Sort-Object | ForEach-Object { [string]$_ }") == [
        "a",
        "b",
        "System.Collections.Hashtable",
    ]
    script = "$a = [pscustomobject]@{ n = 1 }; $b = [pscustomobject]@{ n = 1 }\n$a -eq $b; $a -eq $a"
    assert out(script) == [False, True]


def test_host_command_can_invoke_a_script_block_with_arguments(host: Any, engine: Any) -> None:
    from ipsec_remote.lab.commands import FunctionCommand, ParamSpec

    def invoke(ctx: Any, args: Any, data: list[Any]) -> list[Any]:
        return ctx.invoke_scriptblock(args["ScriptBlock"], None, list(args.get("ArgumentList") or []))

    host.table.add(
        FunctionCommand(
            "Invoke-Lab",
            {
                "ScriptBlock": ParamSpec("ScriptBlock", "ScriptBlock", position=0),
                "ArgumentList": ParamSpec("ArgumentList", "Object[]", array=True),
            },
            invoke,
        )
    )
    res = engine.run("$x = 'outer'\nInvoke-Lab { param($a, $b) \"$a-$b-$x\"; $x = 'inner' } -ArgumentList 1, 2\n$x")
    assert res.failure is None and res.output == ["1-2-outer", "outer"]
