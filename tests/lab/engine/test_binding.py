"""Generic parameter binding against ParamSpecs (about_Parameters, about_CommonParameters, about_Splatting)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest


def _bound(run: Any, host: Any, script: str) -> Any:
    res = run(script)
    assert res.failure is None and res.errors == [], (res.failure, res.errors)
    _name, args = host.calls[-1]
    return args


def _error(run: Any, script: str) -> Any:
    res = run(script)
    assert len(res.errors) == 1 and res.output == [], (res.errors, res.output)
    return res.errors[0]


def test_names_aliases_prefixes_and_canonical_enum_values(run: Any, host: Any) -> None:
    args = _bound(
        run, host, "New-NetIPsecRule -displayname 'r1' -ID n1 -Inbound request -outboundsec REQUIRE -Encapsulation esp"
    )
    assert dict(args.items()) == {
        "DisplayName": "r1",
        "Name": "n1",
        "InboundSecurity": "Request",
        "OutboundSecurity": "Require",
        "Encapsulation": "ESP",
    }
    assert "ErrorAction" not in _bound(run, host, "New-NetIPsecRule x -ErrorAction Stop -WarningAction 0")


def test_ambiguous_prefix(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule -DisplayName x -Pro Any")
    assert err.message == (
        "Parameter cannot be processed because the parameter name 'Pro' is ambiguous. "
        "Possible matches include: -Profile -Proposal."
    )
    assert err.error_id == "AmbiguousParameter,New-NetIPsecRule"


def test_unknown_parameter(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule -DisplayName x -Colour red")
    assert err.message == "A parameter cannot be found that matches parameter name 'Colour'."
    assert err.error_id == "NamedParameterNotFound,New-NetIPsecRule"
    assert err.exception_type == "System.Management.Automation.ParameterBindingException"


def test_invalid_enum_value_message(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule -DisplayName x -Encapsulation Transport")
    assert err.message == (
        "Cannot bind parameter 'Encapsulation'. Cannot convert value \"Transport\" to type "
        '"Microsoft.PowerShell.Cmdletization.GeneratedTypes.NetSecurity.IPsecEncapsulation". Error: "Unable to '
        "match the identifier name Transport to a valid enumerator name. Specify one of the following enumerator "
        'names and try again: None, AH, ESP"'
    )
    assert err.error_id == "CannotConvertArgumentNoMessage,New-NetIPsecRule"


@pytest.mark.parametrize("arg", ["Private,domain", "'private, Domain'", "@('Private', 'DOMAIN')", "Domain, Private"])
def test_flags_enum_is_a_list_of_canonical_names(run: Any, host: Any, arg: str) -> None:
    # Convention (commands.py): flags enums bind as a list of canonical names in the enum's declared order.
    assert _bound(run, host, f"New-NetIPsecRule x -Profile {arg}")["Profile"] == ["Domain", "Private"]


def test_missing_mandatory_parameter(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule -Name n1")
    assert err.message == "Cannot process command because of one or more missing mandatory parameters: DisplayName."
    assert err.error_id == "MissingMandatoryParameter,New-NetIPsecRule"


def test_null_or_empty_to_a_mandatory_string(run: Any) -> None:
    assert _error(run, "New-NetIPsecRule -DisplayName $null").error_id.startswith(
        "ParameterArgumentValidationErrorNullNotAllowed"
    )
    assert _error(run, "New-NetIPsecRule -DisplayName ''").error_id.startswith(
        "ParameterArgumentValidationErrorEmptyStringNotAllowed"
    )


def test_type_conversions(run: Any, host: Any) -> None:
    args = _bound(
        run,
        host,
        "New-NetIPsecRule x -RemoteAddress 10.0.0.1 -MaxMinutes '30' -Enabled $true "
        "-StartTime '2024-01-01T00:00:00Z' -PassThru:$false",
    )
    assert args["RemoteAddress"] == ["10.0.0.1"]  # a scalar wraps into String[]
    assert args["MaxMinutes"] == 30 and args["Enabled"] is True and args["PassThru"] is False
    assert args["StartTime"] == datetime(2024, 1, 1, tzinfo=timezone.utc)
    args = _bound(run, host, "New-NetIPsecRule x -RemoteAddress 10.0.0.1, 10.0.0.2 -Enabled 0 -PassThru")
    assert args["RemoteAddress"] == ["10.0.0.1", "10.0.0.2"] and args["Enabled"] is False and args["PassThru"]


def test_boolean_parameter_rejects_strings(run: Any) -> None:
    # Windows: Boolean parameters accept only $true/$false and numbers.
    err = _error(run, "New-NetIPsecRule x -Enabled 'true'")
    assert err.message == (
        "Cannot process argument transformation on parameter 'Enabled'. Cannot convert value "
        '"System.String" to type "System.Boolean". Boolean parameters accept only Boolean '
        "values and numbers, such as $True, $False, 1 or 0."
    )
    assert err.error_id == "ParameterArgumentTransformationError,New-NetIPsecRule"


def test_integer_conversion_failures(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule x -MaxMinutes abc")
    assert 'Cannot convert value "abc" to type "System.UInt32"' in err.message
    err = _error(run, "New-NetIPsecRule x -MaxMinutes -5")
    assert "Value was either too large or too small for a UInt32." in err.message


def test_positional_binding_and_extra_positional(run: Any, host: Any) -> None:
    assert _bound(run, host, "New-NetIPsecRule 'positional'")["DisplayName"] == "positional"
    err = _error(run, "New-NetIPsecRule a b")
    assert err.message == "A positional parameter cannot be found that accepts argument 'b'."


def test_missing_argument_and_duplicate_parameter(run: Any) -> None:
    err = _error(run, "New-NetIPsecRule x -Name")
    assert (
        err.message
        == "Missing an argument for parameter 'Name'. Specify a parameter of type 'System.String' and try again."
    )
    err = _error(run, "New-NetIPsecRule x -Name a -Name b")
    assert err.error_id.startswith("ParameterAlreadyBound")


def test_splatting_hashtable_and_switch_values(run: Any, host: Any) -> None:
    script = (
        "$p = @{ DisplayName = 'r'; InboundSecurity = 'require'; PassThru = $true }\n"
        "$o = New-NetIPsecRule @p\n$o.InboundSecurity"
    )
    res = run(script)
    assert res.output == ["Require"]
    args = _bound(run, host, "$p = @{ DisplayName = 'r'; PassThru = $false }\nNew-NetIPsecRule @p -Name n")
    assert args["PassThru"] is False and args["Name"] == "n"


def test_object_parameters_pass_through(run: Any, host: Any) -> None:
    args = _bound(run, host, "$prop = [pscustomobject]@{ Encryption = 'AES256' }\nNew-NetIPsecRule x -Proposal $prop")
    [prop] = args["Proposal"]
    assert prop.properties["Encryption"] == "AES256"


def test_invalid_error_action_value(run: Any) -> None:
    err = _error(run, "Get-Thing a -ErrorAction Sometimes")
    assert "System.Management.Automation.ActionPreference" in err.message
