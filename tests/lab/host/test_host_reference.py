"""ParamSpecs come from the cmdlet reference, so binding fails where Windows' binder fails."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.host.reference import param_specs
from ipsec_remote.lab.values import PowerShellError


@pytest.mark.parametrize(
    ("cmdlet", "param", "mandatory"),
    [
        ("New-NetIPsecRule", "DisplayName", True),  # mandatory in (All)
        ("New-NetIPsecQuickModeCryptoSet", "Proposal", True),
        ("Get-NetIPsecRule", "IPsecRuleName", False),  # mandatory only in ByIPsecRuleName
        ("Set-NetIPsecRule", "IPsecRuleName", False),
        ("New-NetIPsecAuthProposal", "Machine", False),  # mandatory in 4 of 8 sets
        ("Open-NetGPO", "PolicyStore", True),
    ],
)
def test_mandatory_only_when_required_in_every_set(cmdlet: str, param: str, mandatory: bool) -> None:
    assert param_specs(cmdlet)[param].mandatory is mandatory


def test_specs_carry_aliases_enums_and_flags() -> None:
    rule = param_specs("New-NetIPsecRule")
    assert rule["IPsecRuleName"].aliases == ("ID", "Name")
    assert rule["InboundSecurity"].values == ("None", "Request", "Require")
    assert rule["InboundSecurity"].aliases == ("SecIn",)
    assert rule["Profile"].flags
    assert "MainModeCryptoSet" not in rule  # blog error #2: not a parameter in any docset
    assert param_specs("Get-NetIPsecRule")["IPsecRuleName"].position == 0
    qm = param_specs("New-NetIPsecQuickModeCryptoProposal")
    assert qm["Encapsulation"].values == ("None", "AH", "ESP")


@pytest.mark.parametrize(
    ("cmdlet", "params", "fragment", "error_id"),
    [
        # Blog error #1: -Encapsulation takes the IPsec protocol, Transport is a -Mode value.
        ("New-NetIPsecQuickModeCryptoProposal", {"Encryption": "AES256", "ESPHash": "SHA256",
                                                 "Encapsulation": "Transport"},
         "Unable to match the identifier name Transport", "CannotConvertArgumentNoMessage"),
        # Blog error #2: -MainModeCryptoSet does not exist on New-NetIPsecRule.
        ("New-NetIPsecRule", {"DisplayName": "x", "MainModeCryptoSet": "{MM-CryptoSet-001}"},
         "A parameter cannot be found that matches parameter name 'MainModeCryptoSet'.", "NamedParameterNotFound"),
        # Blog error #3: the enum is Root/Intermediate, not RootCA.
        ("New-NetIPsecAuthProposal", {"Machine": True, "Cert": True, "Authority": "CN=Lab Root CA",
                                      "AuthorityType": "RootCA"},
         "Unable to match the identifier name RootCA", "CannotConvertArgumentNoMessage"),
        # Blog error #8: the exemption rule without -DisplayName.
        ("New-NetIPsecRule", {"InboundSecurity": "None", "OutboundSecurity": "None", "RemoteAddress": ["10.10.1.5"]},
         "missing mandatory parameters: DisplayName.", "MissingMandatoryParameter"),
        ("Set-NetFirewallSetting", {"CertificateRevocationListCheck": "Yes"},
         "matches parameter name 'CertificateRevocationListCheck'", "NamedParameterNotFound"),
    ],
)
def test_blog_errors_fail_during_binding(lab, cmdlet, params, fragment, error_id) -> None:
    with pytest.raises(PowerShellError) as info:
        lab.call(cmdlet, **params)
    assert fragment in info.value.record.message
    assert info.value.record.error_id == f"{error_id},{cmdlet}"
    assert info.value.terminating
    assert lab.host.calls == []  # a call that fails binding never executes
