"""Traffic between lab hosts negotiates IPsec as Windows documents it — driven only through pypsrp scripts."""

from __future__ import annotations

import time
from typing import Any

from .conftest import EXEMPT_DC, NEW_QM_SET, NEW_RULE, SAS, TNC, Lab, LabFactory, prop

ADDRESS = {"sql01": "10.10.1.20", "app01": "10.10.1.30", "web01": "10.10.1.40", "dc01": "10.10.1.5"}


def pair(lab: Lab, a: str, b: str, security: tuple[str, str] = ("Request", "Request"), qm_set: str | None = None,
         exempt_dc: bool = True) -> None:
    """The same rule on both ends, as the controller would write it."""
    for me, peer in ((a, b), (b, a)):
        if exempt_dc:
            lab.ok(me, EXEMPT_DC)
        lab.ok(me, NEW_RULE, Name=f"pair-{a}-{b}", Remote=[ADDRESS[peer]], In=security[0], Out=security[1],
               QmSet=qm_set)


def tnc(lab: Lab, src: str, dst: str, port: int = 445) -> bool:
    (result,) = lab.ok(src, TNC, Target=dst, Port=port)
    return bool(prop(result, "TcpTestSucceeded"))


def sas(lab: Lab, host: str) -> tuple[list[Any], list[Any]]:
    (result,) = lab.ok(host, SAS)
    return list(prop(result, "MainMode") or []), list(prop(result, "QuickMode") or [])


def event_ids(lab: Lab, host: str) -> list[int]:
    return [e["id"] for e in lab.host(host)["events"]]


def test_matching_request_rules_build_sas_on_both_ends(audited_lab: Lab) -> None:
    lab = audited_lab
    pair(lab, "sql01", "app01")
    assert tnc(lab, "app01", "sql01")
    assert sas(lab, "app01") == (["10.10.1.20"], ["10.10.1.20"])
    assert sas(lab, "sql01") == (["10.10.1.30"], ["10.10.1.30"])
    sql, app = lab.host("sql01"), lab.host("app01")
    # Each side lists the SA from its own view (PS-Get-NetIPsecMainModeSA) with the same algorithms.
    assert sql["main_mode_sas"][0]["LocalEndpoint"] == "10.10.1.20"
    assert app["main_mode_sas"][0]["LocalEndpoint"] == "10.10.1.30"
    for key in ("CipherAlgorithm", "HashAlgorithm", "GroupId", "KeyModule"):
        assert sql["main_mode_sas"][0][key] == app["main_mode_sas"][0][key], key
    assert {4650, 5451} <= set(event_ids(lab, "sql01")) and {4650, 5451} <= set(event_ids(lab, "app01"))
    # A host name resolves like an address; a third host without rules is untouched.
    assert tnc(lab, "web01", "sql01.lab.local")
    assert sas(lab, "web01") == ([], [])


def test_mismatched_quick_mode_request_falls_back_to_clear_text(audited_lab: Lab) -> None:
    lab = audited_lab
    pair(lab, "sql01", "app01")
    lab.ok("sql01", NEW_QM_SET, Name="qm-aes", Encryption="AES256", Hash="SHA256")
    lab.ok("app01", NEW_QM_SET, Name="qm-3des", Encryption="DES3", Hash="SHA1")
    lab.ok("sql01", "Set-NetIPsecRule -IPsecRuleName 'pair-sql01-app01' -QuickModeCryptoSet 'qm-aes'")
    lab.ok("app01", "Set-NetIPsecRule -IPsecRuleName 'pair-sql01-app01' -QuickModeCryptoSet 'qm-3des'")
    assert tnc(lab, "app01", "sql01")  # negotiation discovery: clear text on failure (MS-IKEE 1.3.5)
    assert sas(lab, "app01")[1] == [] and sas(lab, "sql01")[1] == []
    assert 4654 in event_ids(lab, "app01") and 4654 in event_ids(lab, "sql01")


def test_mismatched_quick_mode_require_drops_with_4654(audited_lab: Lab) -> None:
    lab = audited_lab
    lab.ok("sql01", NEW_QM_SET, Name="qm", Encryption="AES256", Hash="SHA256")
    lab.ok("app01", NEW_QM_SET, Name="qm", Encryption="DES3", Hash="SHA1")
    pair(lab, "sql01", "app01", ("Require", "Require"), qm_set="qm")
    assert not tnc(lab, "app01", "sql01")
    assert sas(lab, "app01")[1] == [] and sas(lab, "sql01")[1] == []
    assert 4654 in event_ids(lab, "app01") and 4654 in event_ids(lab, "sql01")


def test_require_toward_the_dc_breaks_kerberos_for_every_require_pair(audited_lab: Lab) -> None:
    lab = audited_lab
    # sql01 Requires IPsec for 10.10.1.0/26 — its DC (.5) included, with no exemption; the controller
    # (.100) stays outside so the test keeps its management path.
    lab.ok("sql01", NEW_RULE, Name="isolate", Remote=["10.10.1.0/26"], In="Require", Out="Require")
    for peer in ("app01", "web01"):
        lab.ok(peer, EXEMPT_DC)
        lab.ok(peer, NEW_RULE, Name="isolate", Remote=["10.10.1.20"], In="Require", Out="Require")
    for peer in ("app01", "web01"):
        assert not tnc(lab, peer, "sql01"), peer
        assert not tnc(lab, "sql01", peer), peer
    assert 4653 in event_ids(lab, "sql01")
    messages = [e["message"] for e in lab.host("sql01")["events"] if e["id"] == 4653]
    assert any("Kerberos" in m and "dc01" in m for m in messages), messages
    # The same pair works once the DC is exempted (exemption beats the /24 Require rule).
    lab.ok("sql01", EXEMPT_DC)
    assert tnc(lab, "app01", "sql01")
    assert sas(lab, "sql01")[0] == ["10.10.1.30"]


def test_ikeext_disabled_logs_5453(make_lab: LabFactory) -> None:
    lab = make_lab('[hosts.app01]\nikeext = "disabled"\n', audited=True)
    pair(lab, "sql01", "app01", ("Require", "Request"))
    assert tnc(lab, "app01", "sql01") is False  # app01 cannot negotiate; sql01 drops clear text
    assert 5453 in event_ids(lab, "app01")
    assert 4963 in event_ids(lab, "sql01")
    (svc,) = lab.ok("app01", "Get-Service -Name IKEEXT")
    assert str(prop(svc, "StartType")) == "Disabled"


def test_local_merge_off_keeps_persistent_rules_out_of_the_active_store(make_lab: LabFactory) -> None:
    lab = make_lab("""
    [hosts.sql01]
    local_ipsec_merge = false
    [[hosts.sql01.preexisting.rules]]
    name = "gpo-request"
    policy_store = 'lab.local\\Server Isolation'
    inbound_security = "Request"
    outbound_security = "Request"
    remote_address = ["10.10.1.0/24"]
    """)
    pair(lab, "sql01", "app01")
    names = lab.ok("sql01", "Get-NetIPsecRule -PolicyStore ActiveStore | ForEach-Object { $_.InstanceID }")
    assert "gpo-request" in names and "pair-sql01-app01" not in names
    local = lab.ok("sql01", "Get-NetIPsecRule -PolicyStore PersistentStore | ForEach-Object { $_.InstanceID }")
    assert "pair-sql01-app01" in local
    assert lab.host("sql01")["local_ipsec_merge"] is False


def test_idle_sas_expire(make_lab: LabFactory) -> None:
    lab = make_lab("sa_idle_s = 0.5\n", audited=True)  # the lab knob; hosts default to MaxSAIdleTimeSeconds = 300
    pair(lab, "sql01", "app01")
    assert tnc(lab, "app01", "sql01")
    assert sas(lab, "sql01")[0]
    deadline = time.monotonic() + 5
    while lab.host("sql01")["main_mode_sas"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sas(lab, "sql01") == ([], []) and sas(lab, "app01") == ([], [])
    assert 4655 in event_ids(lab, "sql01")  # MM SA ended


MM_SET = """
[[hosts.{name}.preexisting.main_mode_crypto_sets]]
name = "mm-{name}"
proposal = [{{ encryption = "{enc}", hash = "SHA256", key_exchange = "DH14" }}]
[[hosts.{name}.preexisting.main_mode_rules]]
name = "mm-rule"
remote_address = ["10.10.1.0/26"]
main_mode_crypto_set = "mm-{name}"
"""


def test_main_mode_rules_pick_the_proposals_and_a_mismatch_fails_main_mode(make_lab: LabFactory) -> None:
    same = make_lab(MM_SET.format(name="sql01", enc="AES256") + MM_SET.format(name="app01", enc="AES256"))
    pair(same, "sql01", "app01")
    assert tnc(same, "app01", "sql01")
    (mm,) = same.host("sql01")["main_mode_sas"]
    assert (mm["CipherAlgorithm"], mm["HashAlgorithm"], mm["GroupId"]) == (65003, 65001, 14)  # AES256/SHA256/DH14

    apart = make_lab(MM_SET.format(name="sql01", enc="AES256") + MM_SET.format(name="app01", enc="AES128"),
                     audited=True)
    pair(apart, "sql01", "app01")
    assert tnc(apart, "app01", "sql01")  # Request: clear text
    assert sas(apart, "sql01") == ([], [])
    failures = [e["message"] for e in apart.host("app01")["events"] if e["id"] == 4653]
    assert any("main mode proposal" in m for m in failures), failures


def test_a_change_within_a_pipeline_is_what_its_next_probe_meets(make_lab: LabFactory) -> None:
    """The network model caches each host's policy; a rule removed or a service stopped by the same script
    between two probes must show in the second one (the cache moves on with every change)."""
    lab = make_lab()
    lab.ok("sql01", NEW_RULE, Name="pair", Remote=["10.10.1.30"], In="Request", Out="Request")
    (out,) = lab.ok("app01", """
        New-NetIPsecRule -IPsecRuleName 'pair' -DisplayName 'pair' -RemoteAddress 10.10.1.20 `
            -InboundSecurity Request -OutboundSecurity Request -KeyModule IKEv1 | Out-Null
        function Rules($To) { @((Test-NetConnection -ComputerName $To -Port 445 -InformationLevel Detailed `
            -WarningAction SilentlyContinue).MatchingIPsecRules) }
        function Sas { @(Get-NetIPsecQuickModeSA).Count }
        $first = @(Rules 10.10.1.20); $firstSas = Sas
        Remove-NetIPsecMainModeSA -ErrorAction Stop; Remove-NetIPsecQuickModeSA -ErrorAction Stop
        $null = Rules 10.10.1.40  # traffic elsewhere: the network model reads this host's policy again
        Stop-Service -Name IKEEXT
        $null = Rules 10.10.1.20; $stoppedSas = Sas
        Start-Service -Name IKEEXT
        Remove-NetIPsecRule -IPsecRuleName 'pair'
        [pscustomobject]@{ First = $first; FirstSas = $firstSas; StoppedSas = $stoppedSas; After = @(Rules 10.10.1.20) }
        """)
    assert prop(out, "First") == ["pair"] and prop(out, "FirstSas") == 1
    assert prop(out, "StoppedSas") == 0  # IKEEXT stopped in this script: no negotiation
    assert prop(out, "After") == []
