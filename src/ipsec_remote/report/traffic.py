"""Console rendering of observations (observe, status) and of what a promotion would break."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ..journal.observations import ClearFlow, Observation
    from ..ops.observe import ObserveReport
    from ..ops.wouldbreak import Breaking

TICK, CROSS = "✓", "✗"


def flow_text(f: ClearFlow) -> str:
    arrow = "→" if f.direction == "inbound" else "←"
    blocked = " (blocked already)" if f.blocked else ""
    return (f"{f.remote_address} {arrow} {f.protocol}/{f.port} {f.direction}, seen {f.count}×, "
            f"last {f.last_seen[:19]}Z{blocked}")


def print_observe(report: ObserveReport, console: Console) -> None:
    table = Table(title=f"Flows not protected by IPsec ({report.window_s:g} s window)")
    for col in ("host", "samples", "clear-text peers", "protected peers", "sources"):
        table.add_column(col)
    for host, obs in sorted(report.observations.items()):
        sources = obs.detail.get("sources", {})
        table.add_row(host, str(obs.samples), "\n".join(flow_text(f) for f in obs.flows) or "none",
                      ", ".join(obs.detail.get("protected_peers", [])) or "none",
                      "\n".join(f"{k}: {v}" for k, v in sources.items()))
    console.print(table)
    for host, reason in sorted(report.failed_hosts.items()):
        console.print(f"{CROSS} {host}: {reason}")
    for host, entry in sorted(report.audit.items()):
        if "problem" in entry:
            console.print(f"{CROSS} {host}: connection auditing: {entry['problem']}")


def clear_text_lines(obs: Observation | None) -> str:
    if obs is None:
        return "not observed"
    return "\n".join(flow_text(f) for f in obs.flows) or "none"


def breaking_lines(items: Iterable[Breaking]) -> list[str]:
    return [f"{b.host}: {b.rule} would cut off {flow_text(b.flow)}" for b in items]
