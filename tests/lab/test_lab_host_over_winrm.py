"""Lab part 1, end to end: two lab hosts served in-process, driven by unmodified pypsrp.

Over HTTPS (Basic, validated against the lab CA) and over HTTP (NTLM with WinRM message encryption), a
script creates a crypto set, an auth set and a rule, reads them back and gets pscustomobjects; each blog
error fails on the host with Windows' wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ipsec_remote.lab.host import HostConfig, LabHost
from ipsec_remote.lab.host.cim import class_properties
from ipsec_remote.lab.winrm import EndpointConfig, LabServer, make_lab_ca

USER, PASSWORD = "LAB\\admin", "lab-Passw0rd!"

CREATE_AND_READ = """
param([string]$Group, [string]$Peer)
$ErrorActionPreference = 'Stop'
$qm = New-NetIPsecQuickModeCryptoSet -Name 'qm' -DisplayName 'qm' -Group $Group `
    -Proposal (New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -ESPHash SHA256 -Encryption AES256)
$p1 = New-NetIPsecPhase1AuthSet -Name 'p1' -DisplayName 'p1' -Group $Group `
    -Proposal (New-NetIPsecAuthProposal -Machine -Kerberos)
New-NetIPsecRule -IPsecRuleName 'r1' -DisplayName 'r1' -Group $Group -RemoteAddress $Peer `
    -InboundSecurity Request -OutboundSecurity Request -QuickModeCryptoSet $qm.InstanceID `
    -Phase1AuthSet $p1.InstanceID | Out-Null
foreach ($r in @(Get-NetIPsecRule -Group $Group)) {
    $c = $r.PSBase.CimInstanceProperties
    [pscustomobject]@{ Name = $c['InstanceID'].Value; Mode = $c['Mode'].Value;
                       InboundSecurity = $c['InboundSecurity'].Value;
                       QuickModeCryptoSet = $c['QuickModeCryptoSet'].Value; Phase1AuthSet = $c['Phase1AuthSet'].Value }
}
"""

BLOG_ERRORS = [
    ("New-NetIPsecQuickModeCryptoProposal -Encryption AES256 -ESPHash SHA256 -Encapsulation Transport",
     "Transport"),
    ("New-NetIPsecRule -DisplayName x -RemoteAddress 10.0.0.1 -MainModeCryptoSet '{MM-CryptoSet-001}'",
     "A parameter cannot be found that matches parameter name 'MainModeCryptoSet'."),
    ("New-NetIPsecAuthProposal -Machine -Cert -Authority 'CN=Root' -AuthorityType RootCA", "RootCA"),
    ("New-NetIPsecRule -RemoteAddress 10.0.0.1 -InboundSecurity None -OutboundSecurity None",
     "DisplayName"),
]


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tls = make_lab_ca(Path(tmp_path_factory.mktemp("ca")))
    server = LabServer(tls)
    server.start()
    try:
        https = server.add_endpoint(LabHost(HostConfig(name="sql01", address="10.10.1.20")),
                                    EndpointConfig(USER, PASSWORD, scheme="https", auth="basic"))
        http = server.add_endpoint(LabHost(HostConfig(name="app01", address="10.10.1.30")),
                                   EndpointConfig(USER, PASSWORD, scheme="http", auth="ntlm"))
        yield {"https": (https, str(tls.ca_bundle)), "ntlm": (http, None)}
    finally:
        server.stop()


def wsman(endpoint: Any, ca: str | None) -> WSMan:
    url = urlsplit(endpoint.url)
    if ca:
        return WSMan(url.hostname or "", port=url.port, username=USER, password=PASSWORD, ssl=True, auth="basic",
                     cert_validation=ca)  # type: ignore[arg-type]
    return WSMan(url.hostname or "", port=url.port, username=USER, password=PASSWORD, ssl=False, auth="ntlm",
                 encryption="always")


@pytest.mark.parametrize("transport", ["https", "ntlm"])
def test_create_and_read_back_as_pscustomobjects(endpoints: dict[str, Any], transport: str) -> None:
    endpoint, ca = endpoints[transport]
    with wsman(endpoint, ca) as conn, RunspacePool(conn) as pool:
        ps = PowerShell(pool)
        ps.add_script(CREATE_AND_READ).add_parameters({"Group": f"g-{transport}", "Peer": "10.10.1.99"})
        output = ps.invoke()
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    (rule,) = output
    # MSFT_NetConSecRule codes: Mode 1 = Transport, InboundSecurity 1 = Request.
    assert rule.extended_properties == {"Name": "r1", "Mode": 1, "InboundSecurity": 1,
                                        "QuickModeCryptoSet": "qm", "Phase1AuthSet": "p1"}


QM_SET_PROPOSALS = """
$ErrorActionPreference = 'Stop'
New-NetIPsecQuickModeCryptoSet -Name 'qm-cim' -DisplayName 'qm-cim' -ErrorAction Stop `
    -Proposal (New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -ESPHash SHA256 -Encryption AES256) | Out-Null
(Get-NetIPsecQuickModeCryptoSet -Name 'qm-cim').PSBase.CimInstanceProperties['Proposals'].Value
"""


def test_qm_set_proposals_are_cim_instances_over_plain_pypsrp(endpoints: dict[str, Any]) -> None:
    endpoint, ca = endpoints["https"]
    with wsman(endpoint, ca) as conn, RunspacePool(conn) as pool:
        ps = PowerShell(pool)
        ps.add_script(QM_SET_PROPOSALS)
        output = ps.invoke()
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    (proposal,) = output
    assert proposal.types[0].endswith("Microsoft.Management.Infrastructure.CimInstance#root/StandardCimv2/"
                                      "MSFT_NetIKEQMCryptoProposal")
    props = proposal.adapted_properties
    # Exactly the documented properties of MSFT_NetIKEQMCryptoProposal, with its codes (2 = ESP, 65001 =
    # SHA-256, 65003 = AES-256) and no cmdlet-style names (the lab's default: type_layer = false).
    documented = set(class_properties("MSFT_NetIKEQMCryptoProposal"))
    assert set(props) == documented
    assert (props["Encapsulation"], props["HashAlgorithmESP"], props["CipherAlgorithm"]) == (2, 65001, 65003)
    assert "ESPHash" not in props and "Encryption" not in props


@pytest.mark.parametrize(("line", "fragment"), BLOG_ERRORS)
def test_blog_errors_fail_on_the_host_as_on_windows(endpoints: dict[str, Any], line: str, fragment: str) -> None:
    endpoint, ca = endpoints["https"]
    with wsman(endpoint, ca) as conn, RunspacePool(conn) as pool:
        ps = PowerShell(pool)
        ps.add_script("$ErrorActionPreference = 'Stop'\n" + line)
        ps.invoke()
    assert ps.had_errors
    messages = [str(e) for e in ps.streams.error]
    assert any(fragment in m for m in messages), messages
