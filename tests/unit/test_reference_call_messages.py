"""The line a refused call gets when it names a parameter its cmdlet does not have (where the parameter lives
instead, or that it is a name blogs invent), and the integer and wildcard parameters a plan may pass."""

from __future__ import annotations

import pytest

from ipsec_remote.model.calls import CmdletCall, ParamValue
from ipsec_remote.model.reference import Reference, ValidationError, validate_call


def C(cmdlet: str, **params: ParamValue) -> CmdletCall:
    return CmdletCall(cmdlet, params)


def _refusal(call: CmdletCall, ref: Reference | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        validate_call(call, ref)
    return str(info.value)


@pytest.mark.parametrize(("call", "line"), [
    (C("New-NetIPsecRule", DisplayName="r", ForceDiffieHellman=True),
     "New-NetIPsecRule: no parameter -ForceDiffieHellman "
     "(a parameter of New-NetIPsecMainModeCryptoSet, Set-NetIPsecMainModeCryptoSet)"),
    (C("New-NetIPsecRule", DisplayName="r", MaxMinutes=60),  # three cmdlets have it: the first two are named
     "New-NetIPsecRule: no parameter -MaxMinutes "
     "(a parameter of New-NetIPsecMainModeCryptoSet, New-NetIPsecQuickModeCryptoProposal)"),
    (C("New-NetIPsecRule", DisplayName="r", Encapsulation="ESP"),
     "New-NetIPsecRule: no parameter -Encapsulation (a parameter of New-NetIPsecQuickModeCryptoProposal)"),
])
def test_a_parameter_of_another_cmdlet_is_pointed_to(call: CmdletCall, line: str) -> None:
    assert _refusal(call) == line


SMALL = Reference({"cmdlets": {"Set-Thing": {
    "parameters": {"Name": {"type": "String"}}, "parameter_sets": ["Default"], "default_parameter_set": "Default",
    "not_parameters": ["Zebra (seen in blog posts)"]}},
    "default_set_names": {k: "{" + k + "}" for k in ("MainModeCryptoSet", "QuickModeCryptoSet", "Phase1AuthSet",
                                                      "Phase2AuthSet")}})


def test_a_name_no_cmdlet_has() -> None:
    """Nothing close, no cmdlet with it: a name the reference lists as invented says so; any other is bare."""
    assert _refusal(C("Set-Thing", Zebra="x"), SMALL) == "Set-Thing: no parameter -Zebra (a name blogs invent)"
    assert _refusal(C("Set-Thing", Quokka="x"), SMALL) == "Set-Thing: no parameter -Quokka"


@pytest.mark.parametrize("minutes", [0, 2**32 - 1])
def test_an_unsigned_integer_takes_its_whole_range(minutes: int) -> None:
    validate_call(C("Set-NetIPsecMainModeCryptoSet", Name="mm", MaxMinutes=minutes))


@pytest.mark.parametrize("minutes", [-1, 2**32])
def test_an_unsigned_integer_out_of_range_is_refused(minutes: int) -> None:
    assert _refusal(C("Set-NetIPsecMainModeCryptoSet", Name="mm", MaxMinutes=minutes)) == (
        f"Set-NetIPsecMainModeCryptoSet -MaxMinutes: {minutes} is out of range for UInt32 (0..4294967295)")


def test_a_wildcard_pattern_takes_a_string() -> None:
    validate_call(C("New-NetIPsecDospSetting", Name="dosp", PrivateInterfaceAliases="Ethernet*",
                    PublicInterfaceAliases=["Internet"]))
