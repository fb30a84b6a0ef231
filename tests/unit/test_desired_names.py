"""What an admin sees of the desired objects: each object's name, the DisplayName it carries on the host (wf.msc)
and the one-line summary `plan` prints, for the three-tier example (group pairs with ports, a host pair,
certificate auth); peers in numeric address order (10.20.1.9 before 10.20.1.11)."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.model.desired import Kind, desired_objects
from ipsec_remote.model.inventory import load_toml, parse_inventory

ROOT = Path(__file__).resolve().parents[2]

SEEN = [
    ("sql01", "ipsec-remote-mm", "ipsec-remote: main mode crypto", "main mode AES256/SHA384/DH20, AES256/SHA256/DH19"),
    ("sql01", "ipsec-remote-qm", "ipsec-remote: quick mode crypto",
     "quick mode ESP AESGCM256/AESGMAC256, ESP AES256/SHA256, PFS DH19"),
    ("sql01", "ipsec-remote-p1", "ipsec-remote: phase 1 certificate", "phase 1 auth: machine certificate"),
    ("sql01", "ipsec-remote-mm-peers", "ipsec-remote: main mode toward peers",
     "main mode rule toward 10.20.1.9, 10.20.1.11, 10.20.1.12, 10.20.2.22"),
    ("sql01", "ipsec-remote-pair-web01-sql01", "ipsec-remote: peer web01",
     "transport Request/Request with web01 10.20.1.11, TCP local port 1433"),
    ("sql01", "ipsec-remote-pair-web02-sql01", "ipsec-remote: peer web02",
     "transport Request/Request with web02 10.20.1.12, TCP local port 1433"),
    ("sql01", "ipsec-remote-pair-web03-sql01", "ipsec-remote: peer web03",
     "transport Request/Request with web03 10.20.1.9, TCP local port 1433"),
    ("sql01", "ipsec-remote-pair-sql01-sql02", "ipsec-remote: sql01 <-> sql02",
     "transport Request/Request with sql02 10.20.2.22, all traffic"),
    ("web01", "ipsec-remote-mm", "ipsec-remote: main mode crypto", "main mode AES256/SHA384/DH20, AES256/SHA256/DH19"),
    ("web01", "ipsec-remote-qm", "ipsec-remote: quick mode crypto",
     "quick mode ESP AESGCM256/AESGMAC256, ESP AES256/SHA256, PFS DH19"),
    ("web01", "ipsec-remote-p1", "ipsec-remote: phase 1 certificate", "phase 1 auth: machine certificate"),
    ("web01", "ipsec-remote-mm-peers", "ipsec-remote: main mode toward peers",
     "main mode rule toward 10.20.2.21, 10.20.2.22"),
    ("web01", "ipsec-remote-pair-web01-sql01", "ipsec-remote: peer sql01",
     "transport Request/Request with sql01 10.20.2.21, TCP remote port 1433"),
    ("web01", "ipsec-remote-pair-web01-sql02", "ipsec-remote: peer sql02",
     "transport Request/Request with sql02 10.20.2.22, TCP remote port 1433"),
]


def test_names_display_names_and_summaries() -> None:
    data = load_toml(ROOT / "examples" / "three-tier.toml")
    for host in data["hosts"]:
        if host["name"] == "web03":
            host["address"] = "10.20.1.9"  # sorts after 10.20.1.11 as text, before it as a number
    per_host = desired_objects(parse_inventory(data))
    seen = [(h, o.name, o.params.get("DisplayName"), o.summary) for h in ("sql01", "web01")
            for o in per_host[h].objects if o.kind is not Kind.EXEMPTION]
    assert seen == SEEN
    [mm_rule] = [o for o in per_host["sql01"].objects if o.kind is Kind.MM_RULE]
    assert mm_rule.params["RemoteAddress"] == ["10.20.1.9", "10.20.1.11", "10.20.1.12", "10.20.2.22"]
