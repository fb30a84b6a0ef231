"""What a real Windows host would show, through plain pypsrp: CIM codes, bounded probes, SA deletion,
SHA-384 in quick mode, and the faults file's [assumptions] and port keys."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.lab.fleet import load_faults, load_fleet_spec
from ipsec_remote.lab.fleet.spec import LabConfigError

from .conftest import EXEMPT_DC, INVENTORY, TNC, Lab, LabFactory, prop
from .test_fleet_network import pair, sas

# Both ends offer AES-256/SHA-256/DH19 in main mode (the default set, -Default).
STRONG_MM = """
New-NetIPsecMainModeCryptoSet -DisplayName 'strong' -Default -ErrorAction Stop `
    -Proposal (New-NetIPsecMainModeCryptoProposal -Encryption AES256 -Hash SHA256 -KeyExchange DH19) | Out-Null
"""
CONNECT = """
param($Target, $Port, $Ms)
$c = New-Object System.Net.Sockets.TcpClient
$a = $c.BeginConnect($Target, $Port, $null, $null)
$answered = $a.AsyncWaitHandle.WaitOne($Ms)
$outcome = 'timeout'
if ($answered) {
    try { $c.EndConnect($a); $outcome = 'connected' } catch { $outcome = 'refused: ' + $_.Exception.Message }
}
$c.Close()
$outcome
"""


def product_script(name: str) -> str:
    return resources.files("ipsec_remote.remote").joinpath("powershell/" + name).read_text(encoding="utf-8")


def test_mm_sa_cipher_is_the_documented_code_through_plain_pypsrp(lab: Lab) -> None:
    for host in ("sql01", "app01"):
        lab.ok(host, STRONG_MM)
    pair(lab, "sql01", "app01")
    assert lab.ok("app01", TNC, Target="sql01", Port=445)
    (cipher,) = lab.ok("app01", "(Get-NetIPsecMainModeSA)[0].PSBase.CimInstanceProperties['CipherAlgorithm'].Value")
    assert cipher == 65003  # MSFT_NetMainModeSA.CipherAlgorithm: 65003 = AES-256
    (sa,) = lab.ok("app01", "Get-NetIPsecMainModeSA")
    assert sa.adapted_properties["GroupId"] == 19 and "Encryption" not in sa.adapted_properties


def test_probe_outcomes_follow_the_destination_ports(make_lab: LabFactory) -> None:
    lab = make_lab("""
    [hosts.sql01]
    listening_ports = [445]
    firewall_allows = [445, 1433]
    """)
    pair(lab, "sql01", "app01")
    assert lab.ok("app01", CONNECT, Target="10.10.1.20", Port=445, Ms=3000) == ["connected"]
    (refused,) = lab.ok("app01", CONNECT, Target="10.10.1.20", Port=1433, Ms=3000)
    assert refused.startswith("refused: ") and "actively refused" in refused
    assert lab.ok("app01", CONNECT, Target="10.10.1.20", Port=5985, Ms=3000) == ["timeout"]
    # IKE negotiated on the first packet whatever became of the SYN: the pair has its SAs.
    assert sas(lab, "app01") == (["10.10.1.20"], ["10.10.1.20"])
    probes = lab.host("app01")["probes"]
    assert [(p["port"], p["outcome"], p["waited_s"]) for p in probes] == [
        (445, "connected", 0.0), (1433, "refused", 0.0), (5985, "dropped", 3.0)]
    # Test-NetConnection has no timeout: toward the dropped port it waits out the retransmissions.
    (tnc,) = lab.ok("app01", TNC, Target="10.10.1.20", Port=5985)
    assert prop(tnc, "TcpTestSucceeded") is False
    assert lab.host("app01")["probes"][-1] == {"via": "Test-NetConnection", "target": "10.10.1.20", "port": 5985,
                                               "outcome": "dropped", "waited_s": 21.0}


@pytest.mark.parametrize("cascades", [False, True])
def test_reset_sas_leaves_no_sa_toward_the_peer(make_lab: LabFactory, cascades: bool) -> None:
    lab = make_lab(f"[assumptions]\nmm_sa_delete_cascades = {str(cascades).lower()}\n")
    pair(lab, "sql01", "app01")
    pair(lab, "app01", "web01", exempt_dc=False)
    lab.ok("web01", EXEMPT_DC)
    assert lab.ok("app01", TNC, Target="sql01", Port=445) and lab.ok("app01", TNC, Target="web01", Port=445)
    (out,) = lab.ok("app01", product_script("reset_sas.ps1"), Peers=["10.10.1.20"])
    assert (prop(out, "MainModeRemoved"), prop(out, "QuickModeRemoved")) == (1, 1)
    assert sas(lab, "app01") == (["10.10.1.40"], ["10.10.1.40"])  # the other peer's SAs stay
    removals = [c["cmdlet"] for c in lab.host("app01")["calls"] if c["cmdlet"].startswith("Remove-")]
    assert removals == ["Remove-NetIPsecQuickModeSA", "Remove-NetIPsecMainModeSA"]


def test_mm_sa_deletion_without_cascade_keeps_its_quick_mode_sas(make_lab: LabFactory) -> None:
    lab = make_lab()  # mm_sa_delete_cascades = false (the default)
    pair(lab, "sql01", "app01")
    assert lab.ok("app01", TNC, Target="sql01", Port=445)
    lab.ok("app01", "Get-NetIPsecMainModeSA | Remove-NetIPsecMainModeSA -ErrorAction Stop")
    assert sas(lab, "app01") == ([], ["10.10.1.20"])


QM_SHA384 = """
New-NetIPsecQuickModeCryptoSet -Name 'qm384' -DisplayName 'qm384' -ErrorAction Stop `
    -Proposal (New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AES256 -ESPHash SHA384) | Out-Null
"""


def test_sha384_in_quick_mode_is_refused_by_default(lab: Lab) -> None:
    _output, errors = lab.run("sql01", QM_SHA384)
    assert errors and "SHA384 is not a quick-mode" in str(errors[0])
    assert lab.host("sql01")["stores"]["PersistentStore"]["quick_mode_crypto_sets"] == []


def test_sha384_in_quick_mode_never_negotiates_when_stored(make_lab: LabFactory) -> None:
    lab = make_lab('[audit]\nipsec_quick_mode = "failure"\n[assumptions]\nqm_sha384 = "never_negotiated"\n')
    for host in ("sql01", "app01"):
        lab.ok(host, QM_SHA384)
    pair(lab, "sql01", "app01", qm_set="qm384")
    lab.ok("app01", TNC, Target="sql01", Port=445)
    assert sas(lab, "app01")[1] == []  # no quick-mode SA: nothing negotiable in common
    assert 4654 in [e["id"] for e in lab.host("app01")["events"]]


def _faults(tmp_path: Path, text: str) -> Any:
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    faults = tmp_path / "faults.toml"
    faults.write_text(text)
    return load_faults(faults, load_fleet_spec(inv))


def test_assumptions_table_reads_every_switch_by_type(tmp_path: Path) -> None:
    faults = _faults(tmp_path, """
    [assumptions]
    type_layer = true
    mm_sa_delete_cascades = true
    key_module_default_code = 7
    qm_sha384 = "never_negotiated"
    builtin_exemptions = ["NeighborDiscovery"]
    [hosts.sql01]
    listening_ports = [445, 1433]
    firewall_allows = []
    """.replace("\n    ", "\n"))
    a = faults.assumptions
    assert (a.type_layer, a.mm_sa_delete_cascades, a.key_module_default_code, a.qm_sha384) == (
        True, True, 7, "never_negotiated")
    assert a.builtin_exemptions == ("NeighborDiscovery",) and a.machine_cert_auth_code == 65006
    assert (faults.hosts["sql01"].listening_ports, faults.hosts["sql01"].firewall_allows) == ((445, 1433), ())


@pytest.mark.parametrize(("text", "where", "problem"), [
    ("[assumptions]\ntype_layr = true\n", "assumptions.type_layr", "unknown assumption"),
    ("[assumptions]\ntype_layer = 1\n", "assumptions.type_layer", "must be true or false"),
    ("[assumptions]\nqm_sha384 = \"maybe\"\n", "assumptions.qm_sha384", "'maybe' is not one of refused"),
    ("[assumptions]\nkey_module_default_code = \"0\"\n", "assumptions.key_module_default_code", "whole number"),
    ("[hosts.sql01]\nlistening_ports = [0]\n", "hosts.sql01.listening_ports", "TCP ports"),
    ("[hosts.sql01]\nfirewall_allows = \"445\"\n", "hosts.sql01.firewall_allows", "TCP ports"),
])
def test_bad_assumptions_and_ports_are_one_located_line(tmp_path: Path, text: str, where: str, problem: str) -> None:
    with pytest.raises(LabConfigError) as err:
        _faults(tmp_path, text)
    assert err.value.key_path == where and problem in err.value.problem
