"""apply keeps a promotion only while both hosts carry it; it never raises security by itself."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.journal.store import Journal
from ipsec_remote.model.desired import Kind, Security, desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.apply import kept_security, live_plan
from ipsec_remote.plan.planner import ObservedObject
from ipsec_remote.remote.hoststate import HostFacts, HostState

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventory.toml")
PROMOTED = {("app01", "sql01"): Security("Require", "Request")}


def states(sec_on_sql: Security | None, sec_on_app: Security | None) -> dict[str, HostState]:
    out = {}
    for host, sec in (("sql01", sec_on_sql), ("app01", sec_on_app)):
        objs = desired_objects(INV, {("app01", "sql01"): sec} if sec else {})[host].objects
        observed = [ObservedObject(o.kind, o.name, dict(o.params)) for o in objs
                    if sec is not None or o.kind is not Kind.RULE]
        out[host] = HostState(observed, HostFacts())
    return out


def test_promotion_carried_by_both_hosts_is_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.set_pair_security("app01", "sql01", "Require", "Request")
    now = states(PROMOTED[("app01", "sql01")], PROMOTED[("app01", "sql01")])
    assert kept_security(INV, now, journal) == PROMOTED
    assert live_plan(INV, now, journal).empty


def test_rebuilt_host_gets_request_not_require(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.set_pair_security("app01", "sql01", "Require", "Request")
    now = states(None, PROMOTED[("app01", "sql01")])  # sql01 lost its rules (rebuilt)
    assert kept_security(INV, now, journal) == {}
    plan = live_plan(INV, now, journal)
    new_rules = [c for c in plan.hosts[0].calls if c.cmdlet == "New-NetIPsecRule" and "pair" in str(c.params)]
    assert new_rules and all(c.params["InboundSecurity"] == "Request" for c in new_rules)
    app_changes = [c for h in plan.hosts if h.host == "app01" for c in h.calls]
    assert [(c.cmdlet, c.params.get("InboundSecurity")) for c in app_changes] == [("Set-NetIPsecRule", "Request")]
