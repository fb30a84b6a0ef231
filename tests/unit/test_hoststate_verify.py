"""Pure parsers and checks: what the host scripts report → observed objects, SA proof, diagnosis."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.model.calls import CmdletCall
from ipsec_remote.model.desired import DesiredObject, Kind, desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.verify import EndView, check_pair, diagnose, end_view, expected
from ipsec_remote.plan.planner import plan_host
from ipsec_remote.remote.hoststate import HostFacts, parse_state

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory.toml")


def windows_report(objs: list[DesiredObject]) -> dict[str, Any]:
    """What read_state.ps1 prints for these objects on Windows: enums as strings, filters as lists, the
    defaults Windows fills in for what we did not set."""
    rules, mm_rules, sets = [], [], []
    for o in objs:
        p = o.params
        if o.kind in (Kind.EXEMPTION, Kind.RULE):
            rules.append({"Name": o.name, "DisplayName": p["DisplayName"], "Group": p["Group"], "Enabled": "True",
                          "Mode": p.get("Mode", "Transport"), "InboundSecurity": p["InboundSecurity"],
                          "OutboundSecurity": p["OutboundSecurity"], "KeyModule": p.get("KeyModule", "Default"),
                          "QuickModeCryptoSet": p.get("QuickModeCryptoSet", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE2}"),
                          "Phase1AuthSet": p.get("Phase1AuthSet", "{E5A5D32A-4BCE-4e4d-B07F-4AB1BA7E5FE3}"),
                          "Phase2AuthSet": "", "Profile": p.get("Profile", "Any"), "LocalAddress": ["Any"],
                          "RemoteAddress": p.get("RemoteAddress", ["Any"]), "Protocol": p.get("Protocol", "Any"),
                          "LocalPort": p.get("LocalPort", ["Any"]), "RemotePort": p.get("RemotePort", ["Any"])})
        elif o.kind is Kind.MM_RULE:
            mm_rules.append({"Name": o.name, "DisplayName": p["DisplayName"], "Group": p["Group"], "Enabled": "True",
                             "MainModeCryptoSet": p["MainModeCryptoSet"], "Phase1AuthSet": p["Phase1AuthSet"],
                             "Profile": p["Profile"], "LocalAddress": "Any", "RemoteAddress": p["RemoteAddress"]})
        else:
            kind = {Kind.MM_CRYPTO_SET: "mm_crypto_set", Kind.QM_CRYPTO_SET: "qm_crypto_set",
                    Kind.P1_AUTH_SET: "p1_auth_set"}[o.kind]
            proposals = []
            for c in p["Proposal"]:  # type: ignore[union-attr]
                assert isinstance(c, CmdletCall)
                proposals.append({k: ("True" if v is True else v) for k, v in c.params.items()} | {
                    "Machine": c.params.get("Machine", False), "Kerberos": c.params.get("Kerberos", False)})
            sets.append({"Kind": kind, "Name": o.name, "DisplayName": p["DisplayName"], "Group": p["Group"],
                         "MaxMinutes": p.get("MaxMinutes"), "PerfectForwardSecrecyGroup":
                         p.get("PerfectForwardSecrecyGroup", ""), "Proposal": proposals})
    return {"Rules": rules, "MainModeRules": mm_rules, "Sets": sets, "UnownedActiveRules": [],
            "Services": [{"Name": "IKEEXT", "Status": "Running", "StartType": "Manual"}],
            "Profiles": [{"Name": "Domain", "Enabled": "True", "AllowLocalIPsecRules": "NotConfigured"}],
            "UtcNow": "2026-11-27T06:00:00.0000000Z"}


def test_windows_report_of_converged_host_plans_nothing() -> None:
    want = desired_objects(INV)["sql01"].objects
    state = parse_state(windows_report(want), "ipsec-remote")
    assert len(state.observed) == len(want)
    assert plan_host("sql01", "10.10.1.20", want, state.observed, "PersistentStore").changes == ()


def test_objects_of_other_groups_are_never_observed() -> None:
    want = desired_objects(INV)["sql01"].objects
    report = windows_report(want)
    report["Rules"].append(dict(report["Rules"][0], Name="legacy", Group="Contoso Isolation"))
    state = parse_state(report, "ipsec-remote")
    assert "legacy" not in {o.name for o in state.observed}


def test_facts_are_parsed() -> None:
    facts = parse_state(windows_report([]), "ipsec-remote").facts
    assert facts.services["IKEEXT"] == ("Running", "Manual")
    assert facts.profiles["Domain"] == (True, "NotConfigured")
    assert facts.utc_now == datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


GOOD_MM = {"RemoteEndpoint": "10.10.1.30", "CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19}
GOOD_QM = {"RemoteEndpoint": "10.10.1.30", "FirstCipherAlgorithm": 65003, "FirstIntegrityAlgorithm": 65001}

PAIR_CASES = [
    ("both ends secured", GOOD_MM, GOOD_QM, True, []),
    ("no MM SA", None, GOOD_QM, False, ["no main-mode SA"]),
    ("no QM SA", GOOD_MM, None, False, ["no quick-mode SA"]),
    ("weaker MM", dict(GOOD_MM, CipherAlgorithm=65001, HashAlgorithm=3, GroupId=2), GOOD_QM, False,
     ["main-mode SA uses AES128/SHA1/DH2, not an inventory proposal"]),
    ("weaker QM", GOOD_MM, dict(GOOD_QM, FirstCipherAlgorithm=6), False,
     ["quick-mode SA uses DES3/SHA256, not an inventory proposal"]),
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
        assert result.sa_summary() == {"mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19"},
                                        "qm": {"cipher": "AES256", "integrity": "SHA256"}}


def test_end_view_picks_the_peer() -> None:
    report = {"MainModeSAs": [dict(GOOD_MM, RemoteEndpoint="10.9.9.9"), GOOD_MM], "QuickModeSAs": [],
              "Probes": [{"Target": "10.10.1.30", "TcpTestSucceeded": True}]}
    view = end_view(report, "10.10.1.30")
    assert view.mm == GOOD_MM and view.qm is None and view.probe_ok is True


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


def test_scripts_and_checks_use_documented_sa_property_names() -> None:
    from ipsec_remote.model.reference import check_property_names

    check_property_names("Get-NetIPsecMainModeSA", ["LocalEndpoint", "RemoteEndpoint", "CipherAlgorithm",
                                                    "HashAlgorithm", "GroupId"])
    check_property_names("Get-NetIPsecQuickModeSA", ["LocalEndpoint", "RemoteEndpoint", "FirstCipherAlgorithm",
                                                     "FirstIntegrityAlgorithm", "PfsGroupId"])
