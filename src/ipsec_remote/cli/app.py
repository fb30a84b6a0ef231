"""The ``ipsec-remote`` command line: parse → call one core function → render → exit code.

Exit codes (DESIGN §4):
  0    done / no changes; ``status``: every host reachable and as the inventory wants, every pair proven
  1    failed on at least one host or pair (the output says which and why); ``status``: drift, a host
       not reachable, or a pair not proven; ``promote``: no pair was eligible; also a journal that cannot
       be used or another run holding it (nothing contacted)
  2    invalid invocation or input — nothing was contacted
  3    ``plan --detailed-exitcode`` with changes pending
  130  stopped by Ctrl-C (at a step boundary; what was done, what was not and any armed revert are printed)
Whatever happens, the user gets lines, never a Python traceback.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

# typer (>= 0.29, pinned in pyproject) vendors click; its usage errors are caught to print one line.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from .. import interrupt, log
from ..errors import InputError, IpsecRemoteError, ValidationError, one_line
from ..model.gpo import is_gpo_store, refuse_gpo_store
from ..model.inventory import check_run, load_inventory
from ..plan.render import dumps, plan_json, plan_powershell, plan_text
from . import completion, confirm, reports, runner
from .confirm import YesOpt
from .gpo import gpo_plan_exit
from .options import (
    ForksOpt,
    InventoryArg,
    InventoryOpt,
    LimitOpt,
    SkipPreflightOpt,
    inventory_path,
    limit_for,
    limit_lines,
)
from .reports import JunitOpt, ReportOpt

app = typer.Typer(
    name="ipsec-remote",
    help="Roll Windows Server IPsec out across a fleet over WinRM, without locking a server out.",
    no_args_is_help=True,
    add_completion=False,  # ours below take the shell by name: --show-completion bash
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
lab_app = typer.Typer(help="A simulated Windows fleet for rehearsal and tests.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
import_app = typer.Typer(help="Turn another tool's inventory into an ipsec-remote inventory.", no_args_is_help=True)
app.add_typer(import_app, name="import")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
LabOpt = Annotated[bool, typer.Option("--lab", help="Connect through .ipsec-remote/lab.json (lab endpoints).")]


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"ipsec-remote {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    log_level: Annotated[str, typer.Option("--log-level", help="debug|info|warning|error")] = "warning",
    log_format: Annotated[str, typer.Option("--log-format", help="console|json (logs go to stderr)")] = "console",
    log_file: Annotated[Path | None, typer.Option(
        "--log-file", envvar="IPSEC_REMOTE_LOG_FILE", metavar="FILE",
        help="Also append every event from info up to FILE as JSON lines (structlog; no secrets).")] = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the version and exit.")] = False,
    install_completion: Annotated[bool, typer.Option(
        "--install-completion", is_eager=True, callback=completion.install_callback,
        help="Install shell completion for the current shell.")] = False,
    show_completion: Annotated[str | None, typer.Option(
        "--show-completion", is_eager=True, metavar="SHELL", callback=completion.show_callback,
        help="Print the completion script for SHELL: bash, zsh, fish, powershell.")] = None,
) -> None:
    if log_level not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter(f"'{log_level}' is not one of debug, info, warning, error",
                                 param_hint="--log-level")
    if log_format not in ("console", "json"):
        raise typer.BadParameter(f"'{log_format}' is not one of console, json", param_hint="--log-format")
    log.configure(log_level, log_format, log_file)


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@import_app.command("ansible")
def import_ansible(
    file: Annotated[Path, typer.Argument(help="Ansible inventory: INI or YAML.")],
    resolve: Annotated[bool, typer.Option("--resolve", help="Look up ansible_host names that are not IP "
                                                            "addresses (the system resolver).")] = False,
) -> None:
    """Print an inventory TOML from an Ansible inventory: hosts, groups, WinRM settings; TODOs for the rest."""
    from ..importer.ansible import load_ansible
    from ..importer.to_toml import resolve_name, to_toml

    typer.echo(to_toml(load_ansible(file), resolve_name if resolve else None), nl=False)


@lab_app.command("up")
def lab_up(
    inventory_arg: InventoryArg = None,
    inventory_opt: InventoryOpt = None,
    faults: Annotated[Path | None, typer.Option("--faults", help="Fault file (TOML).")] = None,
    rtt_ms: Annotated[int, typer.Option("--rtt-ms", min=0, max=10000)] = 0,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background.")] = False,
    auth: Annotated[str, typer.Option("--auth", help="Listener authentication: default (Basic over https, NTLM "
                                      "over http), basic, ntlm, kerberos (runs a KDC) or certificate.")] = "default",
) -> None:
    """Start a simulated fleet from the inventory."""
    from .lab import up

    inventory = inventory_path(inventory_arg, inventory_opt)
    load_inventory(inventory)
    up(inventory, faults, rtt_ms, detach, auth)


@lab_app.command("inspect")
def lab_inspect(inventory_arg: InventoryArg = None, inventory_opt: InventoryOpt = None,
                json_out: JsonOpt = False) -> None:
    """Objects, SAs, call log, reachability, tasks and events per lab host."""
    from .lab import inspect

    inspect(inventory_path(inventory_arg, inventory_opt), json_out)


@lab_app.command("down")
def lab_down(inventory_arg: InventoryArg = None, inventory_opt: InventoryOpt = None) -> None:
    """Stop the simulated fleet."""
    from .lab import down

    down(inventory_path(inventory_arg, inventory_opt))


# Commands kept in modules of their own (they import the helpers above).
from .observe import observe_command  # noqa: E402

app.command("observe")(observe_command)


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    interrupt.reset()
    lines: list[str] = []
    try:
        rv = app(args=args, prog_name="ipsec-remote", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except NoArgsIsHelpError as exc:  # click prints the help text; the command line was incomplete
        typer.echo(exc.format_message(), err=True)
        code = 2
    except UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx is not None else "ipsec-remote: "
        lines.append(f"{where}{exc.format_message()}")
        code = 2
    except (typer.Abort, KeyboardInterrupt):
        lines.append("ipsec-remote: stopped at once by Ctrl-C ('ipsec-remote status' lists the reverts armed on "
                     "the hosts)")
        code = 130
    except InputError as exc:
        lines.append(str(exc))
        code = 2
    except ValidationError as exc:
        # The planner produced a call the reference rejects: a bug, never sent anywhere.
        lines.append(f"ipsec-remote: internal plan rejected by the cmdlet reference: {exc}")
        code = 1
    except IpsecRemoteError as exc:
        lines.append(f"ipsec-remote: {exc}")
        code = 1
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        lines.append(f"ipsec-remote: {exc.strerror or exc}{where}")
        code = 1
    except Exception as exc:  # a bug: still one line, never a traceback
        lines.append(f"ipsec-remote: internal error ({type(exc).__name__}): {exc}")
        code = 1
    finally:
        if "sigint" in runner.state:
            signal.signal(signal.SIGINT, runner.state.pop("sigint"))
        view = runner.state.pop("view", None)
        if view is not None:
            view.close()
        lock = runner.state.pop("lock", None)
        if lock is not None:
            lock.release()
        runner.state.pop("journal", None)
    for line in lines:
        typer.echo(one_line(line), err=True)
    if log.configured():
        log.get_logger().info("command finished", argv=args, exit_code=code, errors=[one_line(x) for x in lines])
    sys.exit(code)
