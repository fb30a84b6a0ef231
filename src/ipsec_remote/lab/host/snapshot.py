"""The JSON shape of one host for ``lab inspect --json`` (DESIGN §5; extra keys are allowed there)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..values import CaseInsensitiveDict, PSObject
from .model import KINDS, PolicyObject, Store

if TYPE_CHECKING:
    from .state import LabHost


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dict, CaseInsensitiveDict)):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, PSObject):
        return {k: jsonable(v) for k, v in value.properties.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def object_json(obj: PolicyObject) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": obj.name, **jsonable(obj.props)}
    if obj.filters:
        out["filters"] = jsonable(obj.filters)
    if obj.kind.proposal_cim is not None:
        out["proposals"] = [{"cmdlet": p.cmdlet, "params": jsonable(p.values)} for p in obj.proposals]
    return out


def store_json(entries: dict[str, list[PolicyObject]]) -> dict[str, list[dict[str, Any]]]:
    return {kind.key: [object_json(o) for o in entries.get(kind.key, [])] for kind in KINDS}


def _store(store: Store) -> dict[str, list[dict[str, Any]]]:
    return store_json({k.key: store.list(k) for k in KINDS})


def build_snapshot(host: LabHost) -> dict[str, Any]:
    stores = host.stores
    active = {k.key: [o for o, _ in stores.active_entries(k)] for k in KINDS}
    all_stores = [stores.persistent, *stores.gpo_list()]
    return {
        "name": host.name,
        "address": host.address,
        "os_version": host.config.os_version,
        "domain_joined": host.config.domain_joined,
        "clock": host.now().isoformat(),
        "stores": {s.name: _store(s) for s in all_stores},
        "active_store": store_json(active),
        "local_ipsec_merge": stores.merge_allowed(),
        "settings": {"ActiveStore": jsonable(stores.effective_settings()),
                     **{s.name: jsonable(s.settings) for s in all_stores}},
        "profiles": {p: stores.effective_profile(p) for p in ("Domain", "Private", "Public")},
        "current_profile": stores.current_profile,
        "services": [{"name": s.name, "status": s.status, "start_type": s.start_type}
                     for s in host.services.values()],
        "main_mode_sas": jsonable(host.main_mode_sas),
        "quick_mode_sas": jsonable(host.quick_mode_sas),
        "scheduled_tasks": [t.to_json() for t in host.tasks.values()],
        "audit": host.audit.snapshot(),
        "events": [{"id": e.id, "time": e.time.isoformat(), "message": e.message, "data": jsonable(e.data)}
                   for e in host.events],
        "calls": jsonable(host.calls),
        "files": sorted(host.files.snapshot()),
        "probes": jsonable(host.probes),
        "listening_ports": list(host.config.listening_ports),
        "firewall_allows": list(host.config.allowed_ports),
    }
