"""The commands that change hosts or the GPO: ``apply``, ``promote``, ``rekey`` and ``rollback`` (registered by
cli/app.py). Each asks first on a terminal (``--yes`` skips) where a change can cut traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..model.gpo import is_gpo_store
from ..model.inventory import load_inventory
from . import confirm, reports, runner
from .confirm import YesOpt
from .options import ForksOpt, InventoryArg, InventoryOpt, JsonOpt, LabOpt, LimitOpt, SkipPreflightOpt, inventory_path
from .reports import JunitOpt, ReportOpt


def apply(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
    forks: ForksOpt = None,
    limit: LimitOpt = None,
    skip_preflight: SkipPreflightOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    report_file: ReportOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Doctor's checks, then exemptions, crypto, auth, main-mode and Request rules; prove every pair."""
    from ..ops.apply import apply as run_apply

    inventory = inventory_path(inventory_arg, inventory_opt)
    reports.check(report_file, junit)
    inv, book, targets, journal, scope = runner.prepare(inventory, playbook, lab, "apply", sends_psk=True,
                                                        limit=limit)
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_apply import gpo_apply
        from ..ops.gpo_status import writer_target

        writer = writer_target(inv, inventory, lab)
        if confirm.wanted(yes):
            confirm.ask("Apply these changes to the GPO?", lambda: confirm.gpo_preview(inv, writer, journal))
        report = gpo_apply(inv, book, targets, writer, journal, forks or book.rollout.forks, runner.events(json_out))
        runner.render(report, json_out, "print_apply",
                      runner.report_writer("apply", inv, inventory, lab, report_file, junit))
    if confirm.wanted(yes):
        confirm.ask("Apply these changes?",
                    lambda: confirm.apply_preview(inv, targets, journal, forks or book.rollout.forks, scope))
    report = run_apply(inv, inventory, book, targets, journal, forks or book.rollout.forks,
                       runner.events(json_out), limit=scope, checks=not skip_preflight)
    runner.render(report, json_out, "print_apply",
                  runner.report_writer("apply", inv, inventory, lab, report_file, junit), scope)


def promote(
    to: Annotated[str, typer.Option("--to", help="require|request")],
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    pairs: Annotated[str | None, typer.Option("--pairs", help="A:B,C:D")] = None,
    confirm_timeout: Annotated[int | None, typer.Option(
        "--confirm-timeout", min=5, max=3600,
        help="Seconds before the on-host revert fires (default: the playbook's).")] = None,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
    skip_drill: Annotated[bool, typer.Option(
        "--skip-drill", help="Promote hosts without a successful 'doctor --drill' too.")] = False,
    accept_breaking: Annotated[str | None, typer.Option(
        "--accept-breaking", help="ADDRESS[,…]: clear-text peers the last observe saw that Require may cut off.")
    ] = None,
    forks: ForksOpt = None,
    limit: LimitOpt = None,
    skip_preflight: SkipPreflightOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    report_file: ReportOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Switch proven pairs to Require (or back to Request), in waves, with an on-host dead-man's switch."""
    from ..ops.promote import promote as run_promote

    inventory = inventory_path(inventory_arg, inventory_opt)
    if to not in ("require", "request"):
        raise typer.BadParameter(f"'{to}' is not one of require, request", param_hint="--to")
    reports.check(report_file, junit)
    selected = runner.parse_pairs(pairs) if pairs else None
    accepted = runner.parse_addresses(accept_breaking) if accept_breaking is not None else None
    inv = load_inventory(inventory)
    runner.check_pairs(inv, selected)
    inv, book, targets, journal, scope = runner.prepare(inventory, playbook, lab, f"promote --to {to}", limit=limit)
    selected = runner.limited_pairs(selected, scope)
    timeout = confirm_timeout or book.promote.confirm_timeout_s
    gpo = is_gpo_store(inv.policy.store)
    if gpo and accepted is not None:
        raise InputError("--accept-breaking", accept_breaking or "", "is for server isolation, which a GPO store "
                                                                     "does not support")
    if confirm.wanted(yes):
        confirm.ask("Promote these pairs?",
                    lambda: confirm.promote_preview(inv, book, journal, to, selected, timeout, scope, gpo=gpo))
    if gpo:
        from ..ops.gpo_promote import gpo_promote
        from ..ops.gpo_status import writer_target

        report = gpo_promote(inv, book, targets, writer_target(inv, inventory, lab), journal, to, selected, timeout,
                             forks or book.rollout.forks, runner.events(json_out), skip_drill=skip_drill,
                             checks=not skip_preflight)
        runner.render(report, json_out, "print_promote",
                      runner.report_writer("promote", inv, inventory, lab, report_file, junit), scope)
    report = run_promote(inv, book, targets, journal, to, selected, timeout, forks or book.rollout.forks,
                         runner.events(json_out), skip_drill=skip_drill, accept_breaking=accepted,
                         checks=not skip_preflight)
    runner.render(report, json_out, "print_promote",
                  runner.report_writer("promote", inv, inventory, lab, report_file, junit), scope)


def rekey(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    pairs: Annotated[str | None, typer.Option("--pairs", help="A:B,C:D (default: every pair)")] = None,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
    skip_drill: Annotated[bool, typer.Option(
        "--skip-drill", help="Rekey pairs at Require on hosts without a successful 'doctor --drill' too.")] = False,
    forks: ForksOpt = None,
    limit: LimitOpt = None,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
) -> None:
    """Drop the pairs' SAs on both ends and prove them again (behind the dead-man's switch at Require)."""
    from ..ops.rekey import rekey as run_rekey

    inventory = inventory_path(inventory_arg, inventory_opt)
    selected = runner.parse_pairs(pairs) if pairs else None
    runner.check_pairs(load_inventory(inventory), selected)
    inv, book, targets, journal, scope = runner.prepare(inventory, playbook, lab, "rekey", limit=limit)
    selected = runner.limited_pairs(selected, scope)
    report = run_rekey(inv, book, targets, journal, selected, forks or book.rollout.forks,
                       runner.events(json_out), skip_drill=skip_drill)
    runner.render(report, json_out, "print_rekey", limit=scope)


def rollback(inventory_arg: InventoryArg = None, inventory_opt: InventoryOpt = None, json_out: JsonOpt = False,
             lab: LabOpt = False, forks: ForksOpt = None, limit: LimitOpt = None, yes: YesOpt = False) -> None:
    """Return every host to its state before the first apply."""
    from ..ops.rollback import rollback as run_rollback
    from ..plan.limit import refuse_rollback_across

    inventory = inventory_path(inventory_arg, inventory_opt)
    inv, book, targets, journal, scope = runner.prepare(inventory, None, lab, "rollback", limit=limit)
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_apply import gpo_rollback
        from ..ops.gpo_status import writer_target

        writer = writer_target(inv, inventory, lab)
        if confirm.wanted(yes):
            confirm.ask("Roll the GPO back?", lambda: confirm.gpo_rollback_preview(inv, writer, journal))
        report = gpo_rollback(inv, targets, writer, journal, forks or book.rollout.forks)
        runner.render(report, json_out, "print_rollback")
    if scope is not None:
        refuse_rollback_across(scope, journal.pair_security())
    if confirm.wanted(yes):
        confirm.ask("Roll these hosts back?",
                    lambda: confirm.rollback_preview(inv, targets, journal, forks or book.rollout.forks, scope))
    report = run_rollback(inv, targets, journal, forks or book.rollout.forks, scope)
    runner.render(report, json_out, "print_rollback", limit=scope)
