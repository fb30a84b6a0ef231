"""The latency model: what each WinRM answer owes the controller, checked through ``lab inspect`` (the figures
are modelled seconds; no test asserts how long anything took)."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.fleet.latency import Debt, LatencyModel, parse_latency
from ipsec_remote.lab.fleet.spec import LabConfigError

from .conftest import NEW_RULE, LabFactory

FAST = """
[latency]
enabled = true
pool_open_s = 0.25
cim_call_s = 0.125
"""
# Two bounded connects toward a port the firewall drops, awaited against one deadline (as verify.ps1 does).
PROBE_DROPPED = """
$a = New-Object -TypeName System.Net.Sockets.TcpClient
$b = New-Object -TypeName System.Net.Sockets.TcpClient
$x = $a.BeginConnect('10.10.1.30', 8443, $null, $null)
$y = $b.BeginConnect('10.10.1.40', 8443, $null, $null)
[pscustomobject]@{ A = $x.AsyncWaitHandle.WaitOne(250); B = $y.AsyncWaitHandle.WaitOne(250) }
"""


def test_a_pool_open_and_each_netsecurity_cmdlet_are_owed(make_lab: LabFactory) -> None:
    lab = make_lab(FAST)
    # lab.ok opens a pool (0.25 s) and runs New-NetIPsecRule (one CIM call, 0.125 s).
    lab.ok("sql01", NEW_RULE, Name="r", Remote=["10.10.1.30"], In="Request", Out="Request")
    assert lab.host("sql01")["modelled_latency_s"] == 0.375
    # A proposal is built in memory: only the set costs a CIM call.
    lab.ok("sql01", "New-NetIPsecQuickModeCryptoSet -Name q -DisplayName q -Proposal "
                    "(New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AES256 -ESPHash SHA256)")
    assert lab.host("sql01")["modelled_latency_s"] == 0.375 + 0.25 + 0.125
    assert lab.host("app01")["modelled_latency_s"] == 0.0
    latency = lab.fleet.inspect()["latency"]
    assert latency["enabled"] and set(latency["assumptions"]) == {"pool_open_s", "cim_call_s",
                                                                     "ike_negotiation_s"}


def test_bounded_connects_toward_a_dropped_port_really_wait_and_are_not_owed_again(make_lab: LabFactory) -> None:
    lab = make_lab(FAST)
    (out,) = lab.ok("sql01", PROBE_DROPPED)
    assert (out.extended_properties["A"], out.extended_properties["B"]) == (False, False)
    # Each WaitOne(250) passed (a script polling between them would see what changed): only the pool open
    # is owed on top.
    assert lab.host("sql01")["modelled_latency_s"] == 0.25
    probes = lab.host("sql01")["probes"]
    assert [(p["waited_s"], p["owed_s"]) for p in probes] == [(0.25, 0.0), (0.25, 0.0)]


def test_record_only_keeps_connect_waits_out_and_off_is_free(make_lab: LabFactory) -> None:
    lab = make_lab(FAST + 'blocked_connect = "record"\n')
    lab.ok("sql01", PROBE_DROPPED)
    assert lab.host("sql01")["modelled_latency_s"] == 0.25
    plain = make_lab()
    plain.ok("sql01", NEW_RULE, Name="r", Remote=["10.10.1.30"], In="Request", Out="Request")
    assert plain.host("sql01")["modelled_latency_s"] == 0.0


def test_the_model_gives_unset_hosts_its_task_start_time(make_lab: LabFactory) -> None:
    lab = make_lab(FAST + "task_start_s = 2\n[hosts.app01]\ntask_start_s = 0\n")
    assert lab.fleet.hosts["sql01"].config.task_start_s == 2.0
    assert lab.fleet.hosts["app01"].config.task_start_s == 0.0
    assert make_lab().fleet.hosts["sql01"].config.task_start_s == 0.0


def test_pipeline_cost_arithmetic() -> None:
    model = LatencyModel(enabled=True, cim_call_s=0.5)
    probes = [{"via": "TcpClient", "waited_s": 3.0}, {"via": "TcpClient", "waited_s": 2.0},
              {"via": "Test-NetConnection", "waited_s": 21.0}, {"via": "Test-NetConnection", "waited_s": 0.0}]
    assert model.pipeline_s(["Get-NetIPsecRule", "New-NetIPsecMainModeCryptoProposal"], probes) == 0.5 + 3 + 21
    assert LatencyModel().pipeline_s(["Get-NetIPsecRule"], probes) == 0.0
    # A wait that really passed is not owed; what was only recorded is, once per pipeline.
    waited = [{"via": "TcpClient", "waited_s": 3.0, "owed_s": 0.0},
              {"via": "TcpClient", "waited_s": 21.0, "owed_s": 18.0}]
    assert model.pipeline_s([], waited) == 18.0
    debt = Debt(LatencyModel(enabled=True, pool_open_s=1.0))
    debt.add(2.0)
    assert (debt.take("Create"), debt.take("Receive"), debt.total) == (3.0, 0.0, 3.0)


@pytest.mark.parametrize(("table", "where"), [
    ({"enabled": "yes"}, "latency.enabled"), ({"cim_call_s": -1}, "latency.cim_call_s"),
    ({"blocked_connect": "sleep"}, "latency.blocked_connect"), ({"pool_open": 1}, "latency.pool_open"),
    ({"ike_negotiation_s": -0.5}, "latency.ike_negotiation_s"),
])
def test_bad_latency_keys_are_one_line(table: dict[str, object], where: str) -> None:
    with pytest.raises(LabConfigError) as info:
        parse_latency(table, "faults.toml")
    assert where in str(info.value) and "\n" not in str(info.value)
