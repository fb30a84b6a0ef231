"""Fleet.open_each: a host's first pipeline runs as soon as its own session is open, not after the fleet's.

Sessions here are stand-ins made through the product's one session seam (``sessions_from``); what is under
test is the scheduling and the bookkeeping (order, failures, a stop), which no WinRM detail changes.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest

from ipsec_remote import interrupt
from ipsec_remote.errors import IpsecRemoteError
from ipsec_remote.remote.sessions import Fleet
from ipsec_remote.remote.transport import HostSession, HostTarget, RetryPolicy, sessions_from

WAIT_S = 10  # a bound for a test that would otherwise hang, never a timing under test


def _targets(*names: str) -> dict[str, HostTarget]:
    return {n: HostTarget(n, f"https://{n}:5986/wsman", "u", None) for n in names}


class _Session(HostSession):
    """Opens after ``gate[name]`` is set (if any); refuses to open for names in ``unreachable``."""

    gates: ClassVar[dict[str, threading.Event]] = {}
    unreachable: ClassVar[set[str]] = set()
    closed: ClassVar[list[str]] = []

    def __init__(self, target: HostTarget, retry: RetryPolicy | None = None) -> None:
        super().__init__(target, retry)

    def open(self) -> HostSession:
        gate = self.gates.get(self.target.name)
        if gate is not None and not gate.wait(WAIT_S):
            raise AssertionError(f"{self.target.name}: its opening was never let through")
        if self.target.name in self.unreachable:
            raise IpsecRemoteError(f"{self.target.name}: cannot connect")
        return self

    def close(self) -> None:
        self.closed.append(self.target.name)


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    _Session.gates, _Session.unreachable, _Session.closed = {}, set(), []
    interrupt.reset()
    with sessions_from(_Session):
        yield
    interrupt.reset()


def test_a_host_is_read_while_another_host_is_still_opening() -> None:
    # slow's opening waits for fast's read: had open_each opened every host before reading any (the old
    # open_fleet, then Fleet.each), slow would never open and the test would fail on its bound.
    read_fast = threading.Event()
    _Session.gates["slow"] = read_fast

    def read(host: str, _session: HostSession) -> str:
        if host == "fast":
            read_fast.set()
        return f"state of {host}"

    fleet = Fleet(forks=2)
    results = fleet.open_each(_targets("slow", "fast"), read)
    assert results == {"slow": "state of slow", "fast": "state of fast"}
    assert list(fleet.sessions) == ["slow", "fast"] and fleet.failed == {}


def test_sessions_keep_the_targets_order_whatever_order_they_open_in() -> None:
    names = [f"h{i:02d}" for i in range(12)]
    gates = {n: threading.Event() for n in names}
    _Session.gates = gates
    opened: list[str] = []

    def read(host: str, _session: HostSession) -> None:
        opened.append(host)
        later = names[names.index(host) - 1] if names.index(host) else None
        if later is not None:
            gates[later].set()  # each host lets the one before it open: they open in reverse order

    gates[names[-1]].set()
    fleet = Fleet(forks=len(names))
    fleet.open_each(_targets(*names), read)
    assert opened == names[::-1]
    assert list(fleet.sessions) == names


@pytest.mark.parametrize(("unreachable", "fails_in_read", "failed", "read"), [
    ({"b"}, set(), {"b": "b: cannot connect"}, ["a", "c"]),
    (set(), {"a"}, {"a": "a: the read failed"}, ["b", "c"]),
    ({"a"}, {"c"}, {"a": "a: cannot connect", "c": "c: the read failed"}, ["b"]),
])
def test_a_host_that_cannot_be_opened_or_read_is_failed_with_its_reason(
        unreachable: set[str], fails_in_read: set[str], failed: dict[str, str], read: list[str]) -> None:
    _Session.unreachable = unreachable

    def work(host: str, _session: HostSession) -> str:
        if host in fails_in_read:
            raise IpsecRemoteError(f"{host}: the read failed")
        return host

    fleet = Fleet(forks=3)
    results = fleet.open_each(_targets("a", "b", "c"), work)
    assert sorted(results) == read and fleet.failed == failed
    assert list(fleet.sessions) == read
    assert sorted(_Session.closed) == sorted(fails_in_read)  # a failed host's open session is closed


def test_after_a_stop_hosts_whose_turn_has_not_come_are_neither_opened_nor_failed() -> None:
    def work(host: str, _session: HostSession) -> str:
        interrupt.request()  # Ctrl-C while the first host is read
        return host

    fleet = Fleet(forks=1)
    results = fleet.open_each(_targets("a", "b", "c"), work)
    assert results == {"a": "a"} and list(fleet.sessions) == ["a"] and fleet.failed == {}


def test_cleanup_opens_every_host_even_after_a_stop() -> None:
    interrupt.request()
    fleet = Fleet(forks=2)
    assert fleet.open_each(_targets("a", "b"), cleanup=True) == {}
    assert list(fleet.sessions) == ["a", "b"]


# -- Fleet.each_then: the next phase per host once it and the hosts it waits on are through this one -------
def _opened(*names: str, forks: int = 4) -> Fleet:
    fleet = Fleet(forks=forks)
    fleet.open_each(_targets(*names))
    return fleet


def test_a_host_goes_on_once_it_and_its_peers_are_through_while_others_are_still_working() -> None:
    # c's first stage is held until a's second stage ran: with a barrier between the stages (each, then
    # each) a's second stage would wait for c and the test would fail on its bound.
    a_then = threading.Event()

    def first(host: str, _session: HostSession) -> str:
        if host == "c" and not a_then.wait(WAIT_S):
            raise AssertionError("a's second stage waited for c, which it does not wait on")
        return f"{host} changed"

    def then(host: str, _session: HostSession) -> str:
        if host == "a":
            a_then.set()
        return f"{host} proven"

    fleet = _opened("a", "b", "c", "d")
    firsts, thens = fleet.each_then(first, ["a", "b", "c", "d"], then, {"a": ["b"], "b": ["a"], "c": ["d"],
                                                                          "d": ["c"]})
    assert firsts == {h: f"{h} changed" for h in "abcd"} and thens == {h: f"{h} proven" for h in "abcd"}


def test_a_host_never_goes_on_before_a_slow_peer_it_waits_on_is_through() -> None:
    b_through, a_went_on = threading.Event(), threading.Event()

    def first(host: str, _session: HostSession) -> None:
        if host == "b":
            a_went_on.wait(0.5)  # room for a wrongly early second stage on a to start first
            b_through.set()

    def then(host: str, _session: HostSession) -> None:
        if host == "a":
            a_went_on.set()
            assert b_through.is_set(), "a's second stage started before b, which it waits on, was through"

    fleet = _opened("a", "b")
    assert fleet.each_then(first, ["a", "b"], then, {"a": ["b"], "b": ["a"]}) == ({"a": None, "b": None},
                                                                                   {"a": None, "b": None})


def test_the_second_stages_keep_to_what_each_host_waits_on() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def log(what: str) -> None:
        with lock:
            order.append(what)

    def first(host: str, _session: HostSession) -> None:
        log(f"first {host}")

    def then(host: str, _session: HostSession) -> None:
        log(f"then {host}")

    hosts = [f"h{i}" for i in range(8)]
    waits = {h: [hosts[(i + 1) % 8], hosts[(i + 3) % 8]] for i, h in enumerate(hosts)}
    fleet = _opened(*hosts, forks=3)
    fleet.each_then(first, hosts, then, waits)
    for host, peers in waits.items():
        assert all(order.index(f"first {p}") < order.index(f"then {host}") for p in [host, *peers]), order


@pytest.mark.parametrize(("fails", "firsts", "thens", "failed"), [
    # a's change fails: a is failed and not proven; b, which waits on a, goes on (its pair will show a's reason)
    ({"first a"}, ["b", "c"], ["b", "c"], ["a"]),
    # c's proof round fails: only c
    ({"then c"}, ["a", "b", "c"], ["a", "b"], ["c"]),
    # c has nothing to change (not among the first hosts): it waits only on its peers
    (set(), ["a", "b"], ["a", "b", "c"], []),
])
def test_failures_and_hosts_without_a_first_stage(fails: set[str], firsts: list[str], thens: list[str],
                                                  failed: list[str]) -> None:
    def stage(name: str) -> Any:
        def run(host: str, _session: HostSession) -> str:
            if f"{name} {host}" in fails:
                raise IpsecRemoteError(f"{host}: {name} failed")
            return host
        return run

    fleet = _opened("a", "b", "c")
    first_hosts = ["a", "b"] if not fails else ["a", "b", "c"]
    got_first, got_then = fleet.each_then(stage("first"), first_hosts, stage("then"),
                                          {"a": ["b"], "b": ["a"], "c": ["a"]})
    assert list(got_first) == firsts and list(got_then) == thens
    assert sorted(fleet.failed) == failed and not set(failed) & set(fleet.sessions)


def test_after_a_stop_no_further_stage_starts() -> None:
    def first(host: str, _session: HostSession) -> str:
        interrupt.request()
        return host

    def then(host: str, _session: HostSession) -> str:
        raise AssertionError("a second stage started after the stop")

    fleet = _opened("a", "b", forks=1)
    got_first, got_then = fleet.each_then(first, ["a", "b"], then, {"a": ["b"], "b": ["a"]})
    assert got_first == {"a": "a"} and got_then == {} and fleet.failed == {}
