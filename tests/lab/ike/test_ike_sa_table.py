"""SA lifetime: reuse, idle expiry, removal, no downgrade (windows-behaviour.md §3, §6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipsec_remote.lab.ike import (
    Assumptions,
    CsRule,
    Flow,
    HostPolicy,
    NegotiationContext,
    Outcome,
    SaTable,
    negotiate,
)

A, B = "10.0.0.10", "10.0.0.20"
MEMBERS = ("10.0.0.10-10.0.0.99",)
DC = HostPolicy("dc01", ("10.0.0.5",), is_domain_controller=True)
SMB = CsRule("smb", inbound_security="Require", outbound_security="Require", remote_address=MEMBERS,
             protocol="TCP", remote_port=("445",), local_port=("Any",))
SMB_IN = CsRule("smb", inbound_security="Require", outbound_security="Require", remote_address=MEMBERS,
                protocol="TCP", local_port=("445",))
ALL = CsRule("all", remote_address=MEMBERS)
HA = HostPolicy("a", (A,), cs_rules=(SMB, ALL))
HB = HostPolicy("b", (B,), cs_rules=(SMB_IN, ALL))


def ctx(**assume: object) -> NegotiationContext:
    return NegotiationContext(dcs=(DC,), assumptions=Assumptions(**assume))  # type: ignore[arg-type]


def send(table: SaTable, now: float, dport: int = 445, a: HostPolicy = HA, b: HostPolicy = HB,
         c: NegotiationContext | None = None, sport: int = 50000) -> Outcome:
    return negotiate(a, b, Flow("a", A, B, "TCP", sport, dport), c or ctx(), now, table)


def test_second_flow_reuses_both_sas() -> None:
    table = SaTable()
    first, second = send(table, 0), send(table, 10, sport=50001)
    assert first.secured and not first.reused
    assert second.secured and second.reused and second.events == ()
    assert second.qm_sa_initiator == first.qm_sa_initiator and second.mm_sa_responder == first.mm_sa_responder


def test_one_mm_sa_per_pair_many_qm_sas() -> None:
    table = SaTable()
    smb, web = send(table, 0, 445), send(table, 1, 80)  # two rules → two QM SAs under one MM SA
    assert smb.initiator_rule == "smb" and web.initiator_rule == "all"
    assert not any(e.id in (4650, 4651) for e in web.events)  # MM reused: only quick mode ran
    assert {e.id for e in web.events} == {5451}
    for host in ("a", "b"):
        assert len(table.mm_sas(host, 1)) == 1 and len(table.qm_sas(host, 1)) == 2
    assert web.qm_sa_initiator is not None and web.qm_sa_initiator["MmSaId"] == smb.qm_sa_initiator["MmSaId"]  # type: ignore[index]


@pytest.mark.parametrize(("granularity", "qm_count"), [("rule", 1), ("flow", 2)])
def test_qm_granularity_assumption(granularity: str, qm_count: int) -> None:
    table = SaTable()
    c = ctx(qm_sa_granularity=granularity)
    send(table, 0, 80, c=c)
    second = send(table, 1, 8080, c=c)
    assert second.reused is (qm_count == 1)
    assert len(table.qm_sas("a", 1)) == qm_count
    if granularity == "flow":
        q = second.qm_sa_initiator
        assert q is not None and (q["IpProtocol"], q["RemotePort"]) == (6, 8080)


def test_reverse_flow_reuses_sas() -> None:
    table = SaTable()
    send(table, 0, 80)
    back = negotiate(HB, HA, Flow("b", B, A, "TCP", 50000, 80), ctx(), 5, table)
    assert back.reused and back.secured


def test_idle_expiry_and_renegotiation() -> None:
    table = SaTable(idle_timeout_s=60)
    first = send(table, 0)
    assert send(table, 59).reused  # traffic at 59 s resets the idle timer
    assert send(table, 118).reused
    assert table.mm_sas("a", 178) and table.qm_sas("b", 178)  # idle exactly 60 s: not yet "longer than"
    assert table.mm_sas("a", 179) == [] and table.qm_sas("b", 179) == []
    again = send(table, 200)
    assert again.secured and not again.reused and {4650, 5451} <= {e.id for e in again.events}
    assert again.mm_sa_initiator is not None and first.mm_sa_initiator is not None
    assert again.mm_sa_initiator["Name"] != first.mm_sa_initiator["Name"]


def test_expire_returns_end_events() -> None:
    table = SaTable()  # default: each host's MaxSAIdleTimeSeconds (300 s)
    send(table, 0)
    assert table.expire(300) == []
    events = table.expire(301)
    assert sorted((e.host, e.id) for e in events) == [("a", 4655), ("a", 5452), ("b", 4655), ("b", 5452)]
    assert table.mm_sas("a", 301) == []


def test_per_host_idle_timeout() -> None:
    table = SaTable()
    send(table, 0, a=replace(HA, max_sa_idle_time_s=3600))
    assert table.qm_sas("a", 1000) and not table.qm_sas("b", 1000)


@pytest.mark.parametrize(("expiry", "alive"), [(True, False), (False, True)])
def test_mm_idle_expiry_assumption(expiry: bool, alive: bool) -> None:
    table = SaTable(assumptions=Assumptions(mm_sa_idle_expiry=expiry))
    send(table, 0)
    assert bool(table.mm_sas("a", 1000)) is alive and table.qm_sas("a", 1000) == []


def test_secured_flow_never_downgrades_while_sa_lives() -> None:
    table = SaTable()
    send(table, 0)
    broken = replace(HB, ikeext_running=False)
    still = send(table, 100, b=broken)
    assert still.secured and still.reused
    table.remove("a")
    after = send(table, 101, b=broken)
    assert not after.delivered and ("b", 5453) in {(e.host, e.id) for e in after.events}


@pytest.mark.parametrize(("notify", "b_left"), [(True, 0), (False, 1)])
def test_remove_main_mode_sa(notify: bool, b_left: int) -> None:
    table = SaTable(assumptions=Assumptions(delete_notifies_peer=notify))
    send(table, 0)
    events = table.remove("a", "b")
    assert ("a", 4655) in {(e.host, e.id) for e in events}
    assert table.mm_sas("a", 1) == [] and table.qm_sas("a", 1) == []
    assert len(table.mm_sas("b", 1)) == b_left
    again = send(table, 2)
    assert again.secured and not again.reused


def test_remove_quick_mode_only_keeps_main_mode() -> None:
    table = SaTable()
    send(table, 0)
    table.remove("b", quick_mode_only=True)
    assert table.qm_sas("a", 1) == [] and len(table.mm_sas("a", 1)) == 1
    again = send(table, 2)
    assert again.secured and {e.id for e in again.events} == {5451}


def test_remove_by_name() -> None:
    table = SaTable()
    o = send(table, 0)
    assert o.qm_sa_responder is not None and o.mm_sa_initiator is not None
    table.remove_by_name("b", str(o.qm_sa_responder["Name"]))
    assert table.qm_sas("a", 1) == [] and table.mm_sas("b", 1)
    table.remove_by_name("a", str(o.mm_sa_initiator["Name"]))
    assert table.mm_sas("a", 1) == [] and table.mm_sas("b", 1) == []
    assert table.remove_by_name("a", "999") == []


def test_without_table_nothing_persists() -> None:
    first = negotiate(HA, HB, Flow("a", A, B, "TCP", 50000, 445), ctx(), 0)
    second = negotiate(HA, HB, Flow("a", A, B, "TCP", 50000, 445), ctx(), 1)
    assert first.secured and second.secured and not second.reused
    assert first.mm_sa_initiator == second.mm_sa_initiator  # deterministic ids


def test_renegotiated_mm_sa_replaces_survivor_and_its_qm_sas() -> None:
    table = SaTable()
    first = send(table, 0, a=replace(HA, max_sa_idle_time_s=3600))  # a keeps its SAs longer than b
    again = send(table, 400, a=replace(HA, max_sa_idle_time_s=3600))
    assert not again.reused and again.secured
    names = [q["Name"] for q in table.qm_sas("a", 400)]
    assert first.qm_sa_initiator is not None and first.qm_sa_initiator["Name"] not in names
    assert len(table.mm_sas("a", 400)) == 1 and len(names) == 1


def _whole_table_expiry(table: SaTable, now: float) -> set[tuple[str, str]]:
    """What a scan of every SA calls idle at ``now`` (the reference the deadline heap must agree with)."""
    return {(h, str(r["Name"])) for h in ("a", "b") for r in [*table.mm_sas(h, 0), *table.qm_sas(h, 0)]
            if not any(r is x for x in [*table.mm_sas(h, now), *table.qm_sas(h, now)])}


@pytest.mark.parametrize("seed", range(6))
def test_expiry_by_deadline_matches_a_whole_table_scan(seed: int) -> None:
    """Traffic at random times on random ports (new and reused SAs), expiry at random times: exactly the SAs
    a full scan finds idle end, and none that traffic kept alive."""
    import random

    rng = random.Random(seed)
    table, now = SaTable(idle_timeout_s=30), 0.0
    ended_total = 0
    for _ in range(200):
        now += rng.choice([1, 5, 12, 31])
        if rng.random() < 0.6:
            send(table, now, rng.choice([445, 80, 8080]), sport=rng.randrange(50000, 50004))
        else:
            idle = _whole_table_expiry(table, now)
            events = table.expire(now)
            ended = {(e.host, e.message.split()[2]) for e in events}
            assert ended == idle, (now, ended, idle)
            ended_total += len(events)
            assert _whole_table_expiry(table, now) == set()
    assert ended_total > 0
