"""remote/hoststate.py against what a host really reports: the desired objects of an inventory are created on
a lab host by the product's own batch script, read back by read_state.ps1 (through the same CLIXML path as
PSRP), and parsed — every object comes back as it was asked for, plus the values Windows fills in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inprocess.harness import _to_client, _to_lab
from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.model.desired import desired_objects
from ipsec_remote.model.inventory import load_toml, parse_inventory
from ipsec_remote.plan.planner import plan_host
from ipsec_remote.remote import transport
from ipsec_remote.remote.hoststate import parse_state
from ipsec_remote.remote.sessions import batch_data
from ipsec_remote.remote.transport import script_text

ROOT = Path(__file__).resolve().parents[2]
DATA = load_toml(ROOT / "inventory.toml")
# What Windows reports for parameters our calls leave at their documented defaults.
FILLED = {"LocalAddress": ["Any"], "RemotePort": ["Any"], "LocalPort": ["Any"], "Protocol": "Any",
          "KeyModule": "Default"}
AUTHS = {
    "kerberos": {"method": "kerberos"},
    "certificate": {"method": "certificate", "authority": "CN=Corp Root CA, O=Corp", "authority_type": "Root",
                    "signing": "RSA"},
    "psk": {"method": "psk", "psk_env": "LAB_PSK", "allow_psk_for_testing": True},
}


def _observed(auth: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.setenv("LAB_PSK", "not-a-real-key")
    inv = parse_inventory({**DATA, "auth": auth})
    wanted = desired_objects(inv)["sql01"].objects
    host = LabHost(HostConfig(name="sql01", address="10.10.1.20"))
    calls = [batch_data(c) for c in plan_host("sql01", "10.10.1.20", wanted, [], "PersistentStore").calls]
    ran = host.run_script(script_text("invoke_batch"), {"Calls": _to_lab(calls)})  # as PSRP delivers them
    assert ran.failure is None, ran.failure
    read = host.run_script(script_text("read_state"), {"Group": "ipsec-remote", "PolicyStore": "PersistentStore"})
    assert read.failure is None and len(read.output) == 1, read.failure
    report = transport.plain(_to_client(read.output[0]))
    return wanted, parse_state(report, "ipsec-remote", inv.auth.psk_env)


@pytest.mark.parametrize("method", sorted(AUTHS))
def test_every_object_reads_back_as_it_was_created(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wanted, state = _observed(AUTHS[method], monkeypatch)
    observed = {(o.kind, o.name): o.params for o in state.observed}
    assert len(observed) == len(wanted) == 7
    for obj in wanted:
        got = dict(observed[(obj.kind, obj.name)])
        filled = {k: v for k, v in FILLED.items() if k not in obj.params}
        expected = {**obj.params, **{k: v for k, v in filled.items() if k in got}}
        assert got == expected, (obj.name, {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                                            if got.get(k) != expected.get(k)})


def test_objects_of_another_group_are_not_observed(monkeypatch: pytest.MonkeyPatch) -> None:
    _wanted, state = _observed(AUTHS["kerberos"], monkeypatch)
    assert state.observed
    assert all(str(o.params.get("Group", "ipsec-remote")) == "ipsec-remote" for o in state.observed)
    assert state.facts.services["IKEEXT"][1] == "Manual"
