"""``plan --export``: a script runnable as it is, run here through the lab's engine on lab hosts.

Each host's section runs only on the machine that has the host's address, every NetSecurity call carries
-ErrorAction Stop (CDXML cmdlets ignore the script's preference, which the lab models), and the script stops
at the first error.
"""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.host.model import MM_CRYPTO, RULE
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.apply import offline_plan
from ipsec_remote.plan.render import plan_powershell

ROOT = Path(__file__).resolve().parents[2]
def _script() -> str:  # built in each test (not at import): mutmut sees which tests reach the renderer
    return plan_powershell(offline_plan(load_inventory(ROOT / "inventory.toml")))


def _host(name: str, address: str) -> LabHost:
    return LabHost(HostConfig(name=name, address=address))


def test_only_the_section_of_the_host_it_runs_on_runs() -> None:
    sql01 = _host("sql01", "10.10.1.20")
    result = sql01.run_script(_script())
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    assert [o for o in result.output if isinstance(o, str)] == ["ipsec-remote: applying the plan of sql01 (10.10.1.20)"]
    rules = {o.name for o in sql01.stores.persistent.list(RULE)}
    assert rules == {"ipsec-remote-exempt-dc", "ipsec-remote-exempt-controller", "ipsec-remote-pair-app01-sql01"}
    remotes = {tuple(o.filters.get("RemoteAddress", [])) for o in sql01.stores.persistent.list(RULE)}
    assert ("10.10.1.20",) not in remotes  # app01's rule toward sql01 did not run here


def test_a_computer_that_is_no_planned_host_is_told_so() -> None:
    other = _host("web09", "10.10.1.99")
    result = other.run_script(_script())
    assert result.failure is not None and "none of the planned addresses" in result.failure.message
    assert other.stores.persistent.list(RULE) == []


def test_the_first_failing_call_stops_the_script() -> None:
    sql01 = _host("sql01", "10.10.1.20")
    # The main-mode crypto set exists already: New-NetIPsecMainModeCryptoSet fails (a non-terminating CDXML
    # error that only -ErrorAction Stop turns into a stop), and nothing after it may run.
    sql01.apply_call({"cmdlet": "New-NetIPsecMainModeCryptoSet",
                      "params": {"Name": "ipsec-remote-mm", "DisplayName": "taken"}}, log=False)
    result = sql01.run_script(_script())
    assert result.failure is not None and "already exists" in result.failure.message
    assert {o.name for o in sql01.stores.persistent.list(RULE)} == {"ipsec-remote-exempt-dc",
                                                                     "ipsec-remote-exempt-controller"}
    assert [o.props.get("DisplayName") for o in sql01.stores.persistent.list(MM_CRYPTO)] == ["taken"]


def test_every_netsecurity_call_has_error_action_stop() -> None:
    calls = [line.strip() for line in _script().splitlines() if line.strip().startswith(("New-", "Set-", "Remove-"))]
    assert calls
    assert all(line.endswith("-ErrorAction Stop") for line in calls)
    assert "(New-NetIPsecAuthProposal -Machine -Kerberos -ErrorAction Stop)" in _script()
