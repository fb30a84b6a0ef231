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

import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

# typer (>= 0.29, pinned in pyproject) vendors click; its usage errors are caught to print one line.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from .. import interrupt, log
from ..errors import InputError, IpsecRemoteError, ValidationError, one_line
from ..model.gpo import is_gpo_store, refuse_gpo_store
from ..model.inventory import check_run, load_inventory
from ..plan.render import dumps, plan_json, plan_powershell, plan_text
from . import completion, reports
from .gpo import gpo_plan_exit
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

InventoryArg = Annotated[Path, typer.Argument(help="Inventory file.", show_default=True)]
InventoryOpt = Annotated[Path, typer.Option("-i", "--inventory", help="Inventory file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
LabOpt = Annotated[bool, typer.Option("--lab", help="Connect through .ipsec-remote/lab.json (lab endpoints).")]
DEFAULT_INVENTORY = Path("inventory.toml")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"ipsec-remote {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    log_level: Annotated[str, typer.Option("--log-level", help="debug|info|warning|error")] = "warning",
    log_format: Annotated[str, typer.Option("--log-format", help="console|json (logs go to stderr)")] = "console",
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
    log.configure(log_level, log_format)


@app.command()
def plan(
    inventory: InventoryArg = DEFAULT_INVENTORY,
    offline: Annotated[bool, typer.Option("--offline", help="Do not contact hosts: plan from an empty state.")] = False,
    json_out: JsonOpt = False,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode",
                                                    help="Exit 3 when changes are pending.")] = False,
    lab: LabOpt = False,
    show_powershell: Annotated[bool, typer.Option("--show-powershell",
                                                  help="Show the PowerShell each call amounts to.")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Write the plan as a standalone .ps1.")] = None,
) -> None:
    """Show what apply would change on each host."""
    from ..ops.apply import offline_plan, remote_plan

    failed: dict[str, str] = {}
    if export is not None and not export.parent.is_dir():
        raise InputError("--export", str(export), f"folder '{export.parent}' does not exist")
    if offline:
        inv = load_inventory(inventory)
        _warn_weak_crypto(inv, inventory)
        check_run(inv, str(inventory), lab=lab, sends_psk=False)
        refuse_gpo_store(inv, str(inventory), "plan --offline")
        if is_gpo_store(inv.policy.store):
            gpo_plan_exit(inv, json_out, show_powershell, export, detailed_exitcode)
        result = offline_plan(inv)
    else:
        inv, book, targets, journal = _prepare(inventory, None, lab, gpo_command="plan")
        if is_gpo_store(inv.policy.store):
            from ..ops.gpo_apply import gpo_live_plan
            from ..ops.gpo_status import writer_target

            gpo_plan_exit(inv, json_out, show_powershell, export, detailed_exitcode,
                      gpo_live_plan(inv, writer_target(inv, inventory, lab)))
        result, failed = remote_plan(inv, targets, journal, book.rollout.forks)
        for host, reason in sorted(failed.items()):
            typer.echo(f"ipsec-remote: {host}: not planned: {_without_host(host, reason)}", err=True)
    if export is not None:
        try:
            export.write_text(plan_powershell(result), encoding="utf-8")
        except OSError as exc:
            raise InputError("--export", str(export), f"cannot write: {exc.strerror or exc}") from None
    if json_out:
        typer.echo(dumps({**plan_json(result), "failed_hosts": failed}))
    else:
        typer.echo(plan_text(result, show_powershell=show_powershell))
    if failed:
        raise typer.Exit(1)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(3)


def _without_host(host: str, reason: str) -> str:
    return reason[len(host) + 2:] if reason.startswith(f"{host}: ") else reason


_state: dict[str, Any] = {}  # the journal and run lock of this command, for Ctrl-C and release


def _prepare(inventory: Path, playbook: Path | None, lab: bool, command: str | None = None,
             sends_psk: bool = False, gpo_command: str | None = None) -> tuple[Any, Any, Any, Any]:
    """Everything that can be wrong with the input is checked here, before any host is contacted; a
    command that changes hosts (``command``) also takes the journal's run lock. ``gpo_command`` names the
    command for the GPO-store check when it differs from ``command``."""
    from ..journal.lock import RunLock
    from ..journal.store import Journal
    from ..model.playbook import load_playbook
    from ..remote.connect import journal_path, targets_for

    inv = load_inventory(inventory)
    _warn_weak_crypto(inv, inventory)
    book = load_playbook(playbook, inventory)
    check_run(inv, str(inventory), lab=lab, sends_psk=sends_psk)
    refuse_gpo_store(inv, str(inventory), gpo_command or command or "plan")
    targets = targets_for(inv, inventory, lab)
    path = journal_path(inventory, lab)
    if command is not None:
        lock = RunLock(path, command).acquire()
        _state["lock"] = lock
        if lock.stale:
            from ..journal.lock import describe

            typer.echo(f"ipsec-remote: took over the journal lock of a run that ended without releasing it "
                       f"({describe(lock.stale)})", err=True)
    journal = Journal(path, read_only=command is None)
    _state["journal"] = journal
    if command is not None:
        journal.close_stale_runs()
        _stop_at_boundaries()
    return inv, book, targets, journal


def _exit_code(report: Any) -> int:
    return 130 if getattr(report, "interrupted", None) else 0 if report.ok else 1


def _render(report: Any, json_out: bool, printer: str,
            write_reports: Callable[[dict[str, Any], int], None] | None = None) -> NoReturn:
    """Print a command's report (JSON or tables), what a Ctrl-C left, then write the report files (after the
    result is shown, so a failed write never hides it), and exit with its code."""
    from ..report import console

    code = _exit_code(report)
    if json_out:
        typer.echo(dumps(report.to_json()))
    else:
        getattr(console, printer)(report, _console())
    for line in console.journal_lines(report) + console.interruption_lines(report):
        typer.echo(f"ipsec-remote: {line}", err=True)
    if write_reports is not None:
        write_reports(report.to_json(), code)
    raise typer.Exit(code)


def _reports(command: str, inv: Any, inventory: Path, lab: bool, report_file: Path | None,
             junit: Path | None) -> Callable[[dict[str, Any], int], None]:
    return lambda result, code: reports.write(command, result, inv, inventory, lab, report_file, junit, code)


def _warn_weak_crypto(inv: Any, inventory: Path) -> None:
    from ..model.crypto_lint import weak_warnings

    for line in weak_warnings(inv, str(inventory)):
        typer.echo(f"ipsec-remote: {line}", err=True)


def _console() -> Any:
    from rich.console import Console

    # Piped output (CI logs, `| less`) gets a readable width instead of rich's 80-column fallback.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _progress(host: str, message: str) -> None:
    typer.echo(f"  {host}: {message}", err=True)


@app.command()
def apply(
    inventory: InventoryArg = DEFAULT_INVENTORY,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
    forks: Annotated[int | None, typer.Option("--forks", min=1, max=1000,
                                              help="Hosts worked on at once (default: the playbook's).")] = None,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    report_file: ReportOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Exemptions first, then crypto, auth, main-mode and Request rules; prove every pair."""
    from ..ops.apply import apply as run_apply

    reports.check(report_file, junit)
    inv, book, targets, journal = _prepare(inventory, playbook, lab, "apply", sends_psk=True)
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_apply import gpo_apply
        from ..ops.gpo_status import writer_target

        report = gpo_apply(inv, book, targets, writer_target(inv, inventory, lab), journal,
                           forks or book.rollout.forks, _progress if not json_out else (lambda _h, _m: None))
    else:
        report = run_apply(inv, inventory, book, targets, journal, forks or book.rollout.forks,
                           None if json_out else _progress)
    _render(report, json_out, "print_apply", _reports("apply", inv, inventory, lab, report_file, junit))


@app.command()
def status(inventory: InventoryArg = DEFAULT_INVENTORY, json_out: JsonOpt = False, lab: LabOpt = False,
           playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
           report_file: ReportOpt = None, junit: JunitOpt = None) -> None:
    """Verification matrix per pair and drift per host."""
    from ..ops.status import status as run_status

    reports.check(report_file, junit)
    # status rebuilds the journal from the hosts' promotion marks: one run at a time, as for changes.
    inv, book, targets, journal = _prepare(inventory, playbook, lab, "status")
    # status proves what is there now; it does not wait as long as a rollout would.
    quick = book.verify.model_copy(update={"timeout_s": min(book.verify.timeout_s, 15.0)})
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_status import gpo_status, writer_target

        report = gpo_status(inv, targets, writer_target(inv, inventory, lab), quick, book.rollout.forks)
    else:
        report = run_status(inv, targets, journal, quick, book.rollout.forks)
    _render(report, json_out, "print_status", _reports("status", inv, inventory, lab, report_file, junit))


@app.command()
def promote(
    to: Annotated[str, typer.Option("--to", help="require|request")],
    inventory: InventoryOpt = DEFAULT_INVENTORY,
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
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    report_file: ReportOpt = None,
    junit: JunitOpt = None,
) -> None:
    """Switch proven pairs to Require (or back to Request), in waves, with an on-host dead-man's switch."""
    from ..ops.promote import promote as run_promote

    if to not in ("require", "request"):
        raise typer.BadParameter(f"'{to}' is not one of require, request", param_hint="--to")
    reports.check(report_file, junit)
    selected = _parse_pairs(pairs) if pairs else None
    accepted = _parse_addresses(accept_breaking) if accept_breaking is not None else None
    inv = load_inventory(inventory)
    _check_pairs(inv, selected)
    inv, book, targets, journal = _prepare(inventory, playbook, lab, f"promote --to {to}")
    timeout = confirm_timeout or book.promote.confirm_timeout_s
    report = run_promote(inv, book, targets, journal, to, selected, timeout, book.rollout.forks,
                         None if json_out else _progress, skip_drill=skip_drill, accept_breaking=accepted)
    _render(report, json_out, "print_promote", _reports("promote", inv, inventory, lab, report_file, junit))


@app.command()
def rekey(
    inventory: InventoryArg = DEFAULT_INVENTORY,
    pairs: Annotated[str | None, typer.Option("--pairs", help="A:B,C:D (default: every pair)")] = None,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None,
    skip_drill: Annotated[bool, typer.Option(
        "--skip-drill", help="Rekey pairs at Require on hosts without a successful 'doctor --drill' too.")] = False,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
) -> None:
    """Drop the pairs' SAs on both ends and prove them again (behind the dead-man's switch at Require)."""
    from ..ops.rekey import rekey as run_rekey

    selected = _parse_pairs(pairs) if pairs else None
    _check_pairs(load_inventory(inventory), selected)
    inv, book, targets, journal = _prepare(inventory, playbook, lab, "rekey")
    report = run_rekey(inv, book, targets, journal, selected, book.rollout.forks, None if json_out else _progress,
                       skip_drill=skip_drill)
    _render(report, json_out, "print_rekey")


def _check_pairs(inv: Any, selected: list[tuple[str, str]] | None) -> None:
    known = {frozenset((a, b)) for a, b, _ in inv.expanded_pairs()}
    for a, b in selected or []:
        if frozenset((a, b)) not in known:
            raise InputError("--pairs", f"{a}:{b}", "is not a pair of the inventory")


def _parse_addresses(text: str) -> list[str]:
    import ipaddress

    out = []
    for i, item in enumerate(text.split(",")):
        try:
            out.append(str(ipaddress.ip_address(item.strip())))
        except ValueError:
            raise InputError("--accept-breaking", f"[{i}]", f"'{item}' is not an IP address") from None
    return out


def _parse_pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(text.split(",")):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise InputError("--pairs", f"[{i}]", f"'{item}' is not A:B")
        out.append((a, b))
    return out


@app.command()
def rollback(inventory: InventoryOpt = DEFAULT_INVENTORY, json_out: JsonOpt = False, lab: LabOpt = False) -> None:
    """Return every host to its state before the first apply."""
    from ..ops.rollback import rollback as run_rollback

    inv, book, targets, journal = _prepare(inventory, None, lab, "rollback")
    if is_gpo_store(inv.policy.store):
        from ..ops.gpo_apply import gpo_rollback
        from ..ops.gpo_status import writer_target

        report = gpo_rollback(inv, targets, writer_target(inv, inventory, lab), journal, book.rollout.forks)
    else:
        report = run_rollback(inv, targets, journal, book.rollout.forks)
    _render(report, json_out, "print_rollback")


@app.command()
def doctor(inventory: InventoryArg = DEFAULT_INVENTORY, json_out: JsonOpt = False, lab: LabOpt = False,
           drill: Annotated[bool, typer.Option(
               "--drill", help="Also fire a harmless dead-man's switch on every host and check it ran as "
                               "SYSTEM (needed before promote --to require).")] = False,
           playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook file.")] = None) -> None:
    """Preflight: services, firewall, merge setting, clock, overlapping rules, WinRM; --drill tests the switch."""
    from ..ops.status import doctor as run_doctor

    # --drill arms tasks on the hosts and records each drill: it takes the run lock and the real journal.
    inv, book, targets, journal = _prepare(inventory, playbook, lab, "doctor --drill" if drill else None,
                                           gpo_command="doctor --drill" if drill else "doctor")
    findings = run_doctor(inv, targets, book.rollout.forks)
    drills: list[Any] = []
    if drill:
        from ..ops.drill import drill as run_drill

        drills = run_drill(inv, targets, journal, book.rollout.forks, book.promote.revert_wait_s)
    ok = not any(f.severity == "error" for f in findings) and all(d.ok for d in drills)
    if json_out:
        doc: dict[str, Any] = {"findings": [f.to_json() for f in findings], "ok": ok}
        if drill:
            doc["drills"] = {d.host: d.to_json() for d in drills}
        typer.echo(dumps(doc))
    else:
        from ..report.console import print_doctor, print_drills

        print_doctor(findings, _console())
        if drill:
            print_drills(drills, _console())
    raise typer.Exit(0 if ok else 1)


@app.command()
def history(
    inventory: InventoryArg = DEFAULT_INVENTORY,
    json_out: JsonOpt = False,
    lab: LabOpt = False,
    run: Annotated[int | None, typer.Option("--run", min=1, help="Show one run in detail.")] = None,
) -> None:
    """Runs recorded in the journal: command, who, when, result, hosts, pairs, waves and reverts."""
    from .history import show

    show(inventory, lab, json_out, run)


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
    inventory: InventoryArg = DEFAULT_INVENTORY,
    faults: Annotated[Path | None, typer.Option("--faults", help="Fault file (TOML).")] = None,
    rtt_ms: Annotated[int, typer.Option("--rtt-ms", min=0, max=10000)] = 0,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background.")] = False,
    auth: Annotated[str, typer.Option("--auth", help="Listener authentication: default (Basic over https, NTLM "
                                      "over http), basic, ntlm, kerberos (runs a KDC) or certificate.")] = "default",
) -> None:
    """Start a simulated fleet from the inventory."""
    from .lab import up

    load_inventory(inventory)
    up(inventory, faults, rtt_ms, detach, auth)


@lab_app.command("inspect")
def lab_inspect(inventory: InventoryArg = DEFAULT_INVENTORY, json_out: JsonOpt = False) -> None:
    """Objects, SAs, call log, reachability, tasks and events per lab host."""
    from .lab import inspect

    inspect(inventory, json_out)


@lab_app.command("down")
def lab_down(inventory: InventoryArg = DEFAULT_INVENTORY) -> None:
    """Stop the simulated fleet."""
    from .lab import down

    down(inventory)


def _stop_at_boundaries() -> None:
    """From now on (a command that runs steps), the first Ctrl-C asks it to stop at its next step boundary;
    a second one stops at once. ``main`` puts the previous handler back."""
    def handler(_signum: int, _frame: FrameType | None) -> None:
        if interrupt.requested():
            raise KeyboardInterrupt
        interrupt.request()
        sys.stderr.write("ipsec-remote: Ctrl-C: stopping at the next step boundary (Ctrl-C again to stop now)\n")
        sys.stderr.flush()

    # Not the main thread (an embedding program): ValueError, and its own handling is left alone.
    with contextlib.suppress(ValueError):
        _state["sigint"] = signal.signal(signal.SIGINT, handler)


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
        if "sigint" in _state:
            signal.signal(signal.SIGINT, _state.pop("sigint"))
        lock = _state.pop("lock", None)
        if lock is not None:
            lock.release()
        _state.pop("journal", None)
    for line in lines:
        typer.echo(one_line(line), err=True)
    sys.exit(code)
