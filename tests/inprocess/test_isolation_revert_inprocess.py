"""Server isolation through promote and status, and a wave whose host drops out after the change (the
controller cannot revert it: the host's own task does), in-process."""

from __future__ import annotations

import threading
from pathlib import Path

from ipsec_remote.journal.deadman import latest_promotion_reverts
from ipsec_remote.lab.fleet.faults import HostFaults
from ipsec_remote.ops.observe import observe
from ipsec_remote.ops.promote import promote
from ipsec_remote.ops.status import status

from .harness import TRIO, InProcessLab, inprocess_lab

ISOLATED = TRIO.replace('key_module = "IKEv1"', 'key_module = "IKEv1"\nserver_isolation = true')


def test_isolation_moves_to_require_only_once_every_pair_of_the_host_is_promoted(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, ISOLATED) as lab:
        assert lab.apply().ok
        # Server isolation is promoted only after a recent observation of who talks to the hosts.
        assert observe(lab.inv, lab.targets, lab.journal(), 1.0, 0.5, 4).ok
        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                         skip_drill=True)
        assert report.ok, report.to_json()
        # Wave 1 promotes app01:sql01, but both hosts still have a pair with web01 at Request.
        assert [(w.number, w.isolated, w.status) for w in report.waves] == [
            (1, [], "confirmed"), (2, ["app01", "sql01", "web01"], "confirmed")]
        assert report.to_json()["waves"][1]["isolation_hosts"] == ["app01", "sql01", "web01"]
        rule = lab.rule("web01", "ipsec-remote-isolation")
        assert (rule["InboundSecurity"], rule["OutboundSecurity"]) == ("Require", "Request")
        journal = lab.journal().pair_security()
        assert journal[("web01", "*")] == ("Require", "Request")
        now = status(lab.inv, lab.targets, lab.journal(), lab.playbook().verify, 4)
        assert now.isolation == {h: ("Require", "Request") for h in ("sql01", "app01", "web01")}
        assert now.to_json()["hosts"]["app01"]["isolation"] == "Require/Request"
        back = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "request", None, 20, 4)
        # (A host demoted in wave 1 is listed again in wave 2: the start-of-run state decides; harmless.)
        assert back.ok and {h for w in back.waves for h in w.isolated} == {"app01", "sql01", "web01"}
        rule = lab.rule("web01", "ipsec-remote-isolation")
        assert (rule["InboundSecurity"], rule["OutboundSecurity"]) == ("Request", "Request")


def _set_down(lab: InProcessLab, host: str, down: bool) -> None:
    lab.fleet.faults.hosts.setdefault(host, HostFaults()).down = down


def test_a_host_lost_after_the_change_is_reverted_by_its_own_task(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok

        def say(host: str, message: str) -> None:
            if message.startswith("wave 1: revert armed") and host == "sql01":
                _set_down(lab, "sql01", True)  # unreachable from here on, for a while
                threading.Timer(4.0, _set_down, (lab, "sql01", False)).start()

        report = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 8, 4, say,
                         skip_drill=True)
        [wave] = report.waves
        assert wave.status == "reverted", wave
        assert "sql01: a new WinRM session through the new policy failed" in wave.problems
        # the session lost mid-proof, named once with its host (the fleet's reason already starts with it)
        assert "sql01: connection to inprocess://sql01/wsman dropped before the answer" in wave.problems
        assert not [p for p in wave.problems if p.startswith("sql01: sql01: ")], wave.problems
        # app01 was reverted by the controller at once; sql01 by its own task at the deadline.
        for host in ("app01", "sql01"):
            rule = lab.rule(host, "pair-app01-sql01")
            assert (rule["InboundSecurity"], rule["OutboundSecurity"]) == ("Request", "Request"), host
        assert lab.journal().pair_security() == {}
        assert not report.ok
        reverts = {r["host"]: r["status"] for r in latest_promotion_reverts(lab.journal())}
        assert reverts == {"app01": "reverted-by-controller", "sql01": "reverted-by-task"}
