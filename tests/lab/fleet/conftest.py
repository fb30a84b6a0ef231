"""A lab fleet in this process, driven only through pypsrp over HTTPS validated against the lab's CA."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.fleet import Fleet, FleetOptions, load_faults, load_fleet_spec

# sql01 and app01 are managed; dc01 is the domain controller; the controller is 10.10.1.100.
INVENTORY = """
[controller]
address = "10.10.1.100"

[connection]
scheme = "https"
auth = "basic"

[[hosts]]
name = "sql01"
address = "10.10.1.20"

[[hosts]]
name = "app01"
address = "10.10.1.30"

[[hosts]]
name = "web01"
address = "10.10.1.40"

[[exemptions]]
name = "dc01"
address = "10.10.1.5"
role = "domain_controller"
"""


@dataclass
class Lab:
    fleet: Fleet
    info: dict[str, Any]

    def wsman(self, host: str) -> WSMan:
        entry = self.info["hosts"][host]
        url = urlsplit(entry["endpoint"])
        return WSMan(url.hostname or "127.0.0.1", port=url.port, username=entry["username"],
                     password=entry["password"], ssl=True, auth="basic", cert_validation=self.info["ca_bundle"],
                     connection_timeout=5, read_timeout=30, operation_timeout=20)

    def run(self, host: str, script: str, **params: Any) -> tuple[list[Any], list[Any]]:
        """Run ``script`` (with ``params`` via add_parameters) on ``host``; (output, error records)."""
        with self.wsman(host) as wsman, RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_script(textwrap.dedent(script))
            if params:
                ps.add_parameters(params)
            output = ps.invoke()
            return list(output), list(ps.streams.error)

    def ok(self, host: str, script: str, **params: Any) -> list[Any]:
        output, errors = self.run(host, script, **params)
        assert not errors, [str(e) for e in errors]
        return output

    def host(self, name: str) -> dict[str, Any]:
        hosts: dict[str, Any] = self.fleet.inspect()["hosts"]
        return hosts[name]  # type: ignore[no-any-return]


LabFactory = Callable[..., Lab]

# Hosts whose administrator audits the IPsec subcategories. A stock host audits none of them, and the lab
# (like Windows) writes an IPsec event only for an audited subcategory: tests that read events ask for this.
AUDITED = """
[audit]
ipsec_main_mode = "success_and_failure"
ipsec_quick_mode = "success_and_failure"
ipsec_extended_mode = "success_and_failure"
ipsec_driver = "success_and_failure"
"""


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[LabFactory]:
    fleets: list[Fleet] = []

    def start(faults: str | None = None, inventory: str = INVENTORY, audited: bool = False, **options: Any) -> Lab:
        inv = tmp_path / f"lab{len(fleets)}" / "inventory.toml"
        inv.parent.mkdir()
        inv.write_text(inventory)
        faults_path = None
        if faults is not None or audited:
            faults_path = inv.parent / "faults.toml"
            faults_path.write_text(textwrap.dedent(faults or "") + (AUDITED if audited else ""))
        spec = load_fleet_spec(inv)
        fleet = Fleet(spec, load_faults(faults_path, spec), FleetOptions(**options))
        fleets.append(fleet)
        fleet.start()
        return Lab(fleet, fleet.lab_json())

    yield start
    for fleet in fleets:
        fleet.stop()


@pytest.fixture
def lab(make_lab: LabFactory) -> Lab:
    return make_lab()


@pytest.fixture
def audited_lab(make_lab: LabFactory) -> Lab:
    """A lab whose hosts audit the IPsec subcategories (AUDITED), for tests that read events."""
    return make_lab(audited=True)


def prop(obj: Any, name: str) -> Any:
    """A property of a pypsrp object: adapted (CIM-like) or extended ([pscustomobject])."""
    for bag in ("adapted_properties", "extended_properties"):
        props = getattr(obj, bag, None) or {}
        if name in props:
            return props[name]
    raise KeyError(name)


# Scripts as the controller would send them: fixed text, data through parameters.
NEW_RULE = """
param($Name, $Remote, $In, $Out, $QmSet)
$p = @{ IPsecRuleName = $Name; DisplayName = $Name; RemoteAddress = $Remote; InboundSecurity = $In;
        OutboundSecurity = $Out; KeyModule = 'IKEv1' }
if ($QmSet) { $p.QuickModeCryptoSet = $QmSet }
New-NetIPsecRule @p | Out-Null
"""
NEW_QM_SET = """
param($Name, $Encryption, $Hash)
$proposal = New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption $Encryption -ESPHash $Hash
New-NetIPsecQuickModeCryptoSet -Name $Name -DisplayName $Name -Proposal $proposal | Out-Null
"""
TNC = """
param($Target, $Port)
$r = Test-NetConnection -ComputerName $Target -Port $Port -WarningAction SilentlyContinue
[pscustomobject]@{ TcpTestSucceeded = $r.TcpTestSucceeded }
"""
SAS = """
[pscustomobject]@{
    MainMode = @(Get-NetIPsecMainModeSA | ForEach-Object { $_.RemoteEndpoint })
    QuickMode = @(Get-NetIPsecQuickModeSA | ForEach-Object { $_.RemoteEndpoint })
}
"""
EXEMPT_DC = """
New-NetIPsecRule -IPsecRuleName 'exempt-dc' -DisplayName 'exempt-dc' -RemoteAddress 10.10.1.5 `
    -InboundSecurity None -OutboundSecurity None | Out-Null
"""
