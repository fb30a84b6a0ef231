"""ops/verify.py's judgement and diagnosis, case by case: the lines `apply`, `status` and `doctor` print when a
pair does not verify (services, the GPO merge setting, clock skew, IPsec audit events), which end is named
in a problem, how SA transforms and key modules are read, and how endpoints are matched."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ipsec_remote.ops.verify import EndView, Expected, PairResult, check_pair, diagnose, end_view, sa_transforms
from ipsec_remote.remote.hoststate import HostFacts

T0 = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
RUNNING = {"IKEEXT": ("Running", "Manual"), "BFE": ("Running", "Automatic"), "MpsSvc": ("Running", "Automatic")}


def _facts(services: dict[str, tuple[str, str]] | None = None, allow: str = "",
           now: datetime | None = None) -> HostFacts:
    return HostFacts(services=services if services is not None else RUNNING,
                     profiles={"Domain": (True, allow), "Private": (True, ""), "Public": (True, "")}, utc_now=now)


DIAGNOSES = [  # (facts, events, store, peer facts) → the lines, in order
    (_facts(), [], "PersistentStore", None, []),
    (None, [], "PersistentStore", None, []),
    (_facts({**RUNNING, "IKEEXT": ("Stopped", "Disabled")}), [], "PersistentStore", None,
     ["h1: IKEEXT disabled"]),
    # The service line already says it: event 5453 (IKEEXT not running) is not repeated.
    (_facts({**RUNNING, "IKEEXT": ("Stopped", "Disabled")}), [{"Id": 5453, "Message": "IKEEXT failed"}],
     "PersistentStore", None, ["h1: IKEEXT disabled (event 5453)"]),
    (_facts({**RUNNING, "IKEEXT": ("Stopped", "Disabled")}), [{"Id": 4653, "Message": "No policy"}],
     "PersistentStore", None, ["h1: IKEEXT disabled", "h1: main mode negotiation failed (event 4653): No policy"]),
    (_facts({**RUNNING, "BFE": ("Stopped", "Automatic")}), [], "PersistentStore", None, ["h1: BFE is Stopped"]),
    (_facts({**RUNNING, "MpsSvc": ("StopPending", "Automatic")}), [], "PersistentStore", None,
     ["h1: MpsSvc is StopPending"]),
    (_facts({"IKEEXT": ("Running", "Manual")}), [], "PersistentStore", None, []),  # not reported: not judged
    (_facts(allow="False"), [], "PersistentStore", None,
     ["h1: GPO disables local IPsec rules — rules created in PersistentStore are not enforced "
      "(AllowLocalIPsecRules = False)"]),
    (_facts(allow="False"), [], "ActiveStore", None, []),  # only the persistent store's rules are merged away
    (_facts(allow="NotConfigured"), [], "PersistentStore", None, []),
    (_facts(now=T0), [], "PersistentStore", _facts(now=T0 + timedelta(seconds=300)), []),
    (_facts(now=T0), [], "PersistentStore", _facts(now=T0 + timedelta(seconds=301)),
     ["Kerberos: clock skew 301 s between the two hosts (max 300 s)"]),
    (_facts(now=T0 + timedelta(seconds=900)), [], "PersistentStore", _facts(now=T0),
     ["Kerberos: clock skew 900 s between the two hosts (max 300 s)"]),
    (_facts(now=T0), [], "PersistentStore", None, []),
    (_facts(now=T0), [], "PersistentStore", _facts(), []),
    (_facts(), [{"Id": 5453, "Message": "The IKEEXT service is not running.\nMore text"}], "PersistentStore", None,
     ["h1: IKEEXT is not running (event 5453): The IKEEXT service is not running."]),
    (None, [{"Id": 4652}, {"Id": 4654, "Message": ""}, {"Id": 4963, "Message": " \n "}],
     "PersistentStore", None,
     ["h1: main mode negotiation failed (event 4652)", "h1: quick mode negotiation failed (event 4654)",
      "h1: clear-text packets that should have been secured were dropped (event 4963)"]),
    # Each meaning once; events with no id or an id we do not interpret are left out.
    (None, [{"Id": 4653, "Message": "first"}, {"Id": 4653, "Message": "again"}, {"Id": 5000}, {"Message": "x"}],
     "PersistentStore", None, ["h1: main mode negotiation failed (event 4653): first"]),
]


@pytest.mark.parametrize(("facts", "events", "store", "peer", "lines"), DIAGNOSES)
def test_diagnose(facts: HostFacts | None, events: list[dict[str, Any]], store: str, peer: HostFacts | None,
                  lines: list[str]) -> None:
    assert diagnose("h1", facts, events, store, peer) == lines


MM_OK = {"CipherAlgorithm": 65003, "HashAlgorithm": 65001, "GroupId": 19, "KeyModule": 0}
QM_OK = {"FirstTransformType": 4, "FirstCipherAlgorithm": 65003, "FirstIntegrityAlgorithm": 65001}
WANT = Expected(mm=frozenset({(65003, 65001, 19)}), qm=frozenset({frozenset({("ESP", 65003, 65001)})}))


def test_a_pair_names_each_end_and_its_peer_in_its_problems() -> None:
    views = {"app01": EndView(mm=MM_OK, qm=QM_OK), "sql01": EndView()}
    result = check_pair("app01", "sql01", views, WANT)
    assert (result.a, result.b, result.verified, result.stale) == ("app01", "sql01", False, False)
    assert result.problems == ["sql01: no main-mode SA with app01", "sql01: no quick-mode SA with app01"]
    views = {"app01": EndView(), "sql01": EndView(mm=MM_OK, qm=QM_OK)}
    assert check_pair("app01", "sql01", views, WANT).problems == [
        "app01: no main-mode SA with sql01", "app01: no quick-mode SA with sql01"]
    both = check_pair("app01", "sql01", {"app01": EndView(mm=MM_OK, qm=QM_OK), "sql01": EndView(mm=MM_OK, qm=QM_OK)},
                      WANT)
    assert (both.verified, both.problems, both.to_json()["b"]) == (True, [], "sql01")


@pytest.mark.parametrize(("qm", "transforms"), [
    ({}, None),  # no first transform: nothing to judge
    ({"FirstTransformType": 0}, None),
    ({"FirstTransformType": 9}, None),  # a type IPSEC_TRANSFORM_TYPE does not number
    ({"FirstTransformType": 4, "FirstCipherAlgorithm": 65003}, (("ESP", 65003, 0),)),
    ({"FirstTransformType": 1, "FirstIntegrityAlgorithm": 3, "SecondTransformType": 0}, (("AH", 0, 3),)),
    ({"FirstTransformType": 1, "FirstIntegrityAlgorithm": 3, "SecondTransformType": 3,
      "SecondCipherAlgorithm": 65001}, (("AH", 0, 3), ("ESP", 65001, 0))),
    ({"FirstTransformType": 2, "FirstIntegrityAlgorithm": 65001, "SecondTransformType": 7}, None),
])
def test_sa_transforms(qm: dict[str, Any], transforms: tuple[tuple[str, int, int], ...] | None) -> None:
    assert sa_transforms(qm) == transforms


@pytest.mark.parametrize(("code", "text"), [(0, "IKEv1"), (1, "AuthIP"), (2, "IKEv2"), (7, "code 7"), (None, None)])
def test_the_sa_summary_names_the_key_module(code: int | None, text: str | None) -> None:
    result = PairResult("a", "b", True, {"a": EndView(mm={**MM_OK, "KeyModule": code}, qm=QM_OK)})
    summary = result.sa_summary()
    assert summary["mm"]["key_module"] == text
    assert summary["qm"]["transforms"] == ["ESP AES256/SHA256"]


@pytest.mark.parametrize(("reported", "peer", "same"), [
    ("2001:DB8::1", "2001:db8:0::1", True),
    (" 10.0.0.5", "10.0.0.5", True),
    ("10.0.0.5", "10.0.0.6", False),
    ("SQL01.corp.example", "sql01.CORP.example ", True),  # not an address: compared as text, case-free
    ("sql01.corp.example", "app01.corp.example", False),
    (None, "10.0.0.5", False),
])
def test_endpoints_match_as_addresses(reported: Any, peer: str, same: bool) -> None:
    report = {"MainModeSAs": [{"RemoteEndpoint": reported, **MM_OK}],
              "Probes": [{"Target": reported, "Connected": True}]}
    view = end_view(report, peer)
    assert (view.mm is not None, view.probe_ok) == (same, True if same else None)
    if same:
        assert view.probe == ""  # a probe without an outcome word
