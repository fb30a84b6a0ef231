"""The enum-name → SA code tables agree with the packaged cmdlet reference (netsecurity.json)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from ipsec_remote.lab.ike import CsRule, Flow, HostPolicy, NegotiationContext, QmCryptoSet, QmProposal, negotiate
from ipsec_remote.lab.ike.proposals import CIPHER_CODES, DH_CODES, HASH_CODES

REF: dict[str, Any] = json.loads(resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text())
CMDLETS = REF["cmdlets"]
MM_PROPS = CMDLETS["Get-NetIPsecMainModeSA"]["output_properties"]["properties"]
QM_PROPS = CMDLETS["Get-NetIPsecQuickModeSA"]["output_properties"]["properties"]


def label(enum_name: str) -> str:
    """Cmdlet enum name → the reference's code label (AES256 → AES-256, DES3 → 3DES, DH19 → DH Group 19)."""
    if enum_name == "DES3":
        return "3DES"
    if enum_name == "SameAsMainMode":
        return "Same as Main Mode"
    if m := re.fullmatch(r"DH(\d+)", enum_name):
        return f"DH Group {m.group(1)}"
    if m := re.fullmatch(r"(AESGCM|AESGMAC|AES|SHA)(\d+)", enum_name):
        prefix = {"AESGCM": "AES-GCM", "AESGMAC": "AES-GMAC"}.get(m.group(1), m.group(1))
        return f"{prefix}-{m.group(2)}"
    return enum_name


@pytest.mark.parametrize(
    ("table", "cmdlet", "param", "prop_codes"),
    [
        (CIPHER_CODES, "New-NetIPsecMainModeCryptoProposal", "Encryption", MM_PROPS["CipherAlgorithm"]["codes"]),
        (HASH_CODES, "New-NetIPsecMainModeCryptoProposal", "Hash", MM_PROPS["HashAlgorithm"]["codes"]),
        (DH_CODES, "New-NetIPsecMainModeCryptoProposal", "KeyExchange",
         {**MM_PROPS["GroupId"]["codes"], **QM_PROPS["PfsGroupId"]["codes"]}),
        (CIPHER_CODES, "New-NetIPsecQuickModeCryptoProposal", "Encryption", QM_PROPS["FirstCipherAlgorithm"]["codes"]),
        (HASH_CODES, "New-NetIPsecQuickModeCryptoProposal", "ESPHash", MM_PROPS["HashAlgorithm"]["codes"]),
    ],
    ids=["mm-cipher", "mm-hash", "dh", "qm-cipher", "qm-hash"],
)
def test_code_table_matches_reference(table: dict[str, int], cmdlet: str, param: str,
                                      prop_codes: dict[str, int]) -> None:
    enum_values = CMDLETS[cmdlet]["parameters"][param]["values"]
    assert set(enum_values) <= set(table), "every cmdlet enum value has a code"
    for name in enum_values:
        assert table[name] == prop_codes[label(name)], name


def test_qm_integrity_codes_agree_where_documented() -> None:
    qm = QM_PROPS["FirstIntegrityAlgorithm"]["codes"]
    for name, code in HASH_CODES.items():
        if label(name) in qm:
            assert qm[label(name)] == code
    assert "SHA-384" not in qm  # the lab's QM SHA384 = 65002 is an inference from the MM table


def test_key_module_codes_are_marked_unverified_in_reference() -> None:
    assert "UNVERIFIED" in MM_PROPS["KeyModule"]["meaning"]


def test_sa_records_use_documented_property_names_only() -> None:
    rule = CsRule("r", remote_address=("10.0.0.0/24",),
                  qm_crypto=QmCryptoSet((QmProposal("AH,ESP", "AES256", "SHA256", "SHA256"),), "DH14"))
    dc = HostPolicy("dc", ("10.0.0.5",), is_domain_controller=True)
    a, b = HostPolicy("a", ("10.0.0.10",), cs_rules=(rule,)), HostPolicy("b", ("10.0.0.20",), cs_rules=(rule,))
    o = negotiate(a, b, Flow("a", "10.0.0.10", "10.0.0.20"), NegotiationContext(dcs=(dc,)))
    assert o.secured
    for record in (o.mm_sa_initiator, o.mm_sa_responder):
        assert record is not None and set(record) <= set(MM_PROPS)
        assert not set(record) & set(CMDLETS["Get-NetIPsecMainModeSA"]["output_properties"].get("not_properties", []))
    for record in (o.qm_sa_initiator, o.qm_sa_responder):
        assert record is not None and set(record) - {"Name"} <= set(QM_PROPS)  # Name: the cmdlets' -Name key
        assert record["PfsGroupId"] == QM_PROPS["PfsGroupId"]["codes"]["DH Group 14"]
