"""model/reference.py: where a plan's sets live (policy store, GPO session, copies, renames, removals, -Default)
and which parameter set a call selects, with the one-line messages a user reads when a plan is refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ipsec_remote.model.calls import CmdletCall, ParamValue
from ipsec_remote.model.reference import Reference, ValidationError, validate_call, validate_plan

GPO = r"corp.example\Isolation"
QMP = CmdletCall("New-NetIPsecQuickModeCryptoProposal", {"Encapsulation": "ESP", "Encryption": "AES256",
                                                         "ESPHash": "SHA256"})


def C(cmdlet: str, **params: ParamValue) -> CmdletCall:
    return CmdletCall(cmdlet, params)


def qm_set(name: str, **params: ParamValue) -> CmdletCall:
    return C("New-NetIPsecQuickModeCryptoSet", Name=name, DisplayName=name, Proposal=[QMP], **params)


def rule(**params: ParamValue) -> CmdletCall:
    return C("New-NetIPsecRule", IPsecRuleName="r1", DisplayName="r1", **params)


def _refused(calls: list[CmdletCall], existing: Mapping[str, set[str]] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        validate_plan(calls, existing_sets=existing)
    return str(info.value)


def _not_in(cmdlet: str, rule_name: str, kind: str, name: str, store: str, elsewhere: str | None = None) -> str:
    extra = f"; this plan creates it in '{elsewhere}'" if elsewhere else ""
    return (f"{cmdlet} '{rule_name}': -{kind} '{name}' is not in policy store '{store}' "
            f"(sets must live in the rule's store{extra})")


ACCEPTED = {
    "copy keeps the store it was read from": [
        qm_set("qm-1", PolicyStore=GPO), C("Copy-NetIPsecQuickModeCryptoSet", Name="qm-1", NewName="qm-2",
                                           PolicyStore=GPO),
        rule(QuickModeCryptoSet="qm-2", PolicyStore=GPO)],
    "copy into a GPO session": [
        qm_set("qm-1"), C("Copy-NetIPsecQuickModeCryptoSet", Name="qm-1", NewGPOSession="s2"),
        rule(QuickModeCryptoSet="qm-1", GPOSession="s2")],
    "copy under a new name": [
        qm_set("qm-1"), C("Copy-NetIPsecQuickModeCryptoSet", Name="qm-1", NewName="qm-copy",
                          NewPolicyStore=GPO),
        rule(QuickModeCryptoSet="qm-copy", PolicyStore=GPO)],
    "a set that is not the default": [qm_set("qm-1", Default=False), rule(QuickModeCryptoSet="qm-1")],
    "a new default set": [qm_set("qm-d", Default=True),
                          rule(QuickModeCryptoSet="{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE2}")],
    "removing a set the plan never made": [C("Remove-NetIPsecQuickModeCryptoSet", Name="qm-zz"),
                                           C("Rename-NetIPsecQuickModeCryptoSet", Name="qm-yy", NewName="qm-b",
                                             PolicyStore=GPO)],
    "names compare case-free": [qm_set("QM-One"), rule(QuickModeCryptoSet="qm-one")],
}


@pytest.mark.parametrize("calls", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_plan_accepted(calls: list[CmdletCall]) -> None:
    validate_plan(calls)


REFUSED = {
    "a GPO session is its own store": (
        [qm_set("qm-1", GPOSession="s1"), rule(QuickModeCryptoSet="qm-1")],
        _not_in("New-NetIPsecRule", "r1", "QuickModeCryptoSet", "qm-1", "PersistentStore", "s1")),
    "a copy without a new store stays in its own": (
        [qm_set("qm-1", PolicyStore=GPO), C("Copy-NetIPsecQuickModeCryptoSet", Name="qm-1", NewName="qm-2",
                                            PolicyStore=GPO),
         rule(QuickModeCryptoSet="qm-2")],
        _not_in("New-NetIPsecRule", "r1", "QuickModeCryptoSet", "qm-2", "PersistentStore", GPO)),
    "every set a rule names is checked": (
        [qm_set("qm-1"), rule(QuickModeCryptoSet="qm-1", Phase1AuthSet="p1-missing")],
        _not_in("New-NetIPsecRule", "r1", "Phase1AuthSet", "p1-missing", "PersistentStore")),
    "a rule selected by display name": (
        [C("Set-NetIPsecRule", DisplayName="Web tier", QuickModeCryptoSet="qm-x")],
        _not_in("Set-NetIPsecRule", "Web tier", "QuickModeCryptoSet", "qm-x", "PersistentStore")),
    "rules selected by several names": (
        [C("Set-NetIPsecRule", IPsecRuleName=["r1", "r2"], Phase2AuthSet="p2-x")],
        _not_in("Set-NetIPsecRule", "r1, r2", "Phase2AuthSet", "p2-x", "PersistentStore")),
    # -Default names the set by its kind's default GUID (the -Default parameter text), not by -Name.
    "a default set is not found by the name given beside -Default": (
        [qm_set("qm-d", Default=True), rule(QuickModeCryptoSet="qm-d")],
        _not_in("New-NetIPsecRule", "r1", "QuickModeCryptoSet", "qm-d", "PersistentStore")),
    "a main-mode rule named by -Name": (
        [C("New-NetIPsecMainModeRule", Name="mm-peers", DisplayName="Main mode to peers", MainModeCryptoSet="mm-x")],
        _not_in("New-NetIPsecMainModeRule", "mm-peers", "MainModeCryptoSet", "mm-x", "PersistentStore")),
    "rules selected by group": (
        [C("Set-NetIPsecRule", Group="ipsec-remote", QuickModeCryptoSet="qm-x")],
        _not_in("Set-NetIPsecRule", "?", "QuickModeCryptoSet", "qm-x", "PersistentStore")),
}


@pytest.mark.parametrize(("calls", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_plan_refused(calls: list[CmdletCall], message: str) -> None:
    assert _refused(calls) == message


CALLS_REFUSED = [
    (C("New-NetIPsecQuickModeCryptoSet", Name="qm"),
     "New-NetIPsecQuickModeCryptoSet: missing mandatory parameters -DisplayName, -Proposal"),
    (C("Update-NetIPsecRule", IPsecRuleName="r1"),
     "Update-NetIPsecRule: missing mandatory parameters -Action, -EndpointType (parameter set Query (cdxml))"),
    # -Authority is in the HealthCert and Cert sets; both also need -Cert (and one -Machine, the other -User):
    # the parameter every candidate set misses is named, without a set.
    (C("New-NetIPsecAuthProposal", Authority="CN=Root"), "New-NetIPsecAuthProposal: missing mandatory parameter -Cert"),
]


@pytest.mark.parametrize(("call", "message"), CALLS_REFUSED)
def test_call_refused(call: CmdletCall, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_call(call)
    assert str(info.value) == message


def _param(sets: list[str], mandatory: list[str] | None = None) -> dict[str, Any]:
    return {"type": "String", "parameter_sets": sets, "mandatory_in_sets": mandatory or []}


# A cmdlet whose three parameters pair up in some set, but no set takes all three (the shipped reference has
# no such cmdlet; PowerShell refuses the call all the same).
TRIANGLE = Reference({"cmdlets": {"Set-Triangle": {
    "parameters": {"A": _param(["S1", "S2"]), "B": _param(["S2", "S3"]), "C": _param(["S1", "S3"])},
    "parameter_sets": ["S1", "S2", "S3"], "default_parameter_set": "S1"}},
    "default_set_names": {k: "{" + k + "}" for k in ("MainModeCryptoSet", "QuickModeCryptoSet", "Phase1AuthSet",
                                                      "Phase2AuthSet")}})


def test_no_parameter_set_takes_them_all() -> None:
    validate_call(C("Set-Triangle", A="x", B="y"), TRIANGLE)
    with pytest.raises(ValidationError) as info:
        validate_call(C("Set-Triangle", A="x", B="y", C="z"), TRIANGLE)
    assert str(info.value) == "Set-Triangle: no parameter set takes -A, -B, -C"


def test_a_plan_is_checked_against_the_reference_it_is_given() -> None:
    validate_plan([C("Set-Triangle", A="x")], TRIANGLE)
    with pytest.raises(ValidationError, match="unknown cmdlet 'Set-Triangle'"):
        validate_plan([C("Set-Triangle", A="x")])


@pytest.mark.parametrize("cmdlet", ["Open-NetGPO", "Save-NetGPO", "Test-NetConnection"])
def test_a_cmdlet_without_documented_output_or_getter_has_no_properties(cmdlet: str) -> None:
    """No output documented and no Get- twin to borrow it from: nothing can be read from its objects."""
    from ipsec_remote.model.reference import check_property_names, load_reference

    assert load_reference().output_properties(cmdlet) == set()
    with pytest.raises(ValidationError) as info:
        check_property_names(cmdlet, ["Anything"])
    assert str(info.value) == f"{cmdlet}: output properties are not documented; cannot check 'Anything'"
