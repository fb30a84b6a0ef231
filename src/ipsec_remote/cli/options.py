"""One CLI shape for every command: the inventory (positional or ``-i``), ``--forks``, ``--limit``, ``--json``,
``--lab``.

Kept apart from ``app.py`` so each command only declares the options and calls ``inventory_path`` /
``limit_for`` / ``only_limited``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..errors import InputError
from ..plan.limit import Limit, parse_limit

DEFAULT_INVENTORY = Path("inventory.toml")
T = TypeVar("T")

InventoryArg = Annotated[Path | None, typer.Argument(
    metavar="INVENTORY",
    help="Inventory file (or -i/--inventory) [default: inventory.toml]", show_default=False)]
InventoryOpt = Annotated[Path | None, typer.Option(
    "-i", "--inventory", help="Inventory file (or positional) [default: inventory.toml]", show_default=False)]
ForksOpt = Annotated[int | None, typer.Option(
    "--forks", min=1, max=1000, help="Hosts worked on at once (default: the playbook's rollout.forks).")]
LimitOpt = Annotated[str | None, typer.Option(
    "--limit", metavar="HOST|GROUP[,...]",
    help="Contact only these hosts (a host name, a group name or group:NAME); pairs with one end outside "
         "are left alone and listed as skipped.")]

SkipPreflightOpt = Annotated[bool, typer.Option(
    "--skip-preflight", help="Do not run the doctor's checks first (a host with an error is changed anyway).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
LabOpt = Annotated[bool, typer.Option("--lab", help="Connect through .ipsec-remote/lab.json (lab endpoints).")]


def inventory_path(positional: Path | None, option: Path | None) -> Path:
    """The inventory given positionally or with -i (both: they must name the same file)."""
    if positional is not None and option is not None and positional.resolve() != option.resolve():
        raise InputError("-i/--inventory", "", f"'{option}' and the positional inventory '{positional}' differ: "
                                               "give one")
    return positional or option or DEFAULT_INVENTORY


def limit_for(text: str | None, inv: Any) -> Limit | None:
    return None if text is None else parse_limit(text, inv)


def only_limited(targets: Mapping[str, T], limit: Limit | None) -> dict[str, T]:
    """The targets a limited command may contact: nothing else is ever connected to."""
    return {h: t for h, t in targets.items() if limit is None or h in limit.hosts}


def limit_lines(limit: Limit | None, rollback: bool = False) -> list[str]:
    """The text form of what --limit left out (the JSON form is ``limit.to_json()``)."""
    if limit is None:
        return []
    doc = limit.to_json(rollback)
    lines = [f"--limit: {len(doc['hosts'])} host(s) contacted: {', '.join(doc['hosts'])}"]
    lines += [f"skipped {p['a']}:{p['b']}: {p['reason']}" for p in doc["skipped_pairs"]]
    return lines
