"""Transport faults over the lab's HTTPS: HTTP 500 bursts within and beyond the retry budget, a connection
dropped mid-pipeline, a slow host (rtt 500 ms) and a host that is down — in one fleet, one apply.

Each faulty host is retried within budget or reported failed with a one-line reason (exit 1); every
other host and pair completes. Every wait is bounded by the subprocess timeout: a hang fails the test.
"""

from __future__ import annotations

from pathlib import Path

from .helpers import ROOT, cli_json, control_inspect, running_lab

# The three-tier example on the lab (Kerberos, PersistentStore) plus one more web server that is down.
INVENTORY = (
    (ROOT / "examples" / "three-tier-local.toml").read_text()
    .replace('method = "certificate"', 'method = "kerberos"').replace('ca_bundle = "corp-root-ca.pem"\n', "")
    .replace("store = 'corp.example.com\\IPsec Server Isolation'", 'store = "PersistentStore"')
    + '\n[[hosts]]\nname = "web04"\naddress = "10.20.1.14"\ngroups = ["web"]\n'
)
FAULTS = """
[hosts.web01]
winrm_errors = 2        # a short burst of HTTP 500: retried within the budget
[hosts.web02]
winrm_errors = 1000     # more than the retry budget: reported
[hosts.web03]
drop_after_calls = 5    # pool open (2) + the read (2) + the rules batch's Command: its Receive drops
[hosts.sql02]
rtt_ms = 500            # slow, but within every timeout
[hosts.web04]
down = true
"""
BOUND_S = 150  # generous: a slow host costs ~11 requests x 0.5 s; this only turns a hang into a failure


def test_transport_faults_are_retried_or_reported(tmp_path: Path) -> None:
    with running_lab(tmp_path, INVENTORY, FAULTS) as lab:
        rc, report, err = cli_json(lab, "apply", "inventory.toml", "--lab", timeout=BOUND_S)
        assert rc == 1, (report, err)
        failed = report["failed_hosts"]
        assert sorted(failed) == ["web02", "web03", "web04"], failed
        for host, reason in failed.items():
            assert reason and "\n" not in reason and "Traceback" not in reason, (host, reason)
        assert "HTTP 500" in failed["web02"], failed["web02"]
        assert "cannot connect" in failed["web04"], failed["web04"]
        assert "dropped" in failed["web03"], failed["web03"]  # not "cannot connect": it was connected
        verified = {frozenset((p["a"], p["b"])) for p in report["pairs"] if p["verified"]}
        # Every pair between healthy, retried or slow hosts is proven; none with a failed host is.
        for web in ("web01",):
            for sql in ("sql01", "sql02"):
                assert frozenset((web, sql)) in verified, (web, sql, report["pairs"])
        assert all(not (frozenset((p["a"], p["b"])) & set(failed)) or not p["verified"] for p in report["pairs"])
        # The failures are on stderr for a human too, one line per host.
        human = lab.cli("status", "inventory.toml", "--lab", timeout=BOUND_S)
        assert human.returncode == 1
        assert "Traceback" not in human.stderr + human.stdout
        hosts = control_inspect(lab)
        assert hosts["web01"]["requests"]["total"] > 2  # the burst, then real work
        assert hosts["web04"]["requests"]["total"] == 0
        # web03 got past opening its pool and reading its state before its connection dropped.
        assert hosts["web03"]["requests"]["Command"] >= 2, hosts["web03"]["requests"]
        assert "web03" in failed and "web03" in human.stdout
