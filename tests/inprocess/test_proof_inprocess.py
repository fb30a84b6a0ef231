"""Proof of pairs in-process: the diagnosis put before the SA problems, one-way probes, hosts not reached."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ipsec_remote.ops.apply import read_states
from ipsec_remote.ops.proof import check_dependencies, kdc_probes, prove_pairs
from ipsec_remote.remote.sessions import open_fleet

from .harness import TRIO, inprocess_lab


def test_an_unproven_pair_gets_the_hosts_diagnosis_first_and_is_journaled(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults='[hosts.sql01]\nikeext = "disabled"\n') as lab:
        report = lab.apply()
        assert not report.ok
        pair = report.pairs[0]
        assert not pair.verified
        assert pair.problems[:2] == [
            "app01: main mode negotiation failed (event 4653): MM negotiation failed: no response from sql01",
            "sql01: IKEEXT disabled"]
        assert "app01: no main-mode SA with sql01" in pair.problems[2:]
        record = lab.journal().latest_verification("app01", "sql01")
        assert record is not None and not record.verified
        assert record.detail["problems"] == pair.problems


def test_one_way_probes_when_the_playbook_says_so(tmp_path: Path) -> None:
    book = "[verify]\ntimeout_s = 4\npoll_interval_s = 0.2\nboth_directions = false\n"
    with inprocess_lab(tmp_path, playbook=book) as lab:
        report = lab.apply(lab.playbook())
        assert report.ok, report.to_json()
        hosts = lab.inspect()
        assert lab.host("app01").probes and not lab.host("sql01").probes, hosts  # a → b only
        assert {p["target"] for p in lab.host("app01").probes} == {"10.10.1.20"}


def test_both_directions_probes_from_each_end(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        assert {p["target"] for p in lab.host("app01").probes} == {"10.10.1.20"}
        assert {p["target"] for p in lab.host("sql01").probes} == {"10.10.1.30"}


def test_a_pair_with_a_host_not_reached_says_why_without_probing(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, faults="[hosts.web01]\ndown = true\n") as lab:
        book = lab.playbook()
        fleet = open_fleet(lab.targets, 4)
        try:
            assert sorted(fleet.sessions) == ["app01", "sql01"]
            states = read_states(fleet, lab.inv)
            results = prove_pairs(lab.inv, fleet, book.verify, states, None, None)
        finally:
            fleet.close()
        by_pair = {(r.a, r.b): r for r in results}
        assert list(by_pair) == [("app01", "sql01"), ("web01", "app01"), ("web01", "sql01")]  # inventory order
        down = by_pair[("web01", "sql01")]
        assert not down.verified
        # The host's own reason, after what the reachable peer's diagnosis says; no SA problems (not probed).
        assert down.problems[-1] == "web01: cannot connect to inprocess://web01/wsman", down.problems
        assert not [p for p in down.problems if " SA with " in p]
        assert not lab.host("web01").probes
        # app01 <-> sql01 is not proven (nothing applied yet), for its own reasons, not web01's.
        assert not any(p.startswith("web01") for p in by_pair[("app01", "sql01")].problems)


def test_only_limits_the_proof_to_the_given_pairs(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO) as lab:
        assert lab.apply().ok
        fleet = open_fleet(lab.targets, 4)
        try:
            results = prove_pairs(lab.inv, fleet, lab.playbook().verify, read_states(fleet, lab.inv), None, None,
                                  only={frozenset(("sql01", "web01"))})
        finally:
            fleet.close()
        assert [(r.a, r.b, r.verified) for r in results] == [("web01", "sql01", True)]


def test_a_host_outside_any_pair_is_checked_for_its_kdc_alone(tmp_path: Path) -> None:
    """What promote runs for a host whose only change is its isolation rule: one round probing its KDCs."""
    with inprocess_lab(tmp_path) as lab:
        fleet = open_fleet(lab.targets, 2)
        try:
            deps = kdc_probes(lab.inv, ["sql01", "app01"])
            assert check_dependencies(fleet, deps, ["sql01"]) == []  # dc01 answers on 88
            gone = {"sql01": [("domain controller dc09", "10.10.1.250", 88)], "app01": deps["app01"]}
            assert check_dependencies(fleet, gone, ["sql01", "app01"]) == [
                "sql01: domain controller dc09 10.10.1.250 does not answer on TCP 88 (timeout) through the new "
                "policy (Kerberos: the next IKE renegotiation would fail)"]
            assert check_dependencies(fleet, gone, ["app01"]) == []  # only the hosts asked about
            assert check_dependencies(fleet, {}, ["sql01"]) == []
        finally:
            fleet.close()


class _LargeFleetRound:
    """The real fleet, except that each round's first pipelines wait behind a large fleet's: the clock the
    proof reads jumps past the whole timeout before this inventory's hosts are reached, and in the first
    round sql01 is read before app01's probe negotiated (one-way probes: sql01 only reads its SAs)."""

    def __init__(self, fleet: Any, jump_s: float) -> None:
        self.fleet, self.jump_s, self.offset, self.rounds = fleet, jump_s, 0.0, 0
        self.sessions, self.failed = fleet.sessions, fleet.failed

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def each(self, fn: Any, hosts: list[str]) -> dict[str, Any]:
        self.rounds += 1
        self.offset += self.jump_s  # the thousands of hosts before these in the round
        out: dict[str, Any] = self.fleet.each(fn, hosts)
        if self.rounds == 1 and "sql01" in out:
            out["sql01"] = {**out["sql01"], "MainModeSAs": [], "QuickModeSAs": []}
        return out


def test_each_pair_gets_its_whole_window_from_its_first_probe_however_long_the_round(
        tmp_path: Path, monkeypatch: Any) -> None:
    """A pair first probed late in a long first round still gets its next rounds: its window is counted from
    its own first probe, not from the phase's start (before: one look, then 'no quick-mode SA', exit 1)."""
    from ipsec_remote.ops import proof

    book = "[verify]\ntimeout_s = 4\npoll_interval_s = 0.2\nboth_directions = false\n"
    with inprocess_lab(tmp_path, playbook=book) as lab:
        settings = lab.playbook().verify
        assert lab.apply(lab.playbook()).ok  # the policy is in place; now prove it on a "large fleet"
        fleet = open_fleet(lab.targets, 4)
        try:
            large = _LargeFleetRound(fleet, 10 * settings.timeout_s)
            monkeypatch.setattr(proof, "time", large)  # only the proof's clock
            results = prove_pairs(lab.inv, large, settings, read_states(fleet, lab.inv), None, None)  # type: ignore[arg-type]
        finally:
            fleet.close()
        assert large.rounds >= 2
        assert [(r.a, r.b, r.verified) for r in results] == [("app01", "sql01", True)], [r.problems for r in results]
