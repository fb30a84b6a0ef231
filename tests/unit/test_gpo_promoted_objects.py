"""Promotion through the GPO: promoted host pairs get their own rules, carved out of their entry's Request
rules, so each flow meets our rules of one security only — and each end enforces the pair's security under
every reading of rule precedence the lab offers (windows-behaviour.md §1: undocumented)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ipsec_remote.lab.ike.matching import effective_rule, rule_matches
from ipsec_remote.lab.ike.matching import endpoints as flow_endpoints
from ipsec_remote.lab.ike.model import Assumptions, CsRule, Flow, HostPolicy
from ipsec_remote.model.desired import Kind, Security
from ipsec_remote.model.gpo_desired import gpo_objects
from ipsec_remote.model.inventory import Inventory, load_inventory

ROOT = Path(__file__).resolve().parents[2]
REQUIRE = Security("Require", "Request")
PROMOTIONS = {
    "one pair of a group entry": {("web01", "sql01"): REQUIRE},
    "a whole row and a host entry": {("web02", "sql01"): REQUIRE, ("web02", "sql02"): REQUIRE,
                                     ("sql01", "sql02"): REQUIRE},
    "everything": None,
}
READINGS = list(itertools.product(("local_remote", "mirrored"), (True, False),
                                  ("most_restrictive", "least_restrictive", "first_listed", "error")))


def three_tier() -> Inventory:
    return load_inventory(ROOT / "examples" / "three-tier-local.toml")


def _tuple(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ("Any",)


def cs_rules(inv: Inventory, promoted: dict[tuple[str, str], Security]) -> tuple[CsRule, ...]:
    out = []
    for obj in gpo_objects(inv, promoted):
        if obj.kind in (Kind.RULE, Kind.EXEMPTION):
            p = obj.params
            out.append(CsRule(obj.name, inbound_security=str(p["InboundSecurity"]),  # type: ignore[arg-type]
                              outbound_security=str(p["OutboundSecurity"]),  # type: ignore[arg-type]
                              local_address=_tuple(p.get("LocalAddress")),
                              remote_address=_tuple(p.get("RemoteAddress")),
                              protocol=str(p.get("Protocol", "Any")), local_port=_tuple(p.get("LocalPort")),
                              remote_port=_tuple(p.get("RemotePort"))))
    return tuple(out)


@pytest.mark.parametrize("case", sorted(PROMOTIONS))
@pytest.mark.parametrize("reading", READINGS, ids=lambda r: "-".join(map(str, r)))
def test_each_end_enforces_the_pairs_security(case: str, reading: tuple[str, bool, str]) -> None:
    inv = three_tier()
    promoted = PROMOTIONS[case] or {(a, b): REQUIRE for a, b, _ in inv.expanded_pairs()}
    rules = cs_rules(inv, promoted)
    assumptions = Assumptions(cs_rule_endpoints=reading[0], address_size_breaks_ties=reading[1],  # type: ignore[arg-type]
                              tie_break=reading[2])  # type: ignore[arg-type]
    checked = 0
    for a, b, pair in inv.expanded_pairs():
        want = promoted.get((a, b), Security())
        port = pair.ports[0] if pair.ports else pair.probe_port
        ha, hb = inv.host(a), inv.host(b)
        flow = Flow(a, ha.address, hb.address, "TCP", 49152, port)
        for host, direction in ((ha, "outbound"), (hb, "inbound")):
            policy = HostPolicy(host.name, (host.address,), cs_rules=rules)
            ours = {(r.inbound_security, r.outbound_security) for r in rules
                    if rule_matches(r, policy, flow_endpoints(flow, direction), assumptions)}  # type: ignore[arg-type]
            assert ours == {(want.inbound, want.outbound)}, (a, b, host.name, ours)  # one security, no overlap
            rule = effective_rule(policy, flow, direction, assumptions)  # type: ignore[arg-type]
            assert rule is not None and (rule.inbound_security, rule.outbound_security) == (want.inbound,
                                                                                             want.outbound)
            checked += 1
    assert checked == 2 * len(inv.expanded_pairs())


def test_promotion_keeps_the_unpromoted_objects_and_names_each_object_once() -> None:
    inv = three_tier()
    plain = {o.name: o.params for o in gpo_objects(inv)}
    promoted = {o.name: o.params for o in gpo_objects(inv, {("web01", "sql01"): REQUIRE})}
    assert len(promoted) == len(list(gpo_objects(inv, {("web01", "sql01"): REQUIRE})))
    new = sorted(set(promoted) - set(plain))
    assert new == ["ipsec-remote-gpair-g.web-g.sql-row.web01-ab", "ipsec-remote-gpair-g.web-g.sql-row.web01-ba",
                   "ipsec-remote-gpromo-web01-sql01-ab", "ipsec-remote-gpromo-web01-sql01-ba"], new
    assert promoted["ipsec-remote-gpromo-web01-sql01-ba"]["LocalAddress"] == [inv.host("sql01").address]
    assert promoted["ipsec-remote-gpair-g.web-g.sql-ab"]["LocalAddress"] == [
        inv.host("web02").address, inv.host("web03").address]  # web01 carved out of the zone rule
    assert gpo_objects(inv, {("web01", "sql01"): Security()}) == gpo_objects(inv)  # Request is no promotion
