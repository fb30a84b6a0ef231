"""Background Group Policy refresh: every 90 minutes plus a random 0–30 minutes (windows-behaviour.md §9)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.host.gpo_domain import DomainLink, LabDomain
from ipsec_remote.lab.host.gpupdate import due_refresh
from ipsec_remote.lab.host.model import RULE, PolicyObject

GPO = "lab.local\\IPsec Isolation"


def test_background_refresh_comes_between_90_and_120_minutes() -> None:
    now = [datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)]
    host = LabHost(HostConfig("sql01", "10.10.1.20"), clock=lambda: now[0])
    domain = LabDomain("lab.local", ["dc01"])
    gpo = domain.add_gpo(GPO, ["sql01"])
    host.stores.domain = DomainLink(domain, "sql01", is_dc=False)
    due_refresh(host)  # the first tick schedules the cycle
    gpo.store.add(PolicyObject(RULE, "zone", {"Name": "zone"}))
    applied = []
    for minute in range(1, 125):
        now[0] += timedelta(minutes=1)
        due_refresh(host)
        if host.stores.gpos.get(GPO) is not None and host.stores.gpos[GPO].get(RULE, "zone") is not None:
            applied.append(minute)
    assert applied, "never refreshed"
    assert 90 <= applied[0] <= 120, applied[0]
