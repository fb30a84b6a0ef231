"""SIGKILL ``apply`` and ``promote --to require`` at seeded, reproducible points over the lab's HTTPS.

A point is (command, host, n, delay): the controller is killed ``delay`` after ``host``'s endpoint received
the n-th WSMan request of that command (the lab counts a request on receipt, then waits its ``rtt_ms``
before running it, so small delays kill with a batch in flight on the host and its answer never read).
Each lab first measures how many requests per host an uninterrupted apply and promote take; the points
are every request of an apply but the last, and 14 seeded requests of a promote — so they run over the
whole command: pool open, reading state, exemptions, sets/rules, verification, and for promote arming the
revert task, changing the rules, proving and confirming. After each point: the
journal passes ``PRAGMA integrity_check``; ``apply`` converges (exit 0, every pair verified, a further apply
sends no changing call per the lab's call log); ``rollback`` restores every store exactly as it was.

``IPSEC_REMOTE_RELIABILITY_SEED`` picks other hosts and delays (the default seed is what CI runs).
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path
from typing import Any

from .helpers import (
    MANAGED,
    Lab,
    assert_converges,
    assert_journal_intact,
    assert_rolls_back,
    changing_calls,
    cli_json,
    control_inspect,
    kill_after_request,
    requests_total,
    running_lab,
)

SEED = int(os.environ.get("IPSEC_REMOTE_RELIABILITY_SEED", "20261127"))
RTT_MS = 25
PROMOTE_POINTS = 14
PROMOTE = ("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--confirm-timeout", "120", "--skip-drill")
APPLY = ("apply", "inventory.toml", "--lab")
Point = tuple[str, str, int, float]  # command, host, n, delay (s)


PROOF_ROUND_REQUESTS = 2  # a verification round on a host: Command, Receive


def plan_points(seed: int, counts: dict[str, dict[str, int]]) -> list[Point]:
    """Every request of a fresh apply but the last (on a seeded host), and PROMOTE_POINTS seeded requests
    of a promote, each with a seeded delay. ``counts``: requests per host of each command, measured."""
    rng = random.Random(seed)
    chosen: list[Point] = []
    for n in range(1, min(counts["apply"].values())):
        chosen.append(("apply", rng.choice(MANAGED), n, rng.uniform(0, 2 * RTT_MS) / 1000))
    # A promote's count can differ between runs (the full suite once saw 13 requests where the calibration
    # counted 15; why is not yet known — a second proof round would be one pipeline, 2 requests). A point past
    # the shorter run's end would never be reached, so the last pipeline's worth is left out.
    reachable = range(1, min(counts["promote"].values()) - PROOF_ROUND_REQUESTS)
    for n in sorted(rng.sample(reachable, min(PROMOTE_POINTS, len(reachable)))):
        chosen.append(("promote", rng.choice(MANAGED), n, rng.uniform(0, 2 * RTT_MS) / 1000))
    return chosen


def calibrate(lab: Lab, pristine: dict[str, Any]) -> dict[str, dict[str, int]]:
    """WSMan requests per host of an uninterrupted apply and promote on this lab, then rolled back."""
    counts: dict[str, dict[str, int]] = {}
    for command, args in (("apply", APPLY), ("promote", PROMOTE)):
        before = requests_total(control_inspect(lab))
        rc, report, err = cli_json(lab, *args)
        assert rc == 0, (command, report, err)
        after = requests_total(control_inspect(lab))
        counts[command] = {h: after[h] - before[h] for h in MANAGED}
    assert_rolls_back(lab, pristine)
    return counts


def run_points(lab: Lab, pristine: dict[str, Any], chosen: list[Point], done: list[str]) -> None:
    for command, host, n, delay in chosen:
        where = f"{command} killed {delay * 1000:.0f} ms after {host}'s request {n}"
        if command == "promote":
            rc, report, err = cli_json(lab, *APPLY)
            assert rc == 0, (where, report, err)
        before = {h: len(changing_calls(x)) for h, x in control_inspect(lab).items()}
        kill_after_request(lab, PROMOTE if command == "promote" else APPLY, host, n, delay)
        seen = control_inspect(lab)
        changed = sum(len(changing_calls(x)) - before[h] for h, x in seen.items())
        armed = sum(len(seen[h]["scheduled_tasks"]) for h in MANAGED)
        where += f" ({changed} changing call(s) made, {armed} revert task(s) armed)"
        try:
            assert_journal_intact(lab)
            assert_converges(lab)
            assert_rolls_back(lab, pristine)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        done.append(where)


def test_points_are_reproducible() -> None:
    counts = {"apply": {"sql01": 9, "app01": 9}, "promote": {"sql01": 22, "app01": 22}}
    assert plan_points(SEED, counts) == plan_points(SEED, counts)
    chosen = plan_points(SEED, counts)
    assert len({(c, h, n) for c, h, n, _ in chosen}) == len(chosen) >= 20


def test_sigkill_at_seeded_points_then_converge_and_rollback(tmp_path: Path) -> None:
    done: list[str] = []
    errors: list[BaseException] = []
    counts: list[dict[str, dict[str, int]]] = []

    def worker(index: int) -> None:
        try:
            with running_lab(tmp_path / str(index), faults=f"rtt_ms = {RTT_MS}\n") as lab:
                pristine = control_inspect(lab)
                measured = calibrate(lab, pristine)
                counts.append(measured)
                # Two labs side by side, each taking every other point.
                run_points(lab, pristine, plan_points(SEED, measured)[index::2], done)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=280)
    assert not any(t.is_alive() for t in threads), "a kill scenario hung"
    if errors:
        raise errors[0]
    assert counts[0] == counts[1], counts  # both labs agree on the points
    assert len(done) == len(plan_points(SEED, counts[0])) >= 20, done
    print("\n".join(sorted(done)))
    # The points landed all over the run: before any change, mid-way, with a revert armed, after confirming.
    assert any(p.startswith("apply") and "(0 changing" in p for p in done)
    assert any(p.startswith("apply") and "(0 changing" not in p for p in done)
    assert any(p.startswith("promote") and "0 revert" not in p for p in done)
    assert any(p.startswith("promote") and "(0 changing" not in p and ", 0 revert" in p for p in done)
