"""GPO mode's plan, carried out on the lab's domain: the exported plan run on the writer (a DC) fills the one
shared GPO, each host applies it at gpupdate, and every inventory pair then negotiates — under both
readings of a rule's endpoints (``[assumptions] cs_rule_endpoints``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from .conftest import ROOT, Lab, running_lab

GPO = "corp.example.com\\IPsec Server Isolation"
INVENTORY = ((ROOT / "examples" / "three-tier.toml").read_text()
             .replace('ca_bundle = "corp-root-ca.pem"\n', "")
             .replace('store = "PersistentStore"', f"store = '{GPO}'\ngpo_writer = \"dc01\""))
NAMES = "@(Get-NetIPsecRule -PolicyStore RSOP -ErrorAction Stop | ForEach-Object { $_.InstanceID })"


def run_on(lab: Lab, host: str, script: str) -> tuple[list[Any], list[str]]:
    entry = lab.lab_file()["hosts"][host]
    url = urlsplit(entry["endpoint"])
    wsman = WSMan(url.hostname or "127.0.0.1", port=url.port, username=entry["username"], password=entry["password"],
                  ssl=True, auth="basic", cert_validation=lab.lab_file()["ca_bundle"], read_timeout=60,
                  operation_timeout=50)
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        out = ps.invoke()
        return list(out), [str(e) for e in ps.streams.error]


@pytest.mark.parametrize("endpoints", ["local_remote", "mirrored"])
def test_the_gpo_plan_gives_every_host_its_pairs_through_group_policy(tmp_path: Path, endpoints: str) -> None:
    assert f"store = '{GPO}'" in INVENTORY
    faults = f'[assumptions]\ncs_rule_endpoints = "{endpoints}"\n' + "".join(
        f"[hosts.{h}]\nlistening_ports = [135, 445, 5985, 5986, 1433, 5022]\n" for h in ("sql01", "sql02"))
    with running_lab(tmp_path, INVENTORY, faults=faults) as lab:
        proc = lab.cli("plan", "inventory.toml", "--offline", "--json", "--export", "plan.ps1")
        assert proc.returncode == 0, proc.stderr
        plan = json.loads(proc.stdout)
        planned = [c["params"].get("IPsecRuleName") or c["params"]["Name"] for c in plan["gpo"]["calls"]]
        assert planned and all(h["calls"] == [] for h in plan["hosts"].values())
        _out, errors = run_on(lab, "dc01", (tmp_path / "plan.ps1").read_text())
        assert not errors, errors
        rc, doc = lab.json("lab", "inspect", "inventory.toml")
        assert rc == 0
        objects = [o["name"] for o in doc["gpos"][GPO]["objects"]]
        assert sorted(objects) == sorted(planned) and len(objects) == len(set(objects))
        rules = sorted(n for n in planned if "-exempt-" in n or "-gpair-" in n)
        for host in plan["hosts"]:
            assert run_on(lab, host, NAMES)[0] == [], host  # nothing arrives before a refresh
            out, errors = run_on(lab, host, "gpupdate /target:computer /force")
            assert not errors and "Computer Policy update has completed successfully." in out, (host, out)
            assert sorted(run_on(lab, host, NAMES)[0]) == rules, host
        inv_pairs = [("web01", "sql01", 1433), ("web03", "sql02", 1433), ("sql01", "sql02", 5022)]
        for a, b, port in inv_pairs:
            address = doc["hosts"][b]["address"]
            out, errors = run_on(lab, a, f"Test-NetConnection -ComputerName {address} -Port {port} "
                                         "-InformationLevel Quiet")
            assert not errors and out == [True], (a, b, out, errors)
        hosts = lab.inspect()
        for a, b, _port in inv_pairs:
            for me, peer in ((a, b), (b, a)):
                sas = [s for s in hosts[me]["quick_mode_sas"] if s.get("RemoteEndpoint") == hosts[peer]["address"]]
                assert sas, (me, peer)
        # Not a pair of the inventory: web01 <-> web02 stays in clear, no SA either side.
        out, _ = run_on(lab, "web01", f"Test-NetConnection -ComputerName {hosts['web02']['address']} -Port 445 "
                                      "-InformationLevel Quiet")
        hosts = lab.inspect()
        assert not [s for s in hosts["web01"]["quick_mode_sas"] if s.get("RemoteEndpoint") == hosts["web02"]["address"]]
