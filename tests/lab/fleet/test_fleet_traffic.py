"""Lab clients and flows (issue 15): faults, connection tables as CIM instances, packets through IPsec, 5156."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.lab.fleet import LabConfigError, load_faults, load_fleet_spec, traffic_spec

from .conftest import INVENTORY, NEW_RULE, Lab, LabFactory, prop

PAIRED = INVENTORY + """
[[pairs]]
a = "app01"
b = "sql01"
probe_port = 1433
"""
CLIENT = """
[[clients]]
name = "reporting"
address = "10.10.1.50"
talks_to = ["sql01:1433/TCP"]
interval_ms = 50
"""
MEMBERS = """
[traffic]
between_members_interval_ms = 50
"""
TCP = """
foreach ($c in @(Get-NetTCPConnection -ErrorAction Stop)) {
    $p = $c.PSBase.CimInstanceProperties
    [pscustomobject]@{ Local = $p['LocalAddress'].Value; LocalPort = $p['LocalPort'].Value
        Remote = $p['RemoteAddress'].Value; RemotePort = $p['RemotePort'].Value; State = $p['State'].Value }
}
"""
UDP = "@(Get-NetUDPEndpoint -ErrorAction Stop) | ForEach-Object { $_ }"


def traffic(lab: Lab) -> dict[str, Any]:
    doc: dict[str, Any] = lab.fleet.inspect()["traffic"]
    return doc


def settle(lab: Lab, owner: str, more_than: int = 0) -> dict[str, Any]:
    """Wait until ``owner``'s flow has sent more than ``more_than`` packets (the fleet timer drives it)."""
    for _ in range(100):
        t = traffic(lab)
        if sum(f["sent"] for f in t["flows"] if f["owner"] == owner) > more_than:
            return t
        time.sleep(0.05)
    raise AssertionError(traffic(lab))


ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("doc", [(ROOT / "docs" / "traffic.md").read_text(), traffic_spec.__doc__ or ""],
                         ids=["docs/traffic.md", "traffic_spec.py"])
def test_the_documented_example_is_valid_and_sets_every_key(tmp_path: Path, doc: str) -> None:
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example is not None
    (tmp_path / "inventory.toml").write_text(PAIRED)
    (tmp_path / "faults.toml").write_text(example.group(1))
    traffic = load_faults(tmp_path / "faults.toml", load_fleet_spec(tmp_path / "inventory.toml")).traffic
    (client,) = traffic.clients
    assert (client.name, client.address, client.ipsec, client.talks_to[0].port) == ("reporting", "10.10.1.50", False,
                                                                                    1433)
    assert client.interval_ms == 500 and client.connection == "persistent"
    assert traffic.between_members_interval_ms == 100 and traffic.negotiation_ms == 0
    assert [(m.a, m.b, m.port) for m in traffic.members] == [("app01", "sql01", 1433)]


@pytest.mark.parametrize(("text", "where", "problem"), [
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = ["sql01-1433"]', "clients[0].talks_to[0]",
     "is not HOST:PORT/PROTOCOL"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = ["sqll01:1433/TCP"]', "clients[0].talks_to[0]",
     "unknown host"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = ["sql01:1433/ICMP"]', "clients[0].talks_to[0]",
     "is not TCP or UDP"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.20"\ntalks_to = ["sql01:1433/TCP"]', "clients[0].address",
     "is already lab host 'sql01'"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = ["sql01:1433/TCP"]\nipsec = "no"',
     "clients[0].ipsec", "must be true or false"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = []', "clients[0].talks_to", "non-empty"),
    ('[[clients]]\nname = "c"\naddress = "10.10.1.50"\ntalks_to = ["sql01:1/TCP"]\ncolour = 1',
     "clients[0].colour", "unknown client key"),
    ("[traffic]\nbetween_members_interval_ms = 1", "traffic.between_members_interval_ms", "≥ 10"),
    ("[traffic]\nevery = 5", "traffic.every", "unknown traffic key"),
])
def test_bad_clients_and_traffic_are_one_located_line(tmp_path: Path, text: str, where: str, problem: str) -> None:
    (tmp_path / "inventory.toml").write_text(PAIRED)
    (tmp_path / "faults.toml").write_text(text)
    with pytest.raises(LabConfigError) as err:
        load_faults(tmp_path / "faults.toml", load_fleet_spec(tmp_path / "inventory.toml"))
    assert err.value.key_path == where and problem in err.value.problem, str(err.value)


def test_connection_tables_are_cim_instances_with_the_documented_properties(make_lab: LabFactory) -> None:
    lab = make_lab(CLIENT + MEMBERS, inventory=PAIRED)
    settle(lab, "app01->sql01")
    rows = [{k: prop(r, k) for k in ("Local", "LocalPort", "Remote", "RemotePort", "State")}
            for r in lab.ok("sql01", TCP)]
    assert {"Local": "0.0.0.0", "LocalPort": 1433, "Remote": "0.0.0.0", "RemotePort": 0, "State": 2} in rows
    established = {(r["Remote"], r["LocalPort"]) for r in rows if r["State"] == 5}
    assert {("10.10.1.50", 1433), ("10.10.1.30", 1433), ("10.10.1.100", 5986)} <= established
    app = [{k: prop(r, k) for k in ("Remote", "RemotePort", "State")} for r in lab.ok("app01", TCP)]
    assert {"Remote": "10.10.1.20", "RemotePort": 1433, "State": 5} in app  # the member side, outbound
    # MSFT_NetUDPEndpoint documents LocalAddress and LocalPort only: there is no remote end to read.
    udp_lab = make_lab('[[clients]]\nname = "dns"\naddress = "10.10.1.61"\ntalks_to = ["sql01:53/UDP"]\n')
    (endpoint,) = udp_lab.ok("sql01", UDP)
    assert prop(endpoint, "LocalPort") == 53 and "RemoteAddress" not in endpoint.adapted_properties
    # A filter that matches nothing is the CDXML "No matching … objects" error, as on Windows.
    _, errors = lab.run("sql01", "Get-NetTCPConnection -LocalPort 7")
    assert errors and "No matching MSFT_NetTCPConnection objects" in str(errors[0])


def test_require_inbound_drops_a_non_member_and_audits_4963(make_lab: LabFactory) -> None:
    lab = make_lab(CLIENT, audited=True)
    settle(lab, "reporting")
    assert traffic(lab)["dropped_by_client"] == {"reporting": 0}  # no policy: clear text both ways
    lab.ok("sql01", NEW_RULE, Name="clients", Remote=["10.10.1.50"], In="Require", Out="Request")
    sent = sum(f["sent"] for f in traffic(lab)["flows"])
    t = settle(lab, "reporting", sent + 1)
    assert t["dropped_by_client"]["reporting"] > 0 and t["dropped"] == t["dropped_by_client"]["reporting"]
    assert 4963 in [e["id"] for e in lab.host("sql01")["events"]]


def test_an_sa_deleted_under_require_drops_member_traffic_while_ike_renegotiates(make_lab: LabFactory) -> None:
    """What a promotion that resets SAs after the change does; the lab must show it, not hide it."""
    lab = make_lab(MEMBERS, inventory=PAIRED)
    for me, peer in (("sql01", "10.10.1.30"), ("app01", "10.10.1.20")):
        lab.ok(me, NEW_RULE, Name="pair", Remote=[peer], In="Require", Out="Request")
    t = settle(lab, "app01->sql01", 10)
    assert t["dropped_between_members"] <= 2  # at most the packet that started the first negotiation
    before = t["dropped_between_members"]
    lab.ok("app01", "Get-NetIPsecMainModeSA | Remove-NetIPsecMainModeSA")
    after = traffic(lab)
    assert after["dropped_between_members"] > before, after["flows"]
    assert "while IKE negotiates" in str(after["flows"][0]["last_problem"])


def test_connection_events_carry_event_5156_fields_in_order(make_lab: LabFactory) -> None:
    faults = CLIENT.replace("interval_ms = 50", 'interval_ms = 50\nconnection = "per_talk"')
    lab = make_lab(faults + "\n[audit]\nfiltering_platform_connection = \"success\"\n")
    settle(lab, "reporting", 2)
    event = next(e for e in lab.host("sql01")["events"] if e["id"] == 5156)
    assert list(event["data"])[:8] == ["ProcessID", "Application", "Direction", "SourceAddress", "SourcePort",
                                       "DestAddress", "DestPort", "Protocol"]
    assert event["data"]["Direction"] == "%%14592" and event["data"]["DestAddress"] == "10.10.1.50"
    assert event["data"]["SourcePort"] == "1433" and event["data"]["Protocol"] == 6
    unaudited = make_lab(faults)
    settle(unaudited, "reporting", 2)
    assert 5156 not in [e["id"] for e in unaudited.host("sql01")["events"]]  # off on a stock server


def test_a_sleeping_script_leaves_other_hosts_running(lab: Lab) -> None:
    finished: list[str] = []
    sleeper = threading.Thread(target=lambda: finished.append(str(lab.ok("sql01", "Start-Sleep -Seconds 3; 'slept'"))))
    sleeper.start()
    time.sleep(0.3)
    assert lab.ok("app01", "'awake'") == ["awake"]
    assert not finished  # app01's pipeline ran while sql01's slept (same WinRM server, same fleet lock)
    sleeper.join(timeout=30)
    assert finished == ["['slept']"]
