"""The exact desired exemptions and crypto sets (mutation gaps in model/desired `_exemptions` and `_sets`):
the exemption rules' parameters and summaries, the controller's WinRM exemption (TCP to the WinRM ports),
and each quick-mode proposal's parameters — an AH proposal carries -AHHash, an ESP-only one does not."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind, desired_objects
from ipsec_remote.model.inventory import load_toml, parse_inventory

ROOT = Path(__file__).resolve().parents[2]
INV_DATA = load_toml(ROOT / "inventory.toml")
REF: dict[str, Any] = json.loads(resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text())
# Two domain controllers (listed out of address order) and a DNS server: the summary joins the sorted list.
EXEMPTIONS = [
    {"name": "dc02", "address": "10.10.1.6", "role": "domain_controller"},
    {"name": "dc01", "address": "10.10.1.5", "role": "domain_controller"},
    {"name": "dns01", "address": "10.10.1.7", "role": "dns"},
]
QM_PROPOSALS = [
    {"encapsulation": "AH", "ah_hash": "SHA256"},
    {"encapsulation": "AH,ESP", "ah_hash": "SHA1", "encryption": "AES128", "esp_hash": "SHA1"},
    {"encapsulation": "ESP", "encryption": "AES256", "esp_hash": "SHA256"},
]
INV = parse_inventory({**INV_DATA, "exemptions": EXEMPTIONS,
                       "crypto": {**INV_DATA["crypto"], "quick_mode": {"proposals": QM_PROPOSALS}}})


def _objects(kind: Kind) -> dict[str, DesiredObject]:
    objects = [o for o in desired_objects(INV)["sql01"].objects if o.kind is kind]
    assert objects
    return {o.name: o for o in objects}


def test_each_exemption_rule_is_exactly_its_role_s_addresses() -> None:
    exemptions = _objects(Kind.EXEMPTION)
    assert list(exemptions) == ["ipsec-remote-exempt-dc", "ipsec-remote-exempt-dns", "ipsec-remote-exempt-controller"]
    dc = exemptions["ipsec-remote-exempt-dc"]
    assert dc.summary == "exempt domain controllers 10.10.1.5, 10.10.1.6"
    assert dc.params == {
        "IPsecRuleName": "ipsec-remote-exempt-dc", "DisplayName": "ipsec-remote: exempt domain controllers",
        "Group": "ipsec-remote", "Enabled": "True", "Mode": "Transport", "InboundSecurity": "None",
        "OutboundSecurity": "None", "RemoteAddress": ["10.10.1.5", "10.10.1.6"], "Profile": INV.policy.profile,
    }
    dns = exemptions["ipsec-remote-exempt-dns"]
    assert dns.summary == "exempt DNS servers 10.10.1.7"
    assert dns.params["RemoteAddress"] == ["10.10.1.7"] and "Protocol" not in dns.params


def test_the_controller_exemption_is_tcp_to_the_winrm_ports() -> None:
    # WinRM listens on TCP 5985 (HTTP) / 5986 (HTTPS): without -Protocol TCP the exemption's ports would
    # not be the WinRM path the controller needs kept open.
    controller = _objects(Kind.EXEMPTION)["ipsec-remote-exempt-controller"]
    assert controller.summary == "exempt controller 10.10.1.100 on TCP 5985,5986"
    assert controller.params == {
        "IPsecRuleName": "ipsec-remote-exempt-controller",
        "DisplayName": "ipsec-remote: exempt the controller's WinRM path", "Group": "ipsec-remote",
        "Enabled": "True", "Mode": "Transport", "InboundSecurity": "None", "OutboundSecurity": "None",
        "RemoteAddress": ["10.10.1.100"], "Protocol": "TCP", "LocalPort": ["5985", "5986"],
        "Profile": INV.policy.profile,
    }


def test_ah_quick_mode_proposals_carry_their_ah_hash() -> None:
    qm = _objects(Kind.QM_CRYPTO_SET)["ipsec-remote-qm"]
    assert qm.params["Proposal"] == [
        CmdletCall("New-NetIPsecQuickModeCryptoProposal", {"Encapsulation": "AH", "AHHash": "SHA256"}),
        CmdletCall("New-NetIPsecQuickModeCryptoProposal",
                   {"Encapsulation": "AH,ESP", "Encryption": "AES128", "ESPHash": "SHA1", "AHHash": "SHA1"}),
        CmdletCall("New-NetIPsecQuickModeCryptoProposal",
                   {"Encapsulation": "ESP", "Encryption": "AES256", "ESPHash": "SHA256"}),
    ]
    assert qm.params["PerfectForwardSecrecyGroup"] == "None"


def test_the_proposal_parameters_are_the_cmdlet_s_documented_names() -> None:
    # netsecurity.json: New-NetIPsecQuickModeCryptoProposal takes -AHHash, -ESPHash, -Encryption, -Encapsulation.
    qm = _objects(Kind.QM_CRYPTO_SET)["ipsec-remote-qm"]
    proposals = qm.params["Proposal"]
    assert isinstance(proposals, list) and proposals
    documented = set(REF["cmdlets"]["New-NetIPsecQuickModeCryptoProposal"]["parameters"])
    assert "AHHash" in documented
    for call in proposals:
        assert isinstance(call, CmdletCall)
        assert set(call.params) <= documented, call.params
