"""GPO mode's plan, carried out on the lab's domain: the exported plan run on the writer (a DC) fills the one
shared GPO, each host applies it at gpupdate, and status (GPO + RSOP + proof) verifies every inventory pair
only once both ends have refreshed — under both readings of a rule's endpoints
(``[assumptions] cs_rule_endpoints``)."""

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
INVENTORY = ((ROOT / "examples" / "three-tier-local.toml").read_text()
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
        late = "sql02"
        for host in plan["hosts"]:
            assert run_on(lab, host, NAMES)[0] == [], host  # nothing arrives before a refresh
            if host == late:
                continue
            out, errors = run_on(lab, host, "gpupdate /target:computer /force")
            assert not errors and "Computer Policy update has completed successfully." in out, (host, out)
            assert sorted(run_on(lab, host, NAMES)[0]) == rules, host
        # status reads the GPO on the writer and each host's RSOP: sql02 has not refreshed.
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 1, status
        assert status["hosts"]["dc01"]["drift"] == []  # the GPO is as the inventory wants
        assert any("not applied yet" in d for d in status["hosts"][late]["drift"]), status["hosts"][late]
        pairs = status["pairs"]
        assert pairs and all(p["verified"] == (late not in (p["a"], p["b"])) for p in pairs), pairs
        run_on(lab, late, "gpupdate /target:computer /force")
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 0, status
        assert status["pairs"] and all(p["verified"] for p in status["pairs"]), status["pairs"]
        assert all(h["drift"] == [] for h in status["hosts"].values())
        assert len(status["pairs"]) == 7 and all(p["inbound_security"] == "Request" for p in status["pairs"])
        # An edit to the GPO after the hosts refreshed: their RSOP holds an older version of that rule.
        rule = next(n for n in planned if n.endswith("-gpair-sql01-sql02-ab"))
        _out, errors = run_on(lab, "dc01", f"Set-NetIPsecRule -IPsecRuleName '{rule}' -PolicyStore '{GPO}' "
                                           "-Description 'edited by hand' -ErrorAction Stop")
        assert not errors, errors
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert rc == 1, status
        for host in plan["hosts"]:
            assert any("applied as an older version" in d and rule in d for d in status["hosts"][host]["drift"]), host
        # Not a pair of the inventory: web01 <-> web02 stays in clear, no SA either side.
        web02 = doc["hosts"]["web02"]["address"]
        run_on(lab, "web01", f"Test-NetConnection -ComputerName {web02} -Port 445 -InformationLevel Quiet")
        hosts = lab.inspect()
        assert hosts["web01"]["quick_mode_sas"]  # web01 has SAs with its SQL peers, none with web02
        assert not [s for s in hosts["web01"]["quick_mode_sas"] if s.get("RemoteEndpoint") == web02]
