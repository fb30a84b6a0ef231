"""``ipsec-remote observe``: sample each host's clear-text flows over a window into the journal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..plan.render import dumps
from .options import ForksOpt, InventoryArg, InventoryOpt, JsonOpt, LabOpt, LimitOpt, inventory_path

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_WINDOW_S = 24 * 3600.0


def duration(text: str, option: str, low: float, high: float) -> float:
    """``90``, ``30s``, ``10m``, ``1h`` or ``500ms`` as seconds, within [low, high]; else one input error line."""
    match = _DURATION.match(text)
    if match is None:
        raise InputError(option, "", f"'{text}' is not a duration like 30s, 10m or 1h")
    seconds = float(match[1]) * _UNIT_S[match[2]]
    if not low <= seconds <= high:
        raise InputError(option, "", f"'{text}' is outside {low:g} s to {high:g} s")
    return seconds


def observe_command(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    forks: ForksOpt = None,
    limit: LimitOpt = None,
    window: Annotated[str, typer.Option("--window", help="How long to sample: 30s, 10m, 1h.")] = "10m",
    interval: Annotated[str, typer.Option("--interval", help="Time between two samples on a host.")] = "1s",
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
) -> None:
    """Sample each host's flows that IPsec does not protect (connections, SAs, 5156/5157) into the journal."""
    from ..ops.observe import observe
    from . import runner

    window_s = duration(window, "--window", 1, MAX_WINDOW_S)
    interval_s = duration(interval, "--interval", 0.1, 60)
    # observe turns auditing on and back off on the hosts and writes the journal: it takes the run lock.
    inventory = inventory_path(inventory_arg, inventory_opt)
    inv, book, targets, journal, _scope = runner.prepare(inventory, playbook, lab, "observe", limit=limit)
    report = observe(inv, targets, journal, window_s, interval_s, forks or book.rollout.forks,
                     runner.events(json_out))
    if json_out:
        typer.echo(dumps(report.to_json()))
    else:
        from ..report.traffic import print_observe

        print_observe(report, runner.rich_console())
    raise typer.Exit(0 if report.ok else 1)
