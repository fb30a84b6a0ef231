"""Traffic-aware promotion end to end: observe, would-break, --accept-breaking, zero drop (issue 15).

A lab client outside the inventory talks to sql01:1433 in clear text; members talk along their pair. The lab
counts every packet (``lab inspect --json`` → ``traffic``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .conftest import ROOT, Lab, running_lab
from .test_lockout import isolation_rule

CLIENT = "10.10.1.50"
FAULTS = f"""
[[clients]]
name = "reporting"
address = "{CLIENT}"
ipsec = false
talks_to = ["sql01:1433/TCP"]
interval_ms = 200
"""
MEMBERS = """
[traffic]
between_members_interval_ms = 100
negotiation_ms = 300
"""


def isolated_inventory(extra_policy: str = "") -> str:
    base = (ROOT / "inventory.toml").read_text()
    return base.replace('key_module = "IKEv1"', 'key_module = "IKEv1"\nserver_isolation = true' + extra_policy)


def traffic(lab: Lab) -> dict[str, Any]:
    rc, doc = lab.json("lab", "inspect", "inventory.toml")
    assert rc == 0, doc
    return doc["traffic"]  # type: ignore[no-any-return]


def wait_for_talks(lab: Lab, client: str, more_than: int) -> dict[str, Any]:
    """The client's flow has sent more packets than ``more_than`` (it talks every 200 ms)."""
    for _ in range(50):
        t = traffic(lab)
        sent = sum(f["sent"] for f in t["flows"] if f["owner"] == client)
        if sent > more_than:
            return t
        time.sleep(0.2)
    raise AssertionError(f"{client} sent nothing new: {t}")


def test_a_clear_text_client_holds_back_the_isolation_rule_until_accepted(tmp_path: Path) -> None:
    with running_lab(tmp_path, isolated_inventory(), FAULTS + MEMBERS) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, observed = lab.json("observe", "inventory.toml", "--lab", "--window", "5s")
        assert rc == 0, observed
        sql = observed["hosts"]["sql01"]
        clear = [f for f in sql["clear_text"] if f["remote_address"] == CLIENT]
        assert clear and clear[0]["port"] == 1433 and clear[0]["protocol"] == "TCP"
        assert clear[0]["direction"] == "inbound" and clear[0]["count"] >= 1
        assert "10.10.1.30" in sql["protected_peers"]  # app01's traffic runs over its SAs
        assert not [f for f in observed["hosts"]["app01"]["clear_text"] if f["remote_address"] == "10.10.1.20"]

        proc = lab.cli("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert CLIENT in proc.stdout
        hosts = lab.inspect()
        assert isolation_rule(hosts["sql01"])["InboundSecurity"] == "Request"  # held back
        assert isolation_rule(hosts["app01"])["InboundSecurity"] == "Require"  # nobody in clear there
        rc, status = lab.json("status", "inventory.toml", "--lab")
        assert status["hosts"]["sql01"]["isolation"] == "Request/Request"
        assert CLIENT in [p["remote_address"] for p in status["hosts"]["sql01"]["clear_text_peers"]]
        before = wait_for_talks(lab, "reporting", 0)
        assert before["dropped_by_client"] == {"reporting": 0}

        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill",
                              "--accept-breaking", CLIENT)
        assert rc == 0, report
        assert [b["remote_address"] for b in report["accepted_breaking"]] == [CLIENT]
        assert isolation_rule(lab.inspect()["sql01"])["InboundSecurity"] == "Require"
        sent = sum(f["sent"] for f in traffic(lab)["flows"] if f["owner"] == "reporting")
        after = wait_for_talks(lab, "reporting", sent + 2)
        assert after["dropped_by_client"]["reporting"] > 0  # what Windows does to a non-member under Require
        assert after["dropped_between_members"] == 0


def test_server_isolation_without_a_recent_observation_is_refused(tmp_path: Path) -> None:
    with running_lab(tmp_path, isolated_inventory()) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        calls = {h: len(v["calls"]) for h, v in lab.inspect().items()}
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 1, report
        assert sorted(report["refused_hosts"]) == ["app01", "sql01"]
        assert all("ipsec-remote observe" in why for why in report["refused_hosts"].values())
        assert report["waves"] == []
        assert {h: len(v["calls"]) for h, v in lab.inspect().items()} == calls  # nothing was changed


def test_member_traffic_loses_no_packet_through_promote_and_rollback(tmp_path: Path) -> None:
    with running_lab(tmp_path, faults=MEMBERS) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        before = traffic(lab)["sent"]
        rc, report = lab.json("promote", "--to", "require", "-i", "inventory.toml", "--lab", "--skip-drill")
        assert rc == 0, report
        rc, report = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        t = traffic(lab)
        assert t["sent"] - before >= 20, t  # traffic really ran meanwhile (10 exchanges a second)
        assert t["dropped_between_members"] == 0, t["flows"]
        assert t["dropped"] == 0


def test_connection_auditing_shows_short_and_udp_flows_and_is_restored(tmp_path: Path) -> None:
    faults = """
[[clients]]
name = "poller"
address = "10.10.1.60"
talks_to = ["sql01:1433/TCP"]
interval_ms = 200
connection = "per_talk"

[[clients]]
name = "resolver"
address = "10.10.1.61"
talks_to = ["sql01:53/UDP"]
interval_ms = 200
connection = "per_talk"
"""
    inventory = isolated_inventory("\nenable_connection_audit = true")
    # A 5 s operation timeout cuts a 6 s window in two pipelines: the second reads the events since the first.
    inventory = inventory.replace('scheme = "https"', 'scheme = "https"\noperation_timeout_s = 5')
    with running_lab(tmp_path, inventory, faults) as lab:
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, observed = lab.json("observe", "inventory.toml", "--lab", "--window", "6s")
        assert rc == 0, observed
        sql = observed["hosts"]["sql01"]
        assert sql["sources"]["events"] == "read"
        seen = {(f["remote_address"], f["protocol"], f["port"]): f for f in sql["clear_text"]}
        # A connection per request closes before any sample: only its 5156 events show it.
        poller = seen[("10.10.1.60", "TCP", 1433)]
        assert poller["sources"] == ["events"]
        assert poller["count"] >= 22  # a request every 200 ms over both chunks (one chunk alone holds ~15)
        # UDP endpoints have no remote end: the peer (a new source port per query) is known from the events alone.
        assert seen[("10.10.1.61", "UDP", 53)]["sources"] == ["events"]
        assert "53" in [str(p) for p in sql["udp_ports"]]
        audit = lab.inspect()["sql01"]["audit"]
        assert audit["filtering_platform_connection"] == "success_and_failure"
        assert audit["ipsec_main_mode"] == "failure"  # apply's IPsec auditing: a separate subcategory, kept
        rc, report = lab.json("rollback", "-i", "inventory.toml", "--lab")
        assert rc == 0, report
        restored = report["audit"]["sql01"]["restored"]
        assert restored["filtering_platform_connection"] == "none" and restored["ipsec_main_mode"] == "none"
        audit = lab.inspect()["sql01"]["audit"]
        assert audit["filtering_platform_connection"] == "none" and audit["ipsec_main_mode"] == "none"
