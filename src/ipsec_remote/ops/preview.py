"""What promote would do, from the journal alone (read-only, nothing contacted): for the confirmation
a terminal asks before promoting. promote itself decides again after proving the pairs."""

from __future__ import annotations

from ..journal.store import Journal
from ..model.inventory import Inventory
from ..model.playbook import Playbook
from ..plan.waves import host_local_order, plan_waves
from .promote import REQUEST_PAIR, Pair, _selected


def promote_waves(inv: Inventory, playbook: Playbook, journal: Journal, to: str, selected: list[Pair] | None
                  ) -> tuple[list[tuple[str, list[Pair]]], tuple[str, str]]:
    """The waves of the pairs that would change: not at the target yet and, towards Require, proven by an
    apply (the latest verification the journal holds)."""
    target = (playbook.promote.inbound, playbook.promote.outbound) if to == "require" else REQUEST_PAIR
    current = journal.pair_security()
    pairs = []
    for a, b in _selected(inv, selected):
        if current.get((a, b), REQUEST_PAIR) == target:
            continue
        record = journal.latest_verification(a, b)
        if to == "require" and (record is None or not record.verified):
            continue
        pairs.append((a, b))
    return plan_waves(host_local_order(pairs), playbook), target
