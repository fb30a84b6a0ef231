"""The server-isolation rule as every plan shows and every host gets it: its name, display name (what an
admin sees in wf.msc), the sets it binds, Any as its remote address (more specific rules win over it) and
the plan's summary line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.model.desired import Kind, desired_objects
from ipsec_remote.model.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("group", "key_module"), [("ipsec-remote", "IKEv1"), ("corp-iso", "IKEv2")])
def test_the_isolation_rule_of_each_host(group: str, key_module: str) -> None:
    inv = load_inventory(ROOT / "inventory.toml")
    inv = inv.model_copy(update={"policy": inv.policy.model_copy(
        update={"server_isolation": True, "group": group, "key_module": key_module})})
    per_host = desired_objects(inv)
    assert sorted(per_host) == ["app01", "sql01"]
    for host, wanted in per_host.items():
        [rule] = [o for o in wanted.objects if o.name == f"{group}-isolation"]
        assert (rule.kind, rule.summary) == (Kind.RULE, "server isolation Request/Request for any other peer"), host
        assert dict(rule.params) == {
            "IPsecRuleName": f"{group}-isolation",
            "DisplayName": f"{group}: server isolation (all other inbound traffic)",
            "Group": group, "Enabled": "True", "Mode": "Transport", "InboundSecurity": "Request",
            "OutboundSecurity": "Request", "KeyModule": key_module, "QuickModeCryptoSet": f"{group}-qm",
            "Phase1AuthSet": f"{group}-p1", "Profile": "Any"}, host
