"""Forms Windows may report a setting in compare equal to what the inventory asked for (plans converge)."""

from __future__ import annotations

import pytest

from ipsec_remote.model.calls import CmdletCall, SecretRef
from ipsec_remote.model.desired import DesiredObject, Kind
from ipsec_remote.plan.planner import ObservedObject, canonical_address, plan_host
from ipsec_remote.remote import cimcodes as C


@pytest.mark.parametrize(("given", "windows"), [
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("10.10.1.5/32", "10.10.1.5"),
    ("10.10.0.0/16", "10.10.0.0/255.255.0.0"),
    ("10.10.1.1-10.10.1.9", "10.10.1.1-10.10.1.9"),
    ("LocalSubnet", "localsubnet"),
])
def test_address_forms(given: str, windows: str) -> None:
    assert canonical_address(given) == canonical_address(windows)


def test_undocumented_numbers_read_the_same_whatever_windows_uses() -> None:
    # KeyModule "Default" has no documented number: anything but a single documented module is Default.
    assert [C.key_module(v) for v in (0, 3, 7, None)] == ["Default"] * 4
    assert [C.key_module(v) for v in (1, 2, 4)] == ["IKEv1", "AuthIP", "IKEv2"]
    # Profiles: 0 (Any / the MM rule page's "None") and 0x7 (the MM rule page's "All") are every profile.
    assert [C.profiles(v) for v in (0, 7, 1, 6)] == ["Any", "Any", "Domain", "Private,Public"]
    # AuthenticationMethod 65005 is listed twice on the pages; the proposal class decides.
    assert C.auth_method(65005, "MSFT_NetIKECertAuthProposal") == "MachineCert"
    assert C.auth_method(65005, "MSFT_NetIKEBasicAuthProposal") == "UserNtlm"
    assert C.auth_method(65006, "MSFT_NetIKECertAuthProposal") == "MachineCert"


def _rule(**params: object) -> dict[str, object]:
    return {"IPsecRuleName": "r", "DisplayName": "r", "Group": "g", "Enabled": "True", "Mode": "Transport",
            "InboundSecurity": "Request", "OutboundSecurity": "Request", **params}


@pytest.mark.parametrize(("want", "have"), [
    (_rule(RemoteAddress=["2001:DB8::0001"], Protocol="TCP", Profile="Any"),
     _rule(RemoteAddress=["2001:db8::1"], Protocol="6", Profile="Domain, Private, Public")),
    (_rule(RemoteAddress=["10.0.0.5"]), _rule(RemoteAddress=["10.0.0.5/255.255.255.255"])),
])
def test_rule_reported_in_another_form_plans_nothing(want: dict[str, object], have: dict[str, object]) -> None:
    desired = [DesiredObject(Kind.RULE, "r", want, "")]  # type: ignore[arg-type]
    observed = [ObservedObject(Kind.RULE, "r", have)]  # type: ignore[arg-type]
    assert plan_host("h", "10.0.0.1", desired, observed, "PersistentStore").changes == ()


def test_auth_proposals_compare_with_windows_defaults_and_keys_by_presence() -> None:
    cert = CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Cert": True, "Authority": "CN=CA",
                                                   "AuthorityType": "Root"})
    psk = CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "PreSharedKey": SecretRef("PSK")})
    desired = [DesiredObject(Kind.P1_AUTH_SET, "p1", {"Name": "p1", "Proposal": [cert, psk]}, "")]
    host_cert = CmdletCall("New-NetIPsecAuthProposal", dict(cert.params, Signing="RSA"))  # the default, stored
    host_psk = CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "PreSharedKey": SecretRef("")})
    observed = [ObservedObject(Kind.P1_AUTH_SET, "p1", {"Name": "p1", "Proposal": [host_cert, host_psk]})]
    assert plan_host("h", "10.0.0.1", desired, observed, "PersistentStore").changes == ()
    ecdsa = CmdletCall("New-NetIPsecAuthProposal", dict(cert.params, Signing="ECDSA256"))
    changed = [ObservedObject(Kind.P1_AUTH_SET, "p1", {"Name": "p1", "Proposal": [ecdsa, host_psk]})]
    assert plan_host("h", "10.0.0.1", desired, changed, "PersistentStore").changes != ()
