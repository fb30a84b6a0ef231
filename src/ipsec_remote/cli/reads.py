"""The read-only commands: ``plan``, ``status``, ``doctor`` and ``history`` (registered by cli/app.py). They
change no host and no GPO (``status`` may correct the journal's promotions from the hosts, ``doctor --drill``
fires a harmless switch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from ..model.gpo import is_gpo_store, refuse_gpo_store
from ..model.inventory import check_run, load_inventory
from ..plan.render import dumps, plan_json, plan_powershell, plan_text
from . import reports, runner
from .gpo import gpo_plan_exit
from .options import (
    ForksOpt,
    InventoryArg,
    InventoryOpt,
    JsonOpt,
    LabOpt,
    LimitOpt,
    inventory_path,
    limit_for,
    limit_lines,
)
from .reports import JunitOpt, ReportOpt


def plan(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Do not contact hosts: plan from an empty state.")] = False,
    json_out: JsonOpt = False,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode",
                                                    help="Exit 3 when changes are pending.")] = False,
    lab: LabOpt = False,
    show_powershell: Annotated[bool, typer.Option("--show-powershell",
                                                  help="Show the PowerShell each call amounts to.")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Write the plan as a standalone .ps1.")] = None,
    forks: ForksOpt = None,
    limit: LimitOpt = None,
) -> None:
    """Show what apply would change on each host."""
    from ..ops.apply import offline_plan, remote_plan

    inventory = inventory_path(inventory_arg, inventory_opt)
    failed: dict[str, str] = {}
    scope = None
    if export is not None and not export.parent.is_dir():
        raise InputError("--export", str(export), f"folder '{export.parent}' does not exist")
    if offline:
        inv = load_inventory(inventory)
        runner.warn_weak_crypto(inv, inventory)
        check_run(inv, str(inventory), lab=lab, sends_psk=False)
        refuse_gpo_store(inv, str(inventory), "plan --offline")
        if is_gpo_store(inv.policy.store):
            gpo_plan_exit(inv, json_out, show_powershell, export, detailed_exitcode)
        scope = limit_for(limit, inv)
        result = offline_plan(inv)
        if scope is not None:
            from ..plan.limit import leave_skipped_alone

            result = leave_skipped_alone(result, scope, inv.policy.group)
    else:
        inv, book, targets, journal, scope = runner.prepare(inventory, None, lab, limit=limit, gpo_command="plan")
        if is_gpo_store(inv.policy.store):
            from ..ops.gpo_apply import gpo_live_plan
            from ..ops.gpo_status import writer_target

            gpo_plan_exit(inv, json_out, show_powershell, export, detailed_exitcode,
                          gpo_live_plan(inv, writer_target(inv, inventory, lab), journal))
        result, failed = remote_plan(inv, targets, journal, forks or book.rollout.forks, scope)
        for host, reason in sorted(failed.items()):
            typer.echo(f"ipsec-remote: {host}: not planned: {runner.without_host(host, reason)}", err=True)
    if export is not None:
        try:
            export.write_text(plan_powershell(result), encoding="utf-8")
        except OSError as exc:
            raise InputError("--export", str(export), f"cannot write: {exc.strerror or exc}") from None
    if json_out:
        typer.echo(dumps({**plan_json(result), "failed_hosts": failed,
                          **({"limit": scope.to_json()} if scope is not None else {})}))
    else:
        typer.echo(plan_text(result, show_powershell=show_powershell))
        for line in limit_lines(scope):
            typer.echo(line)
    if failed:
        raise typer.Exit(1)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(3)


def status(inventory_arg: InventoryArg = None, inventory_opt: InventoryOpt = None, json_out: JsonOpt = False,
           lab: LabOpt = False,
           playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
           forks: ForksOpt = None, limit: LimitOpt = None,
           report_file: ReportOpt = None, junit: JunitOpt = None) -> None:
    """Verification matrix per pair and drift per host."""
    from ..ops.status import status as run_status

    inventory = inventory_path(inventory_arg, inventory_opt)
    reports.check(report_file, junit)
    # status rebuilds the journal from the hosts' promotion marks: one run at a time, as for changes.
    inv, book, targets, journal, scope = runner.prepare(inventory, playbook, lab, "status", limit=limit)
    # status proves what is there now; it does not wait as long as a rollout would.
    quick = book.verify.model_copy(update={"timeout_s": min(book.verify.timeout_s, 15.0)})
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_status import gpo_status, writer_target

        report = gpo_status(inv, targets, writer_target(inv, inventory, lab), quick, forks or book.rollout.forks,
                            journal=journal)
    else:
        report = run_status(inv, targets, journal, quick, forks or book.rollout.forks, scope)
    runner.render(report, json_out, "print_status",
                  runner.report_writer("status", inv, inventory, lab, report_file, junit), scope)


def doctor(inventory_arg: InventoryArg = None, inventory_opt: InventoryOpt = None, json_out: JsonOpt = False,
           lab: LabOpt = False, forks: ForksOpt = None, limit: LimitOpt = None,
           drill: Annotated[bool, typer.Option(
               "--drill", help="Also fire a harmless dead-man's switch on every host and check it ran as "
                               "SYSTEM (needed before promote --to require).")] = False,
           playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None) -> None:
    """Preflight: services, firewall, merge setting, clock, overlapping rules, WinRM; --drill tests the switch."""
    from ..ops.doctor import doctor as run_doctor

    inventory = inventory_path(inventory_arg, inventory_opt)
    # --drill arms tasks on the hosts and records each drill: it takes the run lock and the real journal.
    command = "doctor --drill" if drill else None
    inv, book, targets, journal, scope = runner.prepare(inventory, playbook, lab, command, limit=limit,
                                                        gpo_command=command or "doctor")
    if is_gpo_store(inv.policy.store):  # the hosts enforce what Group Policy delivered: their RSOP
        from ..ops.gpo_doctor import gpo_doctor
        from ..ops.gpo_status import RSOP, with_store, writer_target

        findings = run_doctor(with_store(inv, RSOP), targets, forks or book.rollout.forks)
        findings += gpo_doctor(inv, writer_target(inv, inventory, lab), journal)
    else:
        findings = run_doctor(inv, targets, forks or book.rollout.forks)
    drills: list[Any] = []
    if drill:
        from ..ops.drill import drill as run_drill

        drills = run_drill(inv, targets, journal, forks or book.rollout.forks, book.promote.revert_wait_s)
    ok = not any(f.severity == "error" for f in findings) and all(d.ok for d in drills)
    if json_out:
        doc: dict[str, Any] = {"findings": [f.to_json() for f in findings], "ok": ok}
        if drill:
            doc["drills"] = {d.host: d.to_json() for d in drills}
        if scope is not None:
            doc["limit"] = {"hosts": sorted(scope.hosts)}
        typer.echo(dumps(doc))
    else:
        from ..report.console import print_doctor, print_drills

        print_doctor(findings, runner.rich_console())
        if drill:
            print_drills(drills, runner.rich_console())
    raise typer.Exit(0 if ok else 1)


def history(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    run: Annotated[int | None, typer.Option("--run", min=1, help="Show one run in detail.")] = None,
) -> None:
    """Runs recorded in the journal: command, who, when, result, hosts, pairs, waves and reverts."""
    from .history import show

    show(inventory_path(inventory_arg, inventory_opt), lab, json_out, run)
