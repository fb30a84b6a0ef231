"""GPO mode's plan output for ``ipsec-remote plan`` (cli/reads.py stays a dispatcher)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer

from ..errors import InputError
from ..plan.render import dumps, plan_powershell


def gpo_plan_exit(inv: Any, json_out: bool, show_powershell: bool, export: Path | None, detailed: bool,
                  live: Any = None) -> NoReturn:
    """GPO mode's plan (offline, or ``live`` as read on the writer): the GPO's changes once, the refresh
    per host."""
    from ..plan.gpo_plan import gpo_offline_plan, gpo_plan_json, gpo_plan_text

    plan = live if live is not None else gpo_offline_plan(inv)
    if export is not None:
        try:
            export.write_text(plan_powershell(plan.as_plan()), encoding="utf-8")
        except OSError as exc:
            raise InputError("--export", str(export), f"cannot write: {exc.strerror or exc}") from None
    typer.echo(dumps(gpo_plan_json(plan)) if json_out else gpo_plan_text(plan, show_powershell))
    raise typer.Exit(3 if detailed and plan.writes.changes else 0)
