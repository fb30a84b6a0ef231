"""Human rendering of apply, status, promote, rollback, rekey and doctor reports (rich tables on stdout);
journal notes and what a Ctrl-C left behind as lines for stderr."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..ops.apply import ApplyReport
from ..ops.drill import DrillResult
from ..ops.promote import PromoteReport
from ..ops.proof import host_failure
from ..ops.rekey import RekeyReport
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
            f"{inbound}/{outbound}", escape("\n".join(p.problems)))
    return table


def _counts(s: dict[str, int]) -> str:
    return f"{s['add']} added, {s['change']} changed, {s['destroy']} destroyed"


def print_apply(report: ApplyReport, console: Console) -> None:
    done, planned = report.summary, report.planned
    if not any(planned.values()):
        console.print("No changes: every reachable host already matches the inventory.")
    else:
        console.print(f"Applied: {_counts(done)} ({sum(report.sent.values())} calls sent).")
        for host, left in sorted(report.not_done().items()):
            why = report.failed_hosts.get(host) or ("stopped by Ctrl-C" if report.interrupted else "not sent")
            console.print(f"[red]{CROSS} {host}: {left} planned change(s) not applied — {escape(why)}[/red]")
    for host, reason in sorted(report.failed_hosts.items()):
        if host not in report.not_done():
            console.print(f"[red]{CROSS} {escape(host_failure(host, reason))}[/red]")
    if report.rekeyed:
        console.print(f"Rekeyed (SAs used proposals the inventory no longer has): {', '.join(report.rekeyed)}")
    _print_audit(report.audit, console)
    if report.pairs:
        console.print(_pair_table("Pair verification", report.pairs, report.security))
    bad = [p for p in report.pairs if not p.verified]
    if report.ok:
        console.print(f"{TICK} all {len(report.pairs)} pair(s) verified.")
    elif not report.interrupted:
        console.print(f"{CROSS} {len(report.failed_hosts)} host(s) failed, {len(bad)} pair(s) not verified.")


def print_status(report: StatusReport, console: Console) -> None:
    console.print(_pair_table("IPsec status", report.pairs, report.security))
    table = Table(title="Hosts")
    for col in ("host", "reachable", "drift", "clear-text peers (last observe)"):
        table.add_column(col)
    for host, ok in report.reachable.items():
        drift = report.drift.get(host) or []
        reason = report.unreachable_reason.get(host, "")
        table.add_row(host, TICK if ok else f"{CROSS} {escape(reason)}",
                      escape("\n".join(drift)) if drift else "none" if ok else "unknown (not read)",
                      escape(clear_text_lines(report.observations.get(host))))
    console.print(table)
    verified = sum(1 for p in report.pairs if p.verified)
    drifted = sum(1 for d in report.drift.values() if d)
    down = sum(1 for ok in report.reachable.values() if not ok)
    console.print(f"{TICK if report.ok else CROSS} {verified} of {len(report.pairs)} pair(s) verified, "
                  f"{drifted} host(s) with drift, {down} host(s) not reachable.")
    print_switches(report, console)


def print_switches(report: StatusReport, console: Console) -> None:
    """Reverts armed on the hosts now, and what became of the latest promotion's reverts."""
    for armed in report.armed_reverts:
        console.print(f"  armed revert — {escape(armed.describe())}")
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
        table.add_row(f.host, f.severity, escape(f.problem), escape(f.fix))
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
        console.print(f"  skipped {pair}: {escape(why)}")
    if report.nothing_eligible:
        console.print(f"{CROSS} Nothing promoted: {escape(report.nothing_eligible)}")
    elif not report.waves and not report.interrupted:
        console.print(f"Nothing to promote: every selected pair is already at {inbound}/{outbound}.")
    for wave in report.waves:
        mark = TICK if wave.status == "confirmed" else CROSS
        console.print(f"{mark} wave {wave.number} ({wave.name}): {len(wave.pairs)} pair(s) "
                      f"→ {inbound}/{outbound}: {wave.status}")
        for problem in wave.problems:
            console.print(f"    {escape(problem)}")
        for line in breaking_lines(wave.would_break):
            console.print(f"    {CROSS} not promoted: {escape(line)}")
    for line in breaking_lines(report.accepted_breaking):
        console.print(f"  accepted (--accept-breaking): {escape(line)}")
    if report.would_break:
        console.print("  A rule held back is promoted once each peer above is exempted, made a member with a proven "
                      "pair, or named in --accept-breaking ADDRESS[,…].")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {escape(host_failure(host, reason))}")


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
    for host in sorted(set(report.removed) | set(report.remaining)):
        left = report.remaining.get(host) or []
        restored = report.restored.get(host, 0)
        console.print(f"{TICK if not left else CROSS} {host}: {report.removed.get(host, 0)} object(s) removed, "
                      f"{restored} restored ({report.calls.get(host, 0)} call(s)); "
                      + (f"still differs: {escape(', '.join(left))}" if left else "as before the first apply"))
    for host in report.unreachable_after:
        console.print(f"{CROSS} {host}: not reachable through a new session after rollback")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {escape(host_failure(host, reason))} (run rollback again when it is back)")
    _print_audit(report.audit, console)


def print_rekey(report: RekeyReport, console: Console) -> None:
    if report.pairs:
        console.print(_pair_table("Rekeyed pairs", report.pairs, report.security))
    for problem in report.problems:
        console.print(f"{CROSS} {escape(problem)}")
    if report.reverted:
        console.print(f"{CROSS} back to Request/Request after a failed rekey: {', '.join(report.reverted)}")
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {escape(host_failure(host, reason))}")
    if report.ok:
        console.print(f"{TICK} {len(report.pairs)} pair(s) rekeyed and verified.")


def journal_lines(report: Any) -> list[str]:
    return list(getattr(report, "journal_notes", []) or [])


def interruption_lines(report: Any) -> list[str]:
    """What a Ctrl-C left: where it stopped, what was done, what was not, armed reverts and deadlines."""
    if not getattr(report, "interrupted", None):
        return []
    lines = [f"{report.interrupted}; the run is marked interrupted in the journal"]
    if isinstance(report, ApplyReport):
        lines.append(f"done: {_counts(report.summary)} ({sum(report.sent.values())} calls sent)")
        left = report.not_done()
        lines.append("not done: " + (", ".join(f"{h}: {n} change(s)" for h, n in sorted(left.items()))
                                     if left else "no planned change") + ("; pairs not verified"
                                                                          if not report.pairs else ""))
    elif isinstance(report, PromoteReport):
        lines.append("done: " + (", ".join(f"wave {w.number} {w.status}" for w in report.waves) or "no wave"))
        lines.append("not done: the remaining waves (run promote again to continue)")
    elif isinstance(report, RollbackReport):
        lines.append(f"done: {sum(report.removed.values())} object(s) removed, "
                     f"{sum(report.restored.values())} restored")
        lines.append("not done: the rest of the rollback (run rollback again to finish)")
    elif isinstance(report, RekeyReport):
        lines.append(f"done: {len(report.pairs)} pair(s) rekeyed; not done: the others (run rekey again)")
    armed = getattr(report, "armed_reverts", []) or []
    for r in armed:
        lines.append(f"armed revert on {r.get('text') or r.get('host')} — the host then restores its previous "
                     "rules by itself, unless 'ipsec-remote rollback' removes the revert first")
    if not armed:
        lines.append("no revert is armed by this run ('ipsec-remote status' lists the reverts armed on the hosts)")
    return lines

