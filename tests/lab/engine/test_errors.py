"""The error model: about_Try_Catch_Finally, about_Throw, about_Preference_Variables ($ErrorActionPreference),
about_CommonParameters (-ErrorAction, -ErrorVariable)."""

from __future__ import annotations

from typing import Any


def test_non_terminating_error_is_recorded_and_execution_continues(run: Any) -> None:
    res = run("Get-Thing -Name a, missing1, b | ForEach-Object { $_.Name }\n'after'")
    assert res.failure is None
    assert res.output == ["a", "b", "after"]
    [err] = res.errors
    assert (err.message, err.error_id, err.category, err.command) == (
        "No thing named 'missing1'.",
        "ThingNotFound",
        "ObjectNotFound",
        "Get-Thing",
    )


def test_non_terminating_error_inside_try_is_not_caught_with_continue(run: Any) -> None:
    # about_Try_Catch_Finally: catch handles terminating errors only.
    res = run("try { Get-Thing missing; 'in try' } catch { 'caught' }")
    assert res.output == ["in try"] and len(res.errors) == 1


def test_error_action_silently_continue_and_error_variable(run: Any) -> None:
    res = run(
        "Get-Thing missing -ErrorAction SilentlyContinue -ErrorVariable ev\n$ev.Count\n$ev[0].Exception.Message"
        "\n$Error.Count"
    )
    assert res.errors == []
    assert res.output == [1, "No thing named 'missing'.", 1]
    res = run("Get-Thing missing -ea 0\nWrite-Error 'quiet' -ErrorAction Ignore\n'ok'")
    assert res.errors == [] and res.output == ["ok"]


def test_error_action_stop_makes_it_terminating_and_catchable(run: Any) -> None:
    script = """try { Get-Thing missing -ErrorAction Stop; 'not here' }
catch { "caught: $($_.Exception.Message) | $($_.FullyQualifiedErrorId) | $($_.CategoryInfo.Category)" }
'after'"""
    res = run(script)
    assert res.failure is None and res.errors == []
    assert res.output == ["caught: No thing named 'missing'. | ThingNotFound | ObjectNotFound", "after"]


def test_error_action_preference_stop(run: Any) -> None:
    script = """$ErrorActionPreference = 'Stop'
'first'
try { Write-Error 'bad thing'; 'not here' } catch { "caught $_" }
Get-Thing missing
'never'"""
    res = run(script)
    assert res.output == ["first", "caught bad thing"]  # output before the failure is kept
    assert res.failure is not None and res.failure.message == "No thing named 'missing'."
    assert res.errors == []


def test_local_error_action_overrides_preference(run: Any) -> None:
    res = run("$ErrorActionPreference = 'Stop'\nGet-Thing missing -ErrorAction Continue\n'after'")
    assert res.output == ["after"] and len(res.errors) == 1


def test_write_error_record(run: Any) -> None:
    res = run("Write-Error 'custom' -ErrorId 'MyId' -Category InvalidData\nWrite-Error -Message 'plain'")
    assert [(e.message, e.error_id, e.category) for e in res.errors] == [
        ("custom", "MyId", "InvalidData"),
        ("plain", "Microsoft.PowerShell.Commands.WriteErrorException", "NotSpecified"),
    ]


def test_throw_is_script_terminating(run: Any) -> None:
    res = run("'one'\nthrow 'boom'\n'two'")
    assert res.output == ["one"]
    assert res.failure is not None
    # about_Throw: a thrown string becomes a RuntimeException whose FullyQualifiedErrorId is the message.
    assert (res.failure.message, res.failure.error_id, res.failure.line) == ("boom", "boom", 2)
    assert res.errors == []


def test_throw_from_function_and_catch_members(run: Any) -> None:
    script = """function Fail { throw "failed: $args" }
try { Fail x } catch {
    $_.Exception.Message; $_.FullyQualifiedErrorId; $_.CategoryInfo.Category; $_.ToString(); $PSItem.Exception.Message
}"""
    res = run(script)
    assert res.output == ["failed: x", "failed: x", "OperationStopped", "failed: x", "failed: x"]


def test_rethrow_and_nested_try_finally(run: Any) -> None:
    script = """try {
    try { throw 'inner' } catch { 'inner catch'; throw } finally { 'inner finally' }
} catch { "outer catch $($_.Exception.Message)" } finally { 'outer finally' }
try { try { throw 'x' } catch { throw $_ } } catch { "again $($_.FullyQualifiedErrorId)" }
try { 'body' } finally { 'fin' }"""
    res = run(script)
    assert res.output == [
        "inner catch",
        "inner finally",
        "outer catch inner",
        "outer finally",
        "again x",
        "body",
        "fin",
    ]


def test_finally_runs_when_uncaught(run: Any) -> None:
    res = run("try { throw 'up' } finally { 'cleanup' }\n'never'")
    assert res.output == ["cleanup"] and res.failure is not None and res.failure.message == "up"


def test_throw_an_object(run: Any) -> None:
    res = run("try { throw [pscustomobject]@{ a = 1 } } catch { $_.Exception.Message; $_.TargetObject.a }")
    assert res.output == ["@{a=1}", 1]


def test_binding_error_is_statement_terminating_with_continue(run: Any) -> None:
    # With $ErrorActionPreference = 'Continue' a parameter binding error ends its statement only.
    res = run("New-NetIPsecRule -DisplayName x -Bogus 1\n'next'")
    assert res.output == ["next"] and res.failure is None
    assert res.errors[0].error_id == "NamedParameterNotFound,New-NetIPsecRule"
    assert res.errors[0].message == "A parameter cannot be found that matches parameter name 'Bogus'."


def test_command_not_found(run: Any) -> None:
    res = run("Get-Nope\n'next'")
    assert res.output == ["next"]
    assert res.errors[0].error_id == "CommandNotFoundException"
    assert res.errors[0].message.startswith("The term 'Get-Nope' is not recognized")
    res = run("$ErrorActionPreference = 'Stop'\nGet-Nope\n'next'")
    assert res.output == [] and res.failure is not None and res.failure.error_id == "CommandNotFoundException"
    res = run("try { Get-Nope } catch [System.Management.Automation.CommandNotFoundException] { 'typed catch' }")
    assert res.output == ["typed catch"]


def test_typed_catch_falls_through_to_the_next_clause(run: Any) -> None:
    res = run("try { throw 'x' } catch [System.IO.IOException] { 'io' } catch { 'general' }")
    assert res.output == ["general"]
    res = run("try { throw 'x' } catch [System.IO.IOException] { 'io' }\n'never'")
    assert res.output == [] and res.failure is not None


def test_terminating_error_from_a_command_is_statement_terminating(run: Any) -> None:
    res = run("Stop-Hard 'broken'\n'next'")
    assert res.output == ["next"] and res.errors[0].message == "broken" and res.errors[0].command == "Stop-Hard"
    res = run("try { Stop-Hard 'broken' } catch { $_.FullyQualifiedErrorId }")
    assert res.output == ["HardStop"]


def test_python_exception_in_a_command_becomes_an_error_record(run: Any) -> None:
    res = run("$ErrorActionPreference = 'Stop'\nInvoke-Buggy")
    assert res.failure is not None
    assert "KeyError" in res.failure.message and "oops" in res.failure.message
    assert res.failure.command == "Invoke-Buggy"


def test_runtime_error_inside_try_is_caught(run: Any) -> None:
    res = run("try { $x = $null; $x.Foo() } catch { $_.FullyQualifiedErrorId }")
    assert res.output == ["InvokeMethodOnNull"]


def test_error_in_where_object_filter_propagates(run: Any) -> None:
    res = run("try { 1, 2 | Where-Object { throw 'in filter' } } catch { $_.Exception.Message }")
    assert res.output == ["in filter"]


def test_unsupported_construct_fails_the_run(run: Any) -> None:
    res = run("'a'\n$x = $true ? 1 : 2")
    assert res.output == [] and res.failure is not None
    assert res.failure.error_id == "UnsupportedConstruct" and res.failure.line == 2


def test_silently_continue_suppresses_statement_errors_and_even_throw(run: Any) -> None:
    # about_Throw: with $ErrorActionPreference SilentlyContinue or Ignore, throw does not propagate.
    res = run("$ErrorActionPreference = 'SilentlyContinue'\nGet-Nope\nthrow 'x'\n'still here'\n$Error.Count")
    assert res.output == ["still here", 2] and res.errors == [] and res.failure is None


def test_an_engine_gap_fails_its_statement_not_the_host(run: Any) -> None:
    res = run("'x'.PadLeft(3, 'ab')\n'next'")  # a two-character pad is no [char]: Python raises TypeError
    assert res.output == ["next"]
    assert res.errors[0].error_id == "LabEngineError" and res.errors[0].line == 1
