"""What the hosts say, read in one round trip per host: owned objects and facts (``read_state``), names
outside our group and promotion marks (``read_names``). The hosts are the source of truth: promotions the
journal lacks are rebuilt from the marks, promotions the hosts no longer carry are dropped from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.store import Journal
from ..model.calls import CmdletCall
from ..model.desired import ISOLATION, Security, desired_objects, isolation_rule_name, pair_rule_name
from ..model.inventory import Inventory
from ..plan.planner import ObservedObject, same_value
from ..remote.hoststate import HostState, parse_state
from ..remote.names import HostNames, clashes, parse_mark, parse_names
from ..remote.sessions import Fleet
from ..remote.transport import HostSession

Key = tuple[str, str]  # a pair (a, b), or (host, ISOLATION) for a host's isolation rule
Steps = list[tuple[str, dict[str, Any]]]


class ReadFailed(IpsecRemoteError):
    """A host's read pipeline returned no state."""


def read_steps(inv: Inventory) -> Steps:
    params = {"Group": inv.policy.group, "PolicyStore": inv.policy.store}
    return [("read_state", params), ("read_names", params)]


def split_read(host: str, objects: list[Any], inv: Inventory) -> tuple[HostState, HostNames, list[dict[str, Any]]]:
    """The read pipeline's output: the state, the names, and what later statements returned."""
    records = [o for o in objects if isinstance(o, dict)]
    state = next((o for o in records if "Rules" in o), None)
    if state is None:
        raise ReadFailed(f"{host}: read_state returned no state")
    names = next((o for o in records if "Unowned" in o), {})
    rest = [o for o in records if o is not state and o is not names]
    return parse_state(state, inv.policy.group, inv.auth.psk_env), parse_names(names), rest


def read_fleet(fleet: Fleet, inv: Inventory, extra: Callable[[str], Steps] | None = None,
               hosts: list[str] | None = None, cleanup: bool = False
               ) -> tuple[dict[str, HostState], dict[str, HostNames]]:
    """Every live host (or those of ``hosts``) read in one pipeline each (plus ``extra(host)`` statements
    riding along); ``cleanup``: also after a Ctrl-C (Fleet.each)."""
    states, names, _ = read_fleet_with(fleet, inv, extra, hosts, cleanup)
    return states, names


def read_fleet_with(fleet: Fleet, inv: Inventory, extra: Callable[[str], Steps] | None = None,
                    hosts: list[str] | None = None, cleanup: bool = False
                    ) -> tuple[dict[str, HostState], dict[str, HostNames], dict[str, list[dict[str, Any]]]]:
    """``read_fleet``, and what each host's ``extra`` statements returned (in order)."""
    names: dict[str, HostNames] = {}
    rest: dict[str, list[dict[str, Any]]] = {}

    def read(host: str, session: HostSession) -> HostState:
        out = session.run_statements(read_steps(inv) + (extra(host) if extra else []))
        state, names[host], rest[host] = split_read(host, out.objects, inv)
        return state

    states = fleet.each(read, hosts, cleanup=cleanup)
    return states, {h: names[h] for h in states}, {h: rest[h] for h in states}


def without_marks(state: HostState) -> HostState:
    """The state as the planner sees it: a rule's Description that carries promote's mark is managed by
    promote only — never drift. Any other Description is compared like every other parameter."""
    observed = [ObservedObject(o.kind, o.name, {k: v for k, v in o.params.items()
                                                if not (k == "Description" and parse_mark(str(v)) is not None)})
                for o in state.observed]
    return HostState(observed, state.facts)


def _keys(inv: Inventory) -> list[tuple[Key, tuple[str, ...], str]]:
    out: list[tuple[Key, tuple[str, ...], str]] = [((a, b), (a, b), pair_rule_name(inv.policy.group, a, b))
                                                   for a, b, _ in inv.expanded_pairs()]
    if inv.policy.server_isolation:
        paired = sorted({h for a, b, _ in inv.expanded_pairs() for h in (a, b)})
        out += [((h, ISOLATION), (h,), isolation_rule_name(inv.policy.group)) for h in paired]
    return out


def _rule_security(state: HostState, rule: str) -> tuple[str, str] | None:
    found = next((o for o in state.observed if o.name.lower() == rule.lower()), None)
    if found is None:
        return None
    return str(found.params.get("InboundSecurity")), str(found.params.get("OutboundSecurity"))


def kept_security(inv: Inventory, states: Mapping[str, HostState], journal: Journal,
                  names: Mapping[str, HostNames] | None = None) -> dict[Key, Security]:
    """Promotions to keep: recorded in the journal, or marked on the hosts by promote, and carried.

    apply never raises a rule's security on its own — only promote does, behind its dead-man's switch.
    A promotion counts while every host read carries it on the rule (a host that could not be read keeps
    what the journal says); one missing or changed converges back to Request/Request. With ``names``, a
    promotion the journal lacks is kept when every host concerned carries it *and* its mark.
    """
    recorded = journal.pair_security()
    kept: dict[Key, Security] = {}
    for key, hosts, rule in _keys(inv):
        read = [h for h in hosts if h in states]
        if not read:
            if key in recorded:
                kept[key] = Security(*recorded[key])
            continue
        carried = {_rule_security(states[h], rule) for h in read}
        if len(carried) != 1:
            continue
        (sec,) = carried
        if sec is None or (same_value(sec[0], "Request") and same_value(sec[1], "Request")):
            continue
        if key in recorded:
            want = recorded[key]
            if same_value(sec[0], want[0]) and same_value(sec[1], want[1]):
                kept[key] = Security(*want)
        elif names is not None and len(read) == len(hosts) and all(
                names.get(h) is not None and names[h].mark(rule) == sec for h in hosts):
            kept[key] = Security(*sec)
    return kept


def sync_journal(inv: Inventory, states: Mapping[str, HostState], names: Mapping[str, HostNames],
                 journal: Journal) -> list[str]:
    """Make the journal's promotions what the hosts carry; one note per correction."""
    kept = kept_security(inv, states, journal, names)
    recorded = journal.pair_security()
    notes: list[str] = []
    rebuilt = []
    for key, sec in kept.items():
        if recorded.get(key) != (sec.inbound, sec.outbound):
            journal.set_pair_security(key[0], key[1], sec.inbound, sec.outbound)
            rebuilt.append(f"{_label(key)} {sec.inbound}/{sec.outbound}")
    if rebuilt:
        notes.append(f"journal {journal.path}: promotion(s) rebuilt from the marks on the hosts: "
                     + ", ".join(rebuilt))
    for key, (inbound, outbound) in recorded.items():
        if key not in kept and all(h in states for h in ((key[0],) if key[1] == ISOLATION else key)):
            journal.drop_pair_security(*key)
            notes.append(f"journal: {_label(key)} was recorded at {inbound}/{outbound}, but the hosts no longer "
                         "carry it: back to Request/Request")
    if journal.created and any(made_by_us(o, inv.policy.group) for s in states.values() for o in s.observed):
        notes.append(f"journal {journal.path} was missing but the hosts carry objects this tool made: rebuilt "
                     "from the hosts (promotions from the marks promote leaves on each rule); rollback will "
                     "remove those objects")
    return notes


def _label(key: Key) -> str:
    return f"{key[0]} isolation rule" if key[1] == ISOLATION else f"{key[0]}:{key[1]}"


def name_clashes(inv: Inventory, names: Mapping[str, HostNames]) -> dict[str, str]:
    """Hosts where an object outside our group holds a name we need, as one reason line each."""
    desired = desired_objects(inv)
    out: dict[str, str] = {}
    for host, found in names.items():
        taken = clashes(desired[host].objects, found)
        if taken:
            out[host] = (f"{host}: name clash in {inv.policy.store}: "
                         + "; ".join(u.describe() for u in taken)
                         + f" already exist(s) outside group '{inv.policy.group}' — rename or remove them "
                         "(or set another policy.group); nothing was sent to this host")
    return out


def made_by_us(obj: ObservedObject, group: str) -> bool:
    """Named and titled the way this tool names its objects (model/desired.py): made by an earlier run."""
    g = re.escape(group)
    named = re.fullmatch(rf"{g}-(exempt-(dc|dns|dhcp|other|controller)|mm|qm|p1|mm-peers|isolation|pair-.+"
                         # GPO mode's (model/gpo_desired.py)
                         r"|mm-pairs|gpair-.+|gpromo-.+)",
                         obj.name, re.IGNORECASE)
    return bool(named) and str(obj.params.get("DisplayName", "")).startswith(f"{group}: ")


def snapshot_objects(state: HostState, group: str) -> list[dict[str, Any]]:
    """The owned objects that existed before we did, for rollback to bring back exactly.

    Objects this tool made (an earlier run whose journal is gone) are left out: rollback removes those.
    """
    out = []
    for o in state.observed:
        if made_by_us(o, group):
            continue
        out.append({"kind": o.kind.value, "name": o.name,
                    "params": CmdletCall("observed", dict(o.params)).to_json()["params"]})
    return out

