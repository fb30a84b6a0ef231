"""The fleet's domain: the inventory's GPO and the faults' GPO stores become shared GPOs held by the
domain controllers and linked to their hosts (lab/host/gpo_domain.py has the behaviour and its sources).

Faults: ``[domain] deny_gpo_edit = ['lab.local\\\\IPsec Isolation']`` takes the admin's edit rights on
those GPOs away (Open-NetGPO, Save-NetGPO and direct edits are denied; reading still works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..host import LabHost
from ..host.gpo_domain import DomainLink, LabDomain, copied
from ..host.gpupdate import refresh_now
from ..host.model import KINDS
from .spec import FleetSpec, LabConfigError


@dataclass
class DomainFaults:
    deny_gpo_edit: list[str] = field(default_factory=list)


def parse_domain(table: Any, label: str) -> DomainFaults:
    if not isinstance(table, dict):
        raise LabConfigError(label, "domain", "must be a table")
    out = DomainFaults()
    for key, value in table.items():
        if key != "deny_gpo_edit":
            raise LabConfigError(label, f"domain.{key}", "unknown fault key")
        if not isinstance(value, list) or not all(isinstance(v, str) and "\\" in v for v in value):
            raise LabConfigError(label, f"domain.{key}", "must be a list of 'domain\\GPO name' strings")
        out.deny_gpo_edit = list(value)
    return out


def build_domain(name: str, spec: FleetSpec, hosts: dict[str, LabHost], faults: DomainFaults) -> LabDomain:
    domain = LabDomain(name, [h.name for h in spec.hosts if h.is_dc])
    joined = [h.name for h in spec.hosts if h.role == "managed" and hosts[h.name].config.domain_joined]
    if spec.policy_store.lower() != "persistentstore":
        domain.add_gpo(spec.policy_store, joined)  # linked to the inventory's managed hosts
    for host_name, host in hosts.items():
        # A GPO store the faults put objects in: one shared GPO holding every host's objects (first wins).
        for store in host.stores.gpo_list():
            gpo = domain.add_gpo(store.name, [host_name])
            for kind in KINDS:
                for obj in store.list(kind):
                    if gpo.store.get(kind, obj.name) is None:
                        gpo.store.add(copied(obj))
    domain.deny_edit = {n.lower() for n in faults.deny_gpo_edit}
    for spec_host in spec.hosts:
        host = hosts[spec_host.name]
        host.stores.domain = DomainLink(domain, spec_host.name, spec_host.is_dc)
        refresh_now(host)  # policy as it stands when the lab starts
    return domain
