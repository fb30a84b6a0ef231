"""Pairs ordered for waves that touch few hosts (plan/waves.py host_local_order, pure)."""

from __future__ import annotations

from ipsec_remote.model.playbook import Playbook
from ipsec_remote.plan.waves import host_local_order, plan_waves

# bench's 6-host stack: three web servers x two app servers, both app servers x one SQL server (8 pairs).
STACK = [("w0", "a0"), ("w0", "a1"), ("w1", "a0"), ("w1", "a1"), ("w2", "a0"), ("w2", "a1"), ("a0", "s"), ("a1", "s")]
DEFAULT_WAVES = Playbook.model_validate({"promote": {"waves": [
    {"name": "canary", "pairs": 1}, {"name": "quarter", "percent": 25}, {"name": "rest", "percent": 100}]}})


def participations(waves: list[tuple[str, list[tuple[str, str]]]]) -> int:
    return sum(len({h for p in pairs for h in p}) for _, pairs in waves)


def test_the_default_waves_touch_ten_hosts_not_eleven() -> None:
    ordered = host_local_order(STACK)
    assert sorted(ordered) == sorted(STACK) and ordered[0] == STACK[0]  # same pairs; the canary stays first
    assert participations(plan_waves(STACK, DEFAULT_WAVES)) == 11
    waves = plan_waves(ordered, DEFAULT_WAVES)
    assert [len(p) for _, p in waves] == [1, 2, 5]
    assert participations(waves) == 10  # 2 + 3 + 5: the quarter finishes w0 and shares a1


def test_short_lists_keep_their_order() -> None:
    assert host_local_order([]) == []
    assert host_local_order([("b", "c"), ("a", "b")]) == [("b", "c"), ("a", "b")]


def test_a_host_is_finished_before_a_new_one_starts() -> None:
    star = [("app1", "sql1"), ("app1", "sql2"), ("app1", "sql3"), ("app1", "sql4"), ("sql1", "sql2"), ("sql3", "sql4")]
    assert host_local_order(star) == [("app1", "sql1"), ("sql1", "sql2"), ("app1", "sql2"), ("app1", "sql3"),
                                      ("app1", "sql4"), ("sql3", "sql4")]
