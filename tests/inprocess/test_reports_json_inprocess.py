"""The --json documents of apply, promote, status and rollback, from one in-process rollout (DESIGN §5: keys
are a contract)."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.ops.promote import promote
from ipsec_remote.ops.rollback import rollback
from ipsec_remote.ops.status import status

from .harness import inprocess_lab

PAIR = {"a": "app01", "b": "sql01", "verified": True, "main_mode_sa": True, "quick_mode_sa": True}
SA = {"mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19", "key_module": "IKEv1"},
      "qm": {"cipher": "AES256", "integrity": "SHA256", "transforms": ["ESP AES256/SHA256"], "pfs_group": "None"}}


def test_a_rollout_reports_its_documents(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        applied = lab.apply().to_json()
        assert applied["run_id"] == 1 and applied["ok"] is True and applied["interrupted"] is False
        assert applied["summary"] == applied["planned"] == {"add": 14, "change": 0, "destroy": 0}
        assert applied["hosts"] == {h: {"address": a, "changes": 5, "sent": 7, "done": 7, "failed": None}
                                    for h, a in (("sql01", "10.10.1.20"), ("app01", "10.10.1.30"))}
        assert applied["failed_hosts"] == {} and applied["not_done"] == {} and applied["armed_reverts"] == []
        assert applied["pairs"] == [{**PAIR, "inbound_security": "Request", "outbound_security": "Request",
                                     "sa": SA, "stale_sa": False, "problems": []}]
        assert applied["audit"]["sql01"] == {"before": {"ipsec_main_mode": "none", "ipsec_quick_mode": "none"},
                                             "after": {"ipsec_main_mode": "failure", "ipsec_quick_mode": "failure"}}

        promoted = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", None, 20, 4,
                           skip_drill=True).to_json()
        assert promoted["run_id"] == 2 and promoted["ok"] is True
        assert promoted["target"] == {"inbound": "Require", "outbound": "Request"}
        assert (promoted["skipped"], promoted["nothing_eligible"], promoted["failed_hosts"],
                promoted["refused_hosts"], promoted["interrupted"]) == ({}, None, {}, {}, False)
        [wave] = promoted["waves"]
        assert {k: wave[k] for k in ("number", "name", "pairs", "isolation_hosts", "status", "problems", "proofs")} \
            == {"number": 1, "name": "canary", "pairs": ["app01:sql01"], "isolation_hosts": [], "status": "confirmed",
                "problems": [], "proofs": [{"a": "app01", "b": "sql01", "verified": True, "problems": []}]}
        assert sorted(d["host"] for d in wave["deadlines"]) == ["app01", "sql01"]
        assert all(0 < d["seconds_left"] <= 20 and d["host_utc_offset"] == "UTC+00:00" for d in wave["deadlines"])

        now = status(lab.inv, lab.targets, lab.journal(), lab.playbook().verify, 4).to_json()
        assert now["ok"] is True and now["failed_hosts"] == {} and now["armed_reverts"] == []
        assert now["pairs"] == [{**PAIR, "inbound_security": "Require", "outbound_security": "Request",
                                 "sa": SA, "stale_sa": False, "problems": []}]
        assert now["hosts"] == {h: {"reachable": True, "drift": [], "drift_known": True} for h in ("sql01", "app01")}
        assert now["reverts"] == []  # the promotion was confirmed: no revert fired

        rolled = rollback(lab.inv, lab.targets, lab.journal(), 4).to_json()
        assert rolled["ok"] is True and rolled["run_id"] == 3  # status begins no run
        assert rolled["removed"] == {"app01": 7, "sql01": 7} and rolled["restored"] == {"app01": 0, "sql01": 0}
        assert rolled["summary"] == {"destroy": 14, "restore": 0}
        assert rolled["remaining"] == {"sql01": [], "app01": []} and rolled["unreachable_after"] == []
        assert rolled["audit"]["sql01"] == {"restored": {"ipsec_main_mode": "none", "ipsec_quick_mode": "none"}}
