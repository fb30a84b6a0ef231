"""What every command that contacts hosts does around its one core call: check the input and take the
journal's run lock (``prepare``), feed the operator and the log with the ops' events (``events``), render the
result and exit (``render``). Kept apart from the modules that declare the commands (app.py, reads.py, changes.py)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import typer

from .. import interrupt, log
from ..errors import InputError
from ..model.gpo import is_gpo_store, refuse_gpo_store
from ..model.inventory import check_run, load_inventory
from ..plan.render import dumps
from . import reports
from .options import limit_for, limit_lines, only_limited


def without_host(host: str, reason: str) -> str:
    return reason[len(host) + 2:] if reason.startswith(f"{host}: ") else reason


state: dict[str, Any] = {}  # the journal and run lock of this command, for Ctrl-C and release


def prepare(inventory: Path, playbook: Path | None, lab: bool, command: str | None = None,
            sends_psk: bool = False, limit: str | None = None,
            gpo_command: str | None = None) -> tuple[Any, Any, Any, Any, Any]:
    """Everything that can be wrong with the input is checked here, before any host is contacted; a
    command that changes hosts (``command``) also takes the journal's run lock. The targets are only the
    hosts of ``--limit`` when it is given. ``gpo_command`` names the command for the GPO-store check when
    it differs from ``command``."""
    from ..journal.lock import RunLock
    from ..journal.store import Journal
    from ..model.playbook import load_playbook
    from ..remote.connect import journal_path, targets_for

    inv = load_inventory(inventory)
    warn_weak_crypto(inv, inventory)
    book = load_playbook(playbook, inventory)
    check_run(inv, str(inventory), lab=lab, sends_psk=sends_psk)
    refuse_gpo_store(inv, str(inventory), gpo_command or command or "plan")
    scope = limit_for(limit, inv)
    if scope is not None and is_gpo_store(inv.policy.store):
        # One GPO reaches every host linked to it at its next refresh: a host-by-host limit would be a promise
        # the GPO cannot keep.
        raise InputError("--limit", limit or "", f"policy.store '{inv.policy.store}' is a GPO: its changes reach "
                                                 "every linked host, so --limit does not apply")
    targets = only_limited(targets_for(inv, inventory, lab), scope)
    path = journal_path(inventory, lab)
    if command is not None:
        lock = RunLock(path, command).acquire()
        state["lock"] = lock
        if lock.stale:
            from ..journal.lock import describe

            typer.echo(f"ipsec-remote: took over the journal lock of a run that ended without releasing it "
                       f"({describe(lock.stale)})", err=True)
    journal = Journal(path, read_only=command is None)
    state["journal"] = journal
    if command is not None:
        journal.close_stale_runs()
        stop_at_boundaries()
    return inv, book, targets, journal, scope


def exit_code(report: Any) -> int:
    return 130 if getattr(report, "interrupted", None) else 0 if report.ok else 1


def render(report: Any, json_out: bool, printer: str,
            write_reports: Callable[[dict[str, Any], int], None] | None = None, limit: Any = None) -> NoReturn:
    """Print a command's report (JSON or tables), what a Ctrl-C left, then write the report files (after the
    result is shown, so a failed write never hides it), and exit with its code. With ``--limit``, the JSON
    gains ``limit`` (hosts, skipped_pairs) and the text lists the skipped pairs."""
    from ..report import console

    code = exit_code(report)
    view = state.pop("view", None)
    if view is not None:
        view.close()  # the live display ends before the result is printed
    rollback = printer == "print_rollback"
    if json_out:
        typer.echo(dumps({**report.to_json(), **({"limit": limit.to_json(rollback)} if limit is not None else {})}))
    else:
        getattr(console, printer)(report, rich_console())
        for line in limit_lines(limit, rollback):
            typer.echo(line)
    for line in console.preflight_lines(report) + console.journal_lines(report) + console.interruption_lines(report):
        typer.echo(f"ipsec-remote: {line}", err=True)
    if write_reports is not None:
        write_reports(report.to_json(), code)
    raise typer.Exit(code)


def report_writer(command: str, inv: Any, inventory: Path, lab: bool, report_file: Path | None,
             junit: Path | None) -> Callable[[dict[str, Any], int], None]:
    return lambda result, code: reports.write(command, result, inv, inventory, lab, report_file, junit, code)


def warn_weak_crypto(inv: Any, inventory: Path) -> None:
    from ..model.crypto_lint import weak_warnings

    for line in weak_warnings(inv, str(inventory)):
        typer.echo(f"ipsec-remote: {line}", err=True)


def rich_console() -> Any:
    from rich.console import Console

    # Piped output (CI logs, `| less`) gets a readable width instead of rich's 80-column fallback.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def events(json_out: bool) -> Callable[[str, str], None]:
    """The ``say`` callback given to ops: every event goes to the log (--log-file), and unless --json to the
    operator's terminal (report/progress.py: a live display on a terminal, plain lines when piped)."""
    from ..events import data_of, kind_of
    from ..report.progress import open_view

    logger = log.get_logger()
    view = None if json_out else open_view()
    if view is not None:
        state["view"] = view

    def say(host: str, message: str) -> None:
        logger.info(str(message), host=host, kind=kind_of(message), **data_of(message))
        if view is not None:
            view(host, message)

    return say


def limited_pairs(selected: list[tuple[str, str]] | None, scope: Any) -> list[tuple[str, str]] | None:
    """The pairs a limited promote or rekey may touch: inside the limit (and among --pairs, if given)."""
    if scope is None:
        return selected
    wanted = None if selected is None else {frozenset(p) for p in selected}
    return [p for p in scope.inside if wanted is None or frozenset(p) in wanted]


def check_pairs(inv: Any, selected: list[tuple[str, str]] | None) -> None:
    known = {frozenset((a, b)) for a, b, _ in inv.expanded_pairs()}
    for a, b in selected or []:
        if frozenset((a, b)) not in known:
            raise InputError("--pairs", f"{a}:{b}", "is not a pair of the inventory")


def parse_pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(text.split(",")):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise InputError("--pairs", f"[{i}]", f"'{item}' is not A:B")
        out.append((a, b))
    return out


def stop_at_boundaries() -> None:
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
        state["sigint"] = signal.signal(signal.SIGINT, handler)


def parse_addresses(text: str) -> list[str]:
    """``--accept-breaking ADDRESS[,…]``: IP addresses, each checked."""
    import ipaddress

    out = []
    for i, item in enumerate(text.split(",")):
        try:
            out.append(str(ipaddress.ip_address(item.strip())))
        except ValueError:
            raise InputError("--accept-breaking", f"[{i}]", f"'{item}' is not an IP address") from None
    return out
