"""Promotion waves (pure): the eligible pairs split by the playbook's waves, by pairs and by hosts.

A wave takes its share of pairs (``pairs`` or ``percent`` of all eligible pairs; the last wave takes the
rest) in order, skipping a pair that would bring the wave over ``max_hosts`` distinct hosts (the wave's own,
else ``[promote] max_hosts``); skipped pairs wait for the next wave. When the last wave cannot take every
pair left within its bound, it repeats (``rest-2``, ``rest-3``, …) until every pair has a wave: a 25 % wave
of pairs no longer touches every app server at once.
"""

from __future__ import annotations

import math

from ..model.playbook import Playbook

Pair = tuple[str, str]


def plan_waves(pairs: list[Pair], playbook: Playbook) -> list[tuple[str, list[Pair]]]:
    specs = playbook.promote.waves
    waves: list[tuple[str, list[Pair]]] = []
    left = list(pairs)
    number = 0
    while left:
        spec = specs[min(number, len(specs) - 1)]
        last = number >= len(specs) - 1
        size = len(left) if last else max(1, spec.pairs if spec.pairs is not None
                                          else math.ceil(len(pairs) * (spec.percent or 100) / 100))
        cap = spec.max_hosts if spec.max_hosts is not None else playbook.promote.max_hosts
        take: list[Pair] = []
        hosts: set[str] = set()
        wait: list[Pair] = []
        for pair in left:
            if len(take) < size and (cap is None or len(hosts | set(pair)) <= cap):
                take.append(pair)
                hosts |= set(pair)
            else:
                wait.append(pair)
        repeat = number - len(specs) + 2  # 2 for the first repetition of the last wave
        waves.append((spec.name if repeat < 2 else f"{spec.name}-{repeat}", take))
        left = wait
        number += 1
    return waves


def host_local_order(pairs: list[Pair]) -> list[Pair]:
    """The pairs reordered so that consecutive waves touch few hosts: every host a wave touches pays its arm,
    change, proof, fresh session and confirm (README: promotion's floor), so a host's pairs should share a
    wave rather than spread over several.

    The first pair stays first (the canary is the inventory's first pair, as before); then, greedily, the
    pair that finishes a host (its last pair), else one sharing a host with the pair before it, else the next
    in inventory order. E.g. three web servers × two app servers, and both app servers × one SQL server
    (8 pairs, waves of 1, 2 and 5 pairs): 10 host-wave participations instead of 11 in inventory order.
    """
    if len(pairs) < 3:
        return list(pairs)
    left = {h: 0 for p in pairs for h in p}
    for a, b in pairs:
        left[a] += 1
        left[b] += 1
    order = [pairs[0]]
    rest = list(pairs[1:])
    for h in pairs[0]:
        left[h] -= 1
    while rest:
        last = set(order[-1])

        def rank(item: tuple[int, Pair], last: set[str] = last) -> tuple[int, int, int]:
            index, (a, b) = item
            finished = (left[a] == 1) + (left[b] == 1)
            return (-finished, -len(last & {a, b}), index)

        index, pair = min(enumerate(rest), key=rank)
        order.append(rest.pop(index))
        for h in pair:
            left[h] -= 1
    return order
