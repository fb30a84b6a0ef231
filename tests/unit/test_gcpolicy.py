"""gcpolicy: survivors of a full collection are frozen, garbage is still collected (before and after)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ipsec_remote import gcpolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a  # only the cyclic collector can free these
    return a, weakref.ref(a)


@pytest.fixture
def policy() -> Iterator[None]:
    before = list(gc.callbacks)
    gc.collect()
    gc.unfreeze()
    gcpolicy.freeze_after_full_collections()
    try:
        yield
    finally:
        gc.callbacks[:] = before
        gc.unfreeze()  # back to the oldest generation: the rest of the test session collects as usual


def test_survivors_of_a_full_collection_are_frozen(policy: None) -> None:
    kept, _ = cycle()
    frozen = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() > frozen
    assert kept.other is not None and kept.other.other is kept


def test_garbage_at_the_collection_is_collected_not_frozen(policy: None) -> None:
    node, dead = cycle()
    del node
    gc.collect()
    assert dead() is None


def test_cycles_made_after_a_freeze_are_still_collected(policy: None) -> None:
    gc.collect()  # freezes everything alive now
    node, dead = cycle()
    del node
    gc.collect()
    assert dead() is None


def test_installing_twice_adds_each_callback_once(policy: None) -> None:
    gcpolicy.freeze_after_full_collections()
    assert gc.callbacks.count(gcpolicy.STATS) == 1
    assert sum(1 for c in gc.callbacks if c is gcpolicy._freeze_survivors) == 1
    assert gcpolicy.installed()


def test_stats_count_full_collections(policy: None) -> None:
    before = gcpolicy.STATS.as_json()
    gc.collect()
    after = gcpolicy.STATS.as_json()
    assert after["gc_full_collections"] == int(before["gc_full_collections"]) + 1
    assert set(after) == {"gc_s", "gc_longest_pause_s", "gc_full_collections"}
