"""On a terminal, ``apply``, ``promote`` and ``rollback`` show what they will do and ask first (``--yes``: don't).

Asked only when stdin and stderr are both a terminal (the question goes to stderr and must be seen): scripts,
CI and anything piped run as before, without a prompt. The preview is read-only — the hosts are read on their
own sessions (apply, rollback) or the journal alone is read (promote) — and nothing is sent when the answer is
no (exit 1, "cancelled"). The run itself plans again from what the hosts hold then, as Terraform's apply
without a saved plan does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on a terminal.")]


def wanted(yes: bool) -> bool:
    return not yes and sys.stdin.isatty() and sys.stderr.isatty()


def ask(question: str, preview: Callable[[], list[str] | None]) -> None:
    """Print the preview and ask; a ``None`` preview means nothing to confirm (go on without asking)."""
    lines = preview()
    if lines is None:
        return
    for line in lines:
        typer.echo(line, err=True)
    sys.stderr.write(f"{question} [yes/no]: ")  # stderr: stdout may be the --json document
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()  # "" at end of input: no
    if answer not in ("yes", "y"):
        typer.echo("ipsec-remote: cancelled: nothing was sent to any host", err=True)
        raise typer.Exit(1)


def apply_preview(inv: Any, targets: Any, journal: Any, forks: int, scope: Any) -> list[str] | None:
    from ..ops.apply import remote_plan
    from ..plan.render import plan_text
    from .options import limit_lines

    plan, failed = remote_plan(inv, targets, journal, forks, scope)
    if plan.empty and not failed:
        return None  # no change to confirm: apply only proves the pairs
    lines = [plan_text(plan), *limit_lines(scope)]
    lines += [f"not planned (apply will report it): {reason}" for reason in failed.values()]
    return lines


def rollback_preview(inv: Any, targets: Any, journal: Any, forks: int, scope: Any) -> list[str] | None:
    from ..ops.rollback import rollback_plan
    from ..plan.render import plan_text
    from .options import limit_lines

    plan, failed = rollback_plan(inv, targets, journal, forks)
    lines = [plan_text(plan).replace("No changes. Every host matches the inventory.",
                                     "No object to remove or restore (leftover reverts and settings are "
                                     "still checked)."), *limit_lines(scope, rollback=True)]
    lines += [f"not reachable (rollback will report it): {reason}" for reason in failed.values()]
    return lines


def promote_preview(inv: Any, book: Any, journal: Any, to: str, selected: Any, timeout_s: int,
                    scope: Any, gpo: bool = False) -> list[str] | None:
    from ..ops.preview import promote_waves
    from .options import limit_lines

    waves, target = promote_waves(inv, book, journal, to, selected)
    if not waves:
        return None  # nothing would change: promote says why
    net = (f"each through the GPO '{inv.policy.store}' (one session and one Save per wave, only the wave's hosts "
           f"refreshed), behind an on-host computer-policy refresh that fires after {timeout_s} s unless "
           "confirmed — it undoes nothing until the controller has reverted its GPO edit" if gpo else
           f"each behind an on-host revert that fires after {timeout_s} s unless confirmed")
    lines = [f"promote --to {to}: {sum(len(p) for _, p in waves)} pair(s) to {target[0]}/{target[1]} in "
             f"{len(waves)} wave(s), {net} (pairs are proven again first; one that does not verify now is "
             "skipped):"]
    for number, (name, pairs) in enumerate(waves, start=1):
        hosts = sorted({h for p in pairs for h in p})
        lines.append(f"  wave {number} ({name}): {', '.join(f'{a}:{b}' for a, b in pairs)} — "
                     f"{len(hosts)} host(s): {', '.join(hosts)}")
    return lines + limit_lines(scope)


def gpo_rollback_preview(inv: Any, writer: Any, journal: Any) -> list[str] | None:
    """GPO mode's rollback: the GPO's changes back to its snapshot, as the writer reads it now."""
    from ..ops.gpo_apply import gpo_rollback_plan
    from ..plan.gpo_plan import gpo_plan_text

    plan, notes = gpo_rollback_plan(inv, writer, journal)
    text = gpo_plan_text(plan, False).replace("No changes. The GPO matches the inventory.",
                                              "No object to remove or restore: the GPO is as before the first apply.")
    return [text, *notes]


def gpo_preview(inv: Any, writer: Any, journal: Any) -> list[str] | None:
    """GPO mode: the GPO's changes as the writer reads it, and the refresh per host."""
    from ..ops.gpo_apply import gpo_live_plan
    from ..plan.gpo_plan import gpo_plan_text

    plan = gpo_live_plan(inv, writer, journal)  # promotions stay (apply never demotes)
    if not plan.writes.changes:
        return None
    return [gpo_plan_text(plan, False)]
