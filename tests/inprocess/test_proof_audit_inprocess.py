"""An unproven pair's diagnosis says when a host's IPsec auditing is off (its events cannot explain the
failure there), and says nothing of it when failures are audited."""

from __future__ import annotations

from pathlib import Path

from .harness import ROOT, inprocess_lab

# A stock host audits no IPsec subcategory (lab/host/audit.py); with enable_ipsec_audit = false apply leaves
# it so. IKEEXT disabled on sql01 keeps the pair from proving. A 1 s proof: the pair is expected to fail.
NO_AUDIT = (ROOT / "inventory.toml").read_text().replace("[policy]\n", "[policy]\nenable_ipsec_audit = false\n")
FAULTS = '[hosts.sql01]\nikeext = "disabled"\n'
SHORT_PROOF = "[verify]\ntimeout_s = 1\npoll_interval_s = 0.2\n"
HINT = "(policy.enable_ipsec_audit lets apply turn failure auditing on)"


def test_an_unproven_pair_names_each_host_whose_ipsec_auditing_is_off(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, NO_AUDIT, faults=FAULTS, playbook=SHORT_PROOF) as lab:
        report = lab.apply(lab.playbook())
        assert not report.ok
        (pair,) = report.pairs
        assert not pair.verified
        # Each host's diagnosis in turn, before the SA problems; no event 4653 on app01: nothing audits it.
        assert pair.problems[:3] == [
            "IPsec auditing is off on app01 (IPsec Main Mode: none, IPsec Quick Mode: none): failed negotiations "
            f"leave no event there {HINT}",
            "sql01: IKEEXT disabled",
            "IPsec auditing is off on sql01 (IPsec Main Mode: none, IPsec Quick Mode: none): failed negotiations "
            f"leave no event there {HINT}"]
        assert "app01: no main-mode SA with sql01" in pair.problems[3:]
        record = lab.journal().latest_verification("app01", "sql01")
        assert record is not None and record.detail["problems"] == pair.problems


def test_no_auditing_line_when_apply_turned_failure_auditing_on(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults=FAULTS, playbook=SHORT_PROOF) as lab:
        report = lab.apply(lab.playbook())
        assert not report.ok
        (pair,) = report.pairs
        assert not pair.verified and pair.problems
        assert not [p for p in pair.problems if "auditing" in p], pair.problems
