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
