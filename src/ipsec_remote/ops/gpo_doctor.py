"""doctor in GPO mode, on the writer: it answers over WinRM, it can open the GPO for editing (a GPO session
that is never saved: no change), and the GPO's objects of our group against the inventory (at the security
the journal's promotions confirmed). The hosts' own checks read their RSOP (cli/reads.py)."""

from __future__ import annotations

from ..journal.store import Journal
from ..model.gpo import gpo_writer_address
from ..model.gpo_desired import gpo_objects
from ..model.inventory import Inventory
from ..plan.planner import plan_host
from ..remote.sessions import open_fleet
from ..remote.transport import HostSession, HostTarget
from .doctor import Finding
from .gpo_status import gpo_promotions
from .hostview import read_fleet
from .status import _drift_line


def gpo_doctor(inv: Inventory, writer: HostTarget, journal: Journal) -> list[Finding]:
    """``journal``: read-only (a lost one's promotions are rebuilt in memory from the GPO's rules)."""
    name = writer.name
    fleet = open_fleet({name: writer}, 1)
    findings: list[Finding] = []
    try:
        def check(_host: str, session: HostSession) -> dict[str, object]:
            out = session.run("gpo_edit_check", {"PolicyStore": inv.policy.store}, retry=False)
            first = out.objects[0] if out.objects else {}
            return first if isinstance(first, dict) else {}

        answer = fleet.each(check).get(name)
        if answer is not None and not answer.get("CanEdit"):
            findings.append(Finding(name, "error", f"cannot open GPO '{inv.policy.store}' for editing: "
                                                   f"{answer.get('Error')}",
                                    "grant the account edit rights on the GPO (Group Policy Management: "
                                    "Delegation), or run as a domain administrator"))
        states, _ = read_fleet(fleet, inv)
        gpo = states.get(name)
        if gpo is not None:
            writes = plan_host(name, gpo_writer_address(inv), gpo_objects(inv, gpo_promotions(inv, gpo, journal)[0]),
                               gpo.observed,
                               inv.policy.store)
            for change in writes.changes:
                findings.append(Finding(name, "warning", f"GPO: {_drift_line(change)}",
                                        "ipsec-remote apply (plan shows the change first)"))
    finally:
        for host, reason in fleet.failed.items():
            findings.append(Finding(host, "error", f"WinRM to the GPO writer: {reason}",
                                    "check the writer's WinRM listener and the credentials"))
        fleet.close()
    return findings
