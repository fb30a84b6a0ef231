"""--limit as data: which hosts, which pairs are inside or skipped, what a limited plan leaves alone (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.inventory import Inventory, load_inventory
from ipsec_remote.ops.apply import offline_plan
from ipsec_remote.plan.limit import leave_skipped_alone, parse_limit, refuse_rollback_across

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(ROOT / "examples" / "three-tier-local.toml")


@pytest.mark.parametrize(("text", "hosts", "inside", "skipped"), [
    ("sql01", {"sql01"}, [], [("web01", "sql01"), ("web02", "sql01"), ("web03", "sql01"), ("sql01", "sql02")]),
    ("sql", {"sql01", "sql02"}, [("sql01", "sql02")],
     [("web01", "sql01"), ("web01", "sql02"), ("web02", "sql01"), ("web02", "sql02"), ("web03", "sql01"),
      ("web03", "sql02")]),
    ("group:web,sql01", {"web01", "web02", "web03", "sql01"},
     [("web01", "sql01"), ("web02", "sql01"), ("web03", "sql01")],
     [("web01", "sql02"), ("web02", "sql02"), ("web03", "sql02"), ("sql01", "sql02")]),
    (" web02 , web02", {"web02"}, [], [("web02", "sql01"), ("web02", "sql02")]),
])
def test_parse_limit(inv: Inventory, text: str, hosts: set[str], inside: list[tuple[str, str]],
                     skipped: list[tuple[str, str]]) -> None:
    limit = parse_limit(text, inv)
    assert limit.hosts == hosts
    assert list(limit.inside) == inside
    assert [(s.a, s.b) for s in limit.skipped] == skipped
    assert all(set(s.outside) == {s.a, s.b} - hosts for s in limit.skipped)


@pytest.mark.parametrize(("text", "line"), [
    ("sqll01", "--limit: [0]: 'sqll01' is neither a host nor a group of the inventory (did you mean 'sql01'?)"),
    ("sql01,,web01", "--limit: [1]: is empty (HOST or GROUP, comma-separated)"),
    ("group:db", "--limit: [0]: 'group:db' is neither a host nor a group of the inventory"),
])
def test_unknown_names_are_one_line(inv: Inventory, text: str, line: str) -> None:
    with pytest.raises(InputError) as err:
        parse_limit(text, inv)
    assert str(err.value).startswith(line), str(err.value)


def test_a_limited_plan_leaves_the_skipped_pairs_rules_alone(inv: Inventory) -> None:
    limit = parse_limit("web01,sql01", inv)
    plan = leave_skipped_alone(offline_plan(inv), limit, inv.policy.group)
    assert [h.host for h in plan.hosts] == ["web01", "sql01"]
    rules = {h.host: sorted(c.name for c in h.changes if c.name.startswith("ipsec-remote-pair-")) for h in plan.hosts}
    assert rules == {"web01": ["ipsec-remote-pair-web01-sql01"], "sql01": ["ipsec-remote-pair-web01-sql01"]}
    # everything that belongs to the host itself is still planned
    assert any(c.name == "ipsec-remote-mm-peers" for c in plan.hosts[1].changes)


def test_rollback_refuses_to_cut_a_required_pair(inv: Inventory) -> None:
    limit = parse_limit("sql01", inv)
    refuse_rollback_across(limit, {})  # all at Request: the other ends fall back to clear
    refuse_rollback_across(limit, {("web01", "web02"): ("Require", "Request")})  # not a crossing pair
    with pytest.raises(InputError, match="sql01:sql02 is at Require/Request and sql02 is outside the limit"):
        refuse_rollback_across(limit, {("sql01", "sql02"): ("Require", "Request")})
    with pytest.raises(InputError, match="web02's isolation rule is at Require/Request"):
        refuse_rollback_across(limit, {("web02", "*"): ("Require", "Request")})
