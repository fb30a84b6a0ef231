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
from typing import Annotated, NoReturn

import typer

# typer (>= 0.29, pinned in pyproject) vendors click; its usage errors are caught to print one line.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from .. import gcpolicy, interrupt, log
from ..errors import InputError, IpsecRemoteError, ValidationError, one_line
from ..model.inventory import load_inventory
from . import changes, completion, reads, runner
from .observe import observe_command
from .options import InventoryArg, InventoryOpt, JsonOpt, inventory_path

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


# The commands, in the order --help lists them: the read-only ones (cli/reads.py) and the changing ones
# (cli/changes.py) are kept in modules of their own.
app.command()(reads.plan)
app.command()(changes.apply)
app.command()(reads.status)
app.command()(changes.promote)
app.command()(changes.rekey)
app.command()(changes.rollback)
app.command()(reads.doctor)
app.command()(reads.history)


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


app.command("observe")(observe_command)


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    if argv is None:  # a process of its own (tests calling main() in-process keep their GC as it is)
        gcpolicy.freeze_after_full_collections()  # a big fleet's sessions and states live to the end
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
