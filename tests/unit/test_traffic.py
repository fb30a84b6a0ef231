"""Pure pieces of issue 15: would-break, observation age, observe's chunks and classification, durations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ipsec_remote.cli.observe import duration
from ipsec_remote.errors import InputError
from ipsec_remote.journal.observations import ClearFlow, Observation, latest_observations, record_observation
from ipsec_remote.journal.store import Journal
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.observe import _Merged, chunks, classify, covered
from ipsec_remote.ops.wouldbreak import ISOLATION_RULE, breaking, stale

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_IN = ("Require", "Request")


def inventory(tmp_path: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    text = extra + (ROOT / "inventory.toml").read_text()
    (tmp_path / "inv.toml").write_text(text)
    return load_inventory(tmp_path / "inv.toml")


def flow(remote: str, port: int, direction: str = "inbound", protocol: str = "TCP", blocked: bool = False
         ) -> ClearFlow:
    return ClearFlow(remote, port, protocol, direction, "2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z", 5,
                     blocked=blocked)


def obs(*flows: ClearFlow, host: str = "sql01", at: str | None = None) -> Observation:
    return Observation(host, "s", "f", 5.0, 5, list(flows), recorded_at=at or datetime.now(timezone.utc).isoformat())


def test_the_isolation_rule_would_cut_off_a_non_member_but_not_the_exempt_or_proven(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    seen = obs(flow("10.10.1.50", 1433), flow("10.10.1.5", 88), flow("10.10.1.100", 5986),
               flow("10.10.1.30", 1433), flow("10.10.1.60", 80, "outbound"), flow("10.10.1.70", 445, blocked=True))
    proven = {frozenset(("sql01", "app01"))}
    held, taken = breaking(inv, "sql01", ISOLATION_RULE, REQUIRE_IN, seen, proven)
    assert [(b.flow.remote_address, b.why) for b in held] == [("10.10.1.50", "not a member and not exempt")]
    assert taken == []
    # Outbound clear text is cut off only by Require outbound (Request outbound falls back to clear).
    held, _ = breaking(inv, "sql01", ISOLATION_RULE, ("Require", "Require"), seen, proven)
    assert sorted(b.flow.remote_address for b in held) == ["10.10.1.50", "10.10.1.60"]
    # The operator's --accept-breaking moves a flow from "held" to "accepted".
    held, taken = breaking(inv, "sql01", ISOLATION_RULE, REQUIRE_IN, seen, proven, ["10.10.1.50"])
    assert held == [] and [b.flow.remote_address for b in taken] == ["10.10.1.50"]
    # Lowering nothing to Require breaks nothing; no observation, nothing known.
    assert breaking(inv, "sql01", ISOLATION_RULE, ("Request", "Request"), seen, proven) == ([], [])
    assert breaking(inv, "sql01", ISOLATION_RULE, REQUIRE_IN, None, proven) == ([], [])


def test_a_member_counts_only_with_a_proven_pair_and_a_missing_exemption_is_no_exemption(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    seen = obs(flow("10.10.1.30", 1433), flow("10.10.1.100", 5986))
    held, _ = breaking(inv, "sql01", ISOLATION_RULE, REQUIRE_IN, seen, set())
    # app01 talks over its pair rule (protocol Any), which the isolation rule does not govern at all.
    assert held == []
    held, _ = breaking(inv, "sql01", "app01", REQUIRE_IN, seen, set())
    assert [(b.rule, b.why) for b in held] == [("pair with app01", "member app01 without a proven pair with sql01")]
    assert breaking(inv, "sql01", "app01", REQUIRE_IN, seen, {frozenset(("app01", "sql01"))}) == ([], [])
    skipped = inventory(tmp_path, 'test_only_skip_exemptions = ["controller"]\n')
    held, _ = breaking(skipped, "sql01", ISOLATION_RULE, REQUIRE_IN, seen, set())
    assert [b.flow.remote_address for b in held] == ["10.10.1.100"]


def test_port_scoped_pairs_leave_other_ports_to_the_isolation_rule(tmp_path: Path) -> None:
    text = (ROOT / "inventory.toml").read_text().replace('protocol = "Any"', 'protocol = "TCP"\nports = [1433]')
    (tmp_path / "inv.toml").write_text(text)
    inv = load_inventory(tmp_path / "inv.toml")
    seen = obs(flow("10.10.1.30", 1433), flow("10.10.1.30", 3389))
    held, _ = breaking(inv, "sql01", ISOLATION_RULE, REQUIRE_IN, seen, set())
    assert [(b.flow.port, b.why) for b in held] == [(3389, "member app01 without a proven pair with sql01")]


def test_observations_older_than_the_limit_are_stale() -> None:
    now = datetime(2024, 1, 2, tzinfo=timezone.utc)
    fresh = obs(at=(now - timedelta(minutes=5)).isoformat())
    old = obs(host="app01", at=(now - timedelta(days=2)).isoformat())
    found = stale({"sql01": fresh, "app01": old}, ["sql01", "app01", "web01"], 86400, now)
    assert sorted(found) == ["app01", "web01"]
    assert "older than" in found["app01"] and "ipsec-remote observe" in found["web01"]


def test_the_journal_keeps_each_hosts_latest_observation(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state.db")
    record_observation(journal, 1, obs(flow("10.10.1.50", 1433)))
    record_observation(journal, 2, obs(flow("10.10.1.60", 80, "outbound", "UDP"), host="sql01"))
    latest = latest_observations(journal)
    assert list(latest) == ["sql01"]
    (only,) = latest["sql01"].flows
    assert (only.remote_address, only.protocol, only.direction) == ("10.10.1.60", "UDP", "outbound")
    assert latest["sql01"].recorded_at


def test_chunks_fit_the_operation_timeout() -> None:
    assert chunks(5, 30) == [5]
    parts = chunks(600, 30)
    assert len(parts) == 30 and all(p <= 20 for p in parts) and sum(parts) == pytest.approx(600)
    assert chunks(12, 8) == [4.0, 4.0, 4.0]  # a short timeout still gets chunks of at most 5 s


def test_classify_merges_tables_and_events_and_trusts_the_sas() -> None:
    merged = _Merged()
    merged.add({"Started": "a", "Finished": "b", "Samples": 3, "Secured": ["0|10.10.1.30|0|0", "6|10.10.1.40|445|0"],
                "Tcp": [{"Direction": "Inbound", "RemoteAddress": "10.10.1.50", "Port": 1433, "FirstSeen": "1",
                         "LastSeen": "3", "Samples": 3, "Protected": 0},
                        {"Direction": "Outbound", "RemoteAddress": "10.10.1.30", "Port": 445, "FirstSeen": "1",
                         "LastSeen": "3", "Samples": 3, "Protected": 3},
                        {"Direction": "Inbound", "RemoteAddress": "10.10.1.20", "Port": 1, "FirstSeen": "1",
                         "LastSeen": "3", "Samples": 3, "Protected": 0}],
                "Events": [{"Protocol": 6, "Direction": "Inbound", "RemoteAddress": "10.10.1.50", "Port": 1433,
                            "LocalPort": 1433, "RemotePort": 50000, "FirstSeen": "0", "LastSeen": "2",
                            "Permitted": 2, "Blocked": 0},
                           {"Protocol": 17, "Direction": "Inbound", "RemoteAddress": "10.10.1.61", "Port": 53,
                            "LocalPort": 53, "RemotePort": 50001, "FirstSeen": "1", "LastSeen": "1",
                            "Permitted": 0, "Blocked": 1},
                           {"Protocol": 6, "Direction": "Inbound", "RemoteAddress": "10.10.1.40", "Port": 445,
                            "LocalPort": 445, "RemotePort": 50002, "FirstSeen": "1", "LastSeen": "1",
                            "Permitted": 1, "Blocked": 0}],
                "EventsRead": True})
    flows, protected = classify("10.10.1.20", merged)
    by = {(f.remote_address, f.protocol, f.port): f for f in flows}
    assert sorted(by) == [("10.10.1.50", "TCP", 1433), ("10.10.1.61", "UDP", 53)]
    client = by[("10.10.1.50", "TCP", 1433)]
    assert client.sources == ("connections", "events") and client.count == 5 and client.first_seen == "0"
    assert by[("10.10.1.61", "UDP", 53)].blocked
    assert protected == ["10.10.1.30", "10.10.1.40"]


def test_an_sa_covers_a_flow_by_peer_protocol_and_ports() -> None:
    assert covered({"0|10.0.0.1|0|0"}, 17, "10.0.0.1", 53, 5000)
    assert not covered({"6|10.0.0.1|0|0"}, 17, "10.0.0.1", 53, 5000)
    assert not covered({"6|10.0.0.1|445|0"}, 6, "10.0.0.1", 1433, 5000)
    assert not covered({"0|10.0.0.2|0|0"}, 6, "10.0.0.1", 1433, 5000)
    # The same IPv6 peer written two ways (an SA's endpoint, an event's address): covered.
    assert covered({"0|2001:db8:0:1:0:0:0:20|0|0"}, 6, "2001:db8:0:1::20", 1433, 5000)
    assert not covered({"0|2001:db8:0:1:0:0:0:21|0|0"}, 6, "2001:db8:0:1::20", 1433, 5000)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("1h", 3600), ("500ms", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert duration(text, "--window", 0.1, 86400) == seconds


@pytest.mark.parametrize("text", ["ten minutes", "-5s", "2d", "0s", "90000"])
def test_bad_durations_are_input_errors(text: str) -> None:
    with pytest.raises(InputError) as err:
        duration(text, "--window", 1, 86400)
    assert str(err.value).startswith("--window")
