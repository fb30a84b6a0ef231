"""The GPO's objects are host-independent and give each host exactly the inventory's pairs, however
Windows matches a rule's endpoints (the lab's ``cs_rule_endpoints`` switch: as written, or mirrored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.lab.ike.matching import effective_rule
from ipsec_remote.lab.ike.model import Assumptions, CsRule, Flow, HostPolicy
from ipsec_remote.model.desired import Kind
from ipsec_remote.model.gpo_desired import gpo_objects, gpo_problem
from ipsec_remote.model.inventory import Inventory, load_inventory

ROOT = Path(__file__).resolve().parents[2]
PORTS = (445, 1433, 5022, 3389)


def three_tier() -> Inventory:
    return load_inventory(ROOT / "examples" / "three-tier-local.toml")


def _tuple(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ("Any",)


def cs_rules(inv: Inventory) -> tuple[CsRule, ...]:
    out = []
    for obj in gpo_objects(inv):
        if obj.kind in (Kind.RULE, Kind.EXEMPTION):
            p = obj.params
            out.append(CsRule(obj.name, inbound_security=str(p["InboundSecurity"]),  # type: ignore[arg-type]
                              outbound_security=str(p["OutboundSecurity"]),  # type: ignore[arg-type]
                              local_address=_tuple(p.get("LocalAddress")),
                              remote_address=_tuple(p.get("RemoteAddress")),
                              protocol=str(p.get("Protocol", "Any")), local_port=_tuple(p.get("LocalPort")),
                              remote_port=_tuple(p.get("RemotePort"))))
    return tuple(out)


@pytest.mark.parametrize("endpoints", ["local_remote", "mirrored"])
@pytest.mark.parametrize("protocol", ["TCP", "UDP"])
def test_each_host_gets_exactly_its_pairs(endpoints: str, protocol: str) -> None:
    inv = three_tier()
    assert gpo_problem(inv) is None
    rules = cs_rules(inv)
    assumptions = Assumptions(cs_rule_endpoints=endpoints)  # type: ignore[arg-type]
    wanted = {(a, b, port) for a, b, pair in inv.expanded_pairs() for port in PORTS
              if pair.protocol in ("Any", protocol) and (not pair.ports or port in pair.ports)}
    seen = set()
    for src in inv.hosts:
        for dst in inv.hosts:
            if src is dst:
                continue
            for port in PORTS:
                flow = Flow(src.name, src.address, dst.address, protocol, 49152, port)
                out = effective_rule(HostPolicy(src.name, (src.address,), cs_rules=rules), flow, "outbound",
                                     assumptions)
                inbound = effective_rule(HostPolicy(dst.name, (dst.address,), cs_rules=rules), flow, "inbound",
                                         assumptions)
                # Both ends agree: a pair rule on both, or none on either.
                assert (out is None) == (inbound is None), (src.name, dst.name, port, out, inbound)
                if out is not None:
                    seen.add((src.name, dst.name, port))
    # Initiated from a (b serves the ports) — and for an all-traffic pair from b as well.
    expected = wanted | {(b, a, port) for a, b, port in wanted
                         if next(p for x, y, p in inv.expanded_pairs() if (x, y) == (a, b)).protocol == "Any"}
    assert seen and seen == expected


def test_objects_never_name_a_host_they_do_not_apply_to_twice() -> None:
    names = [o.name for o in gpo_objects(three_tier())]
    assert names and len(names) == len(set(names))


@pytest.mark.parametrize("change,where", [
    ('a = "sql01"\nb = "sql02"', None),
    ('a = "group:sql"\nb = "sql02"', "pairs[1]"),
    ('a = "web01"\nb = "sql01"', "pairs[1]"),
])
def test_inventories_a_gpo_cannot_express_are_found(change: str, where: str | None, tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    local = (ROOT / "examples" / "three-tier-local.toml").read_text()
    path.write_text(local.replace('a = "sql01"\nb = "sql02"', change))
    inv = load_inventory(path)
    problem = gpo_problem(inv)
    assert (problem[0] if problem else None) == where, problem


@pytest.mark.parametrize("policy,where,words", [
    ("store = 'corp\\GPO'", "policy.gpo_writer", "needs the domain controller"),
    ("store = 'corp\\GPO'\ngpo_writer = \"dns01\"", "policy.gpo_writer", "second hop"),
    ("store = 'corp\\GPO'\ngpo_writer = \"web01\"", "policy.gpo_writer", "not a domain controller"),
    ('store = "PersistentStore"\ngpo_writer = "dc01"', "policy.gpo_writer", "only used with a GPO store"),
])
def test_the_gpo_writer_must_be_a_domain_controller(policy: str, where: str, words: str, tmp_path: Path) -> None:
    from ipsec_remote.errors import InputError
    from ipsec_remote.model.gpo import check_gpo

    path = tmp_path / "inventory.toml"
    local = (ROOT / "examples" / "three-tier-local.toml").read_text()
    path.write_text(local.replace('store = "PersistentStore"', policy))
    with pytest.raises(InputError) as err:
        check_gpo(load_inventory(path), str(path))
    assert err.value.key_path == where and words in err.value.problem, str(err.value)
