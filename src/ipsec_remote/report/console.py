"""Human rendering of apply, status and doctor reports (rich tables on stdout)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ..ops.apply import ApplyReport
from ..ops.drill import DrillResult
from ..ops.promote import PromoteReport
from ..ops.rollback import RollbackReport
from ..ops.status import Finding, StatusReport
from ..ops.verify import PairResult
from .traffic import breaking_lines, clear_text_lines

TICK, CROSS = "✓", "✗"


def _pair_table(title: str, pairs: list[PairResult], security: dict[tuple[str, str], tuple[str, str]]) -> Table:
    table = Table(title=title)
    for col in ("pair", "verified", "main mode", "quick mode", "in/out", "problems"):
        table.add_column(col)
    for p in pairs:
        sa = p.sa_summary()
        mm = sa["mm"]
        qm = sa["qm"]
        inbound, outbound = security.get((p.a, p.b), ("?", "?"))
        table.add_row(
            f"{p.a} <-> {p.b}", TICK if p.verified else CROSS,
            f"{TICK} {mm['cipher']}/{mm['hash']}/{mm['group']}" if mm else CROSS,
            f"{TICK} {qm['cipher']}/{qm['integrity']}" if qm else CROSS,
            f"{inbound}/{outbound}", "\n".join(p.problems))
    return table


def print_apply(report: ApplyReport, console: Console) -> None:
    s = report.summary
    if not any(s.values()):
        console.print("No changes: every reachable host already matches the inventory.")
    else:
        console.print(f"Applied: {s['add']} added, {s['change']} changed, {s['destroy']} destroyed "
                      f"({sum(report.sent.values())} calls sent).")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"[red]{CROSS} {host}: {reason}[/red]")
    _print_audit(report.audit, console)
    if report.pairs:
        console.print(_pair_table("Pair verification", report.pairs, report.security))
    bad = [p for p in report.pairs if not p.verified]
    if report.ok:
        console.print(f"{TICK} all {len(report.pairs)} pair(s) verified.")
    else:
        console.print(f"{CROSS} {len(report.failed_hosts)} host(s) failed, {len(bad)} pair(s) not verified.")


def print_status(report: StatusReport, console: Console) -> None:
    console.print(_pair_table("IPsec status", report.pairs, report.security))
    table = Table(title="Hosts")
    for col in ("host", "reachable", "drift", "clear-text peers (last observe)"):
        table.add_column(col)
    for host, ok in report.reachable.items():
        drift = report.drift.get(host) or []
        table.add_row(host, TICK if ok else f"{CROSS} {report.unreachable_reason.get(host, '')}",
                      "\n".join(drift) if drift else "none", clear_text_lines(report.observations.get(host)))
    console.print(table)
    print_switches(report, console)


def print_switches(report: StatusReport, console: Console) -> None:
    """Reverts armed on the hosts now, and what became of the latest promotion's reverts."""
    for armed in report.armed_reverts:
        console.print(f"  armed revert — {armed.describe()}")
    for revert in report.reverts:
        if revert["status"] == "reverted-before-confirm":
            console.print(f"  wave {revert['wave']} reverted on {revert['host']}: its revert fired before the "
                          "controller confirmed")
        elif revert["status"] not in ("armed", "aborted"):
            console.print(f"  wave {revert['wave']} on {revert['host']}: {revert['status']}")


def print_doctor(findings: list[Finding], console: Console) -> None:
    if not findings:
        console.print(f"{TICK} no problems found.")
        return
    table = Table(title="Preflight findings")
    for col in ("host", "severity", "problem", "what to do"):
        table.add_column(col)
    for f in findings:
        table.add_row(f.host, f.severity, f.problem, f.fix)
    console.print(table)


def print_drills(drills: list[DrillResult], console: Console) -> None:
    table = Table(title="Dead-man's switch drill")
    for col in ("host", "result", "ran as", "execution policy", "problem"):
        table.add_column(col)
    for d in drills:
        table.add_row(d.host, TICK if d.ok else CROSS, d.ran_as or "-", d.policy or "-", d.problem or "")
    console.print(table)


def print_promote(report: PromoteReport, console: Console) -> None:
    inbound, outbound = report.target
    for host, why in sorted(report.refused.items()):
        console.print(f"{CROSS} {host} refused: {why}")
    for pair, why in sorted(report.skipped.items()):
        console.print(f"  skipped {pair}: {why}")
    if not report.waves:
        console.print(f"Nothing to promote to {inbound}/{outbound}.")
    for wave in report.waves:
        mark = TICK if wave.status == "confirmed" else CROSS
        console.print(f"{mark} wave {wave.number} ({wave.name}): {len(wave.pairs)} pair(s) "
                      f"→ {inbound}/{outbound}: {wave.status}")
        for problem in wave.problems:
            console.print(f"    {problem}")
        for line in breaking_lines(wave.would_break):
            console.print(f"    {CROSS} not promoted: {line}")
    for line in breaking_lines(report.accepted_breaking):
        console.print(f"  accepted (--accept-breaking): {line}")
    if report.would_break:
        console.print("  A rule held back is promoted once each peer above is exempted, made a member with a proven "
                      "pair, or named in --accept-breaking ADDRESS[,…].")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {host}: {reason}")


def _print_audit(audit: dict[str, dict[str, Any]], console: Console) -> None:
    """One line per host whose IPsec audit policy a command changed, or could not."""
    for host, entry in sorted(audit.items()):
        if "problem" in entry:
            console.print(f"{CROSS} {host}: IPsec audit policy: {entry['problem']}")
        elif "after" in entry or "restored" in entry:
            shown = entry.get("after") or entry.get("restored") or {}
            verb = "now" if "after" in entry else "restored to"
            console.print(f"{TICK} {host}: IPsec audit policy {verb} "
                          + ", ".join(f"{k.replace('ipsec_', '').replace('_', ' ')} {v}" for k, v in shown.items()))


def print_rollback(report: RollbackReport, console: Console) -> None:
    for host, count in sorted(report.removed.items()):
        left = report.remaining.get(host) or []
        console.print(f"{TICK if not left else CROSS} {host}: {count} call(s); "
                      + (f"left: {', '.join(left)}" if left else "no owned objects left"))
    for host in report.unreachable_after:
        console.print(f"{CROSS} {host}: not reachable through a new session after rollback")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {host}: {reason} (run rollback again when it is back)")
    _print_audit(report.audit, console)
