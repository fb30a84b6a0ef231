"""Pure parsers and checks: what the host scripts report → observed objects, SA proof, diagnosis."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind, desired_objects
from ipsec_remote.model.inventory import load_toml, parse_inventory
from ipsec_remote.ops.verify import EndView, check_pair, diagnose, end_view, expected
from ipsec_remote.plan.planner import plan_host
from ipsec_remote.remote import cimcodes as C
from ipsec_remote.remote.hoststate import HostFacts, parse_state

ROOT = Path(__file__).resolve().parents[2]
INV_DATA = load_toml(ROOT / "inventory.toml")
INV = parse_inventory(INV_DATA)


def _codes(table: dict[int, str]) -> dict[str, int]:
    return {name.lower(): number for number, name in table.items()}


def _proposal_record(c: CmdletCall) -> dict[str, Any]:
    """A proposal as read_state.ps1 reports it: its CIM class and properties (codes), defaults filled."""
    p = {k: v for k, v in c.params.items()}
    if c.cmdlet == "New-NetIPsecMainModeCryptoProposal":
        return {"Class": "MSFT_NetIKEMMCryptoProposal",
                "CipherAlgorithm": _codes(C.CIPHER)[str(p["Encryption"]).lower()],
                "HashAlgorithm": _codes(C.HASH)[str(p["Hash"]).lower()],
                "GroupId": _codes(C.DH)[str(p["KeyExchange"]).lower()]}
    if c.cmdlet == "New-NetIPsecQuickModeCryptoProposal":
        return {"Class": "MSFT_NetIKEQMCryptoProposal",
                "Encapsulation": _codes(C.ENCAPSULATION)[str(p["Encapsulation"]).lower()],
                "CipherAlgorithm": _codes(C.CIPHER)[str(p.get("Encryption", "None")).lower()],
                "HashAlgorithmESP": _codes(C.HASH)[str(p.get("ESPHash", "None")).lower()],
                "HashAlgorithmAH": _codes(C.HASH)[str(p.get("AHHash", "None")).lower()]}
    if p.get("Kerberos"):
        return {"Class": "MSFT_NetIKEKerbAuthProposal", "AuthenticationMethod": 65002}
    if p.get("Cert"):
        # Windows stores -Signing's documented default (RSA) when none was given.
        return {"Class": "MSFT_NetIKECertAuthProposal", "AuthenticationMethod": 65006, "TrustedCA": p["Authority"],
                "TrustedCAType": 1 if p.get("AuthorityType", "Root") == "Root" else 2,
                "SigningAlgorithm": {"RSA": 1, "ECDSA256": 2, "ECDSA384": 3}[str(p.get("Signing", "RSA"))]}
    return {"Class": "MSFT_NetIKEPSKAuthProposal", "AuthenticationMethod": 2, "HasPreSharedKey": True}


def windows_report(objs: list[DesiredObject]) -> dict[str, Any]:
    """What read_state.ps1 prints for these objects on Windows: CIM properties with their codes, filters as
    lists, the defaults Windows fills in for what we did not set."""
    rules, mm_rules, sets = [], [], []
    for o in objs:
        p = o.params
        if o.kind in (Kind.EXEMPTION, Kind.RULE):
            key_module = {"IKEv1": 1, "AuthIP": 2, "IKEv2": 4}.get(str(p.get("KeyModule", "Default")), 0)
            rules.append({"InstanceID": o.name, "DisplayName": p["DisplayName"], "RuleGroup": p["Group"],
                          "Enabled": 1, "Mode": 1,
                          "InboundSecurity": _codes(C.SECURITY)[str(p["InboundSecurity"]).lower()],
                          "OutboundSecurity": _codes(C.SECURITY)[str(p["OutboundSecurity"]).lower()],
                          "KeyModule": key_module,
                          "QuickModeCryptoSet": p.get("QuickModeCryptoSet", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE2}"),
                          "Phase1AuthSet": p.get("Phase1AuthSet", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE3}"),
                          "Phase2AuthSet": "", "Profiles": PROFILES[str(p.get("Profile", "Any"))],
                          "LocalAddress": ["Any"], "RemoteAddress": p.get("RemoteAddress", ["Any"]),
                          "Protocol": p.get("Protocol", "Any"), "LocalPort": p.get("LocalPort", ["Any"]),
                          "RemotePort": p.get("RemotePort", ["Any"])})
        elif o.kind is Kind.MM_RULE:
            mm_rules.append({"InstanceID": o.name, "DisplayName": p["DisplayName"], "RuleGroup": p["Group"],
                             "Enabled": 1, "MainModeCryptoSet": p["MainModeCryptoSet"],
                             "Phase1AuthSet": p["Phase1AuthSet"], "Profiles": PROFILES[str(p["Profile"])],
                             "LocalAddress": "Any", "RemoteAddress": p["RemoteAddress"]})
        else:
            kind = {Kind.MM_CRYPTO_SET: "mm_crypto_set", Kind.QM_CRYPTO_SET: "qm_crypto_set",
                    Kind.P1_AUTH_SET: "p1_auth_set"}[o.kind]
            proposals = [_proposal_record(c) for c in p["Proposal"]]  # type: ignore[union-attr]
            pfs = p.get("PerfectForwardSecrecyGroup")
            sets.append({"Kind": kind, "InstanceID": o.name, "DisplayName": p["DisplayName"], "RuleGroup": p["Group"],
                         "MaxLifetimeMinutes": p.get("MaxMinutes"),
                         "PfsGroupID": None if pfs is None else _codes(C.PFS)[str(pfs).lower()],
                         "Proposals": proposals})
    return {"Rules": rules, "MainModeRules": mm_rules, "Sets": sets, "UnownedActiveRules": [],
            "Services": [{"Name": "IKEEXT", "Status": "Running", "StartType": "Manual"}],
            "Profiles": [{"Name": "Domain", "Enabled": 1, "AllowLocalIPsecRules": 2}], "Exemptions": 9,
            "MaxSAIdleTimeSeconds": 300, "UtcNow": "2026-11-27T06:00:00.0000000Z"}


PROFILES = {"Any": 0, "Domain": 1, "Private": 2, "Public": 4}


def test_windows_report_of_converged_host_plans_nothing() -> None:
    want = desired_objects(INV)["sql01"].objects
    state = parse_state(windows_report(want), "ipsec-remote")
    assert len(state.observed) == len(want)
    assert plan_host("sql01", "10.10.1.20", want, state.observed, "PersistentStore").changes == ()


def test_objects_of_other_groups_are_never_observed() -> None:
    want = desired_objects(INV)["sql01"].objects
    report = windows_report(want)
    report["Rules"].append(dict(report["Rules"][0], InstanceID="legacy", RuleGroup="Contoso Isolation"))
    state = parse_state(report, "ipsec-remote")
    assert "legacy" not in {o.name for o in state.observed}


def test_facts_are_parsed() -> None:
    facts = parse_state(windows_report([]), "ipsec-remote").facts
    assert facts.services["IKEEXT"] == ("Running", "Manual")
    assert facts.profiles["Domain"] == (True, "NotConfigured")
    assert facts.exemptions == "NeighborDiscovery, Dhcp" and facts.max_sa_idle_s == 300
    assert facts.utc_now == datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


GOOD_MM = {"RemoteEndpoint": "10.10.1.30", "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19}
# An ESP SA with cipher and integrity: IPSEC_TRANSFORM_ESP_AUTH_AND_CIPHER (4), no second transform.
GOOD_QM = {"RemoteEndpoint": "10.10.1.30", "FirstTransformType": 4, "FirstCipherAlgorithm": 65003,
           "FirstIntegrityAlgorithm": 65001, "SecondTransformType": 0}

PAIR_CASES = [
    ("both ends secured", GOOD_MM, GOOD_QM, True, []),
    ("no MM SA", None, GOOD_QM, False, ["no main-mode SA"]),
    ("no QM SA", GOOD_MM, None, False, ["no quick-mode SA"]),
    ("weaker MM", dict(GOOD_MM, CipherAlgorithm=65001, HashAlgorithm=3, GroupId=2), GOOD_QM, False,
     ["main-mode SA uses AES128/SHA1/DH2, not an inventory proposal"]),
    ("weaker QM", GOOD_MM, dict(GOOD_QM, FirstCipherAlgorithm=6), False,
     ["quick-mode SA uses ESP DES3/SHA256, not an inventory proposal"]),
    ("AH transform where ESP is wanted", GOOD_MM, dict(GOOD_QM, FirstTransformType=1), False,
     ["quick-mode SA uses AH SHA256, not an inventory proposal"]),
]


@pytest.mark.parametrize(("label", "mm", "qm", "verified", "fragments"), PAIR_CASES, ids=[c[0] for c in PAIR_CASES])
def test_check_pair(label: str, mm: dict[str, Any] | None, qm: dict[str, Any] | None, verified: bool,
                    fragments: list[str]) -> None:
    good_b = EndView({**GOOD_MM, "RemoteEndpoint": "10.10.1.20"}, {**GOOD_QM, "RemoteEndpoint": "10.10.1.20"})
    result = check_pair("app01", "sql01", {"app01": EndView(mm, qm), "sql01": good_b}, expected(INV))
    assert result.verified is verified
    for fragment in fragments:
        assert any(fragment in p and p.startswith("app01: ") for p in result.problems), result.problems
    if verified:
        assert result.sa_summary() == {
            "mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19", "key_module": None},
            "qm": {"cipher": "AES256", "integrity": "SHA256", "transforms": ["ESP AES256/SHA256"], "pfs_group": None}}


AH_ESP = parse_inventory({**INV_DATA, "crypto": {"quick_mode": {"proposals": [
    {"encapsulation": "AH,ESP", "ah_hash": "SHA256", "encryption": "AES256", "esp_hash": "SHA256"}]}}})
# An AH+ESP bundle: AH first (integrity only), ESP second (WFP IPSEC_TRANSFORM_TYPE 1 and 4).
AH_ESP_QM = {"RemoteEndpoint": "10.10.1.30", "FirstTransformType": 1, "FirstCipherAlgorithm": 0,
             "FirstIntegrityAlgorithm": 65001, "SecondTransformType": 4, "SecondCipherAlgorithm": 65003,
             "SecondIntegrityAlgorithm": 65001}


@pytest.mark.parametrize(("qm", "verified"), [
    (AH_ESP_QM, True),
    # The same transforms listed ESP first: the order of an SA's transforms is not documented.
    (dict(AH_ESP_QM, FirstTransformType=4, FirstCipherAlgorithm=65003, SecondTransformType=1,
          SecondCipherAlgorithm=0), True),
    (dict(AH_ESP_QM, SecondTransformType=0), False),  # AH alone
    (GOOD_QM, False),  # ESP alone
])
def test_ah_esp_proposals_are_judged_by_both_transforms(qm: dict[str, Any], verified: bool) -> None:
    end = EndView(GOOD_MM, qm)
    assert check_pair("app01", "sql01", {"app01": end, "sql01": end}, expected(AH_ESP)).verified is verified


def test_end_view_picks_the_peer_by_address() -> None:
    report = {"MainModeSAs": [dict(GOOD_MM, RemoteEndpoint="10.9.9.9"), GOOD_MM], "QuickModeSAs": [],
              "Probes": [{"Target": "10.10.1.30", "Outcome": "refused", "Connected": False}]}
    view = end_view(report, "10.10.1.30")
    assert view.mm == GOOD_MM and view.qm is None and view.probe_ok is False and view.probe == "refused"
    six = {"MainModeSAs": [dict(GOOD_MM, RemoteEndpoint="2001:DB8:0:0::1E")], "QuickModeSAs": []}
    assert end_view(six, "2001:db8::1e").mm is not None  # the same peer written differently


def test_sa_codes_that_arrive_as_strings_are_read_as_numbers() -> None:
    end = EndView({k: str(v) for k, v in GOOD_MM.items()}, {k: str(v) for k, v in GOOD_QM.items()})
    assert check_pair("app01", "sql01", {"app01": end, "sql01": end}, expected(INV)).verified


def at(minute: int) -> datetime:
    return datetime(2026, 11, 27, 6, minute, tzinfo=timezone.utc)


DIAGNOSES = [
    (HostFacts(services={"IKEEXT": ("Stopped", "Disabled")}), [{"Id": 5453}], None,
     "app01: IKEEXT disabled (event 5453)"),
    (HostFacts(profiles={"Domain": (True, "False")}), [], None,
     "app01: GPO disables local IPsec rules — rules created in PersistentStore are not enforced"),
    (HostFacts(utc_now=at(10)), [], HostFacts(utc_now=at(0)), "Kerberos: clock skew 600 s"),
    (HostFacts(), [{"Id": 4654, "Message": "No policy configured"}], None,
     "app01: quick mode negotiation failed (event 4654): No policy configured"),
    (HostFacts(services={"BFE": ("Stopped", "Automatic")}), [], None, "app01: BFE is Stopped"),
]


@pytest.mark.parametrize(("facts", "events", "peer", "expected_line"), DIAGNOSES)
def test_diagnose(facts: HostFacts, events: list[dict[str, Any]], peer: HostFacts | None, expected_line: str) -> None:
    lines = diagnose("app01", facts, events, "PersistentStore", peer)
    assert any(line.startswith(expected_line) for line in lines), lines


def test_healthy_host_has_no_diagnosis() -> None:
    facts = HostFacts(services={"IKEEXT": ("Running", "Manual"), "BFE": ("Running", "Automatic")},
                      profiles={"Domain": (True, "NotConfigured")}, utc_now=at(0))
    assert diagnose("app01", facts, [], "PersistentStore", HostFacts(utc_now=at(1))) == []


SA_READS = {"MainModeSAs": ("Get-NetIPsecMainModeSA", "MSFT_NetMainModeSA"),
            "QuickModeSAs": ("Get-NetIPsecQuickModeSA", "MSFT_NetQuickModeSA")}


def sa_reads(script: str, cmdlet: str) -> set[str]:
    """The CIM property names a script reads from each object of ``cmdlet`` (its top-level ``foreach`` block:
    the report's read, not a look inside the probe loop)."""
    import re

    block = re.search(r"^foreach \(\$(\w+) in @\(" + cmdlet + r" [^)]*\)\) \{(.*?)\n\}", script, re.S | re.M)
    assert block, f"no foreach over {cmdlet}"
    item, body = block.group(1), block.group(2)
    # Through Get-Cim, or through a variable holding the object's CimInstanceProperties.
    names = set(re.findall(r"Get-Cim \$" + item + r" '(\w+)'", body))
    for props in re.findall(r"\$(\w+) = \$" + item + r"\.PSBase\.CimInstanceProperties\b", body):
        names |= set(re.findall(r"\$" + props + r"\['(\w+)'\]", body))
    return names


def _as_written(source: str) -> str:
    """The module's code as written: under mutmut (make mutation) the imported module is an instrumented copy
    holding every mutant of each function beside its original (``…__mutmut_orig``); keep only the originals,
    so that the mutants' altered key names are not read as keys the checks use."""
    if "__mutmut_orig" not in source:
        return source
    import ast

    def keep(node: ast.stmt) -> bool:
        name = getattr(node, "name", "")
        return "__mutmut_" not in name or name.endswith("__mutmut_orig")

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef)):
            node.body = [n for n in node.body if keep(n)]
    return ast.unparse(tree)


def test_scripts_and_checks_use_documented_sa_property_names() -> None:
    """The names are read from verify.ps1 itself and checked against the class pages (the project's copy
    of shared/reference/wfascim-classes.json): documented, not "ignored". The controller's checks read
    only what the script sends."""
    import inspect
    import re
    from importlib import resources

    from ipsec_remote.ops import verify
    from ipsec_remote.remote.cimcodes import cim_classes

    script = resources.files("ipsec_remote").joinpath("remote/powershell/verify.ps1").read_text("utf-8")
    checks = _as_written(inspect.getsource(verify))
    for cmdlet, cls in SA_READS.values():
        read = sa_reads(script, cmdlet)
        assert {"LocalEndpoint", "RemoteEndpoint"} < read, (cmdlet, read)
        props = cim_classes()[cls]["properties"]
        undocumented = {n for n in read if props.get(n, {}).get("doc_status") != "documented"}
        assert not undocumented, f"verify.ps1 reads {sorted(undocumented)} of {cls}: not documented there"
    # Every SA key the controller's checks look up (literal or First/Second-prefixed) is one the script sends.
    used = set(re.findall(r"\b(?:mm|qm|s|view\.mm)\.get\(f?[\"']((?:\{prefix\})?\w+)[\"']\)", checks))
    used = {u.replace("{prefix}", p) for u in used for p in ("First", "Second")}
    assert {"CipherAlgorithm", "GroupId", "FirstCipherAlgorithm", "MmSaId"} <= used, used
    sent = set().union(*(sa_reads(script, c) for c, _ in SA_READS.values()))
    assert used <= sent, sorted(used - sent)
