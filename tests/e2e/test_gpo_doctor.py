"""doctor in GPO mode: the hosts' checks read their RSOP, the writer is checked for edit rights on the GPO
(a GPO session opened and never saved: nothing changes) and for the GPO's drift from the inventory."""

from __future__ import annotations

from pathlib import Path

from .conftest import running_lab
from .test_gpo_apply import GPO, INVENTORY, LISTENERS, MANAGED, gpo_doc


def test_doctor_checks_the_writer_and_changes_nothing(tmp_path: Path) -> None:
    with running_lab(tmp_path, INVENTORY, faults=LISTENERS) as lab:
        rc, doc = lab.json("doctor", "inventory.toml", "--lab")
        assert rc == 0, doc
        writer = [f for f in doc["findings"] if f["host"] == "dc01"]
        assert writer and all(f["severity"] == "warning" and f["problem"].startswith("GPO: ") for f in writer), writer
        # A stock host audits no IPsec failures; in GPO mode the fix is a GPO's audit policy, not the inventory
        # switch GPO mode ignores.
        audit = [f for f in doc["findings"] if f["problem"].startswith("IPsec auditing is off")]
        assert sorted(f["host"] for f in audit) == sorted(MANAGED), doc["findings"]
        assert all("Advanced Audit Policy Configuration" in f["fix"] and "Audit IPsec Main Mode" in f["fix"]
                   and "enable_ipsec_audit" not in f["fix"] for f in audit), audit
        assert gpo_doc(lab)["gpos"][GPO]["version"] == 0
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        rc, doc = lab.json("doctor", "inventory.toml", "--lab")
        assert rc == 0 and [f for f in doc["findings"] if f["host"] == "dc01"] == [], doc["findings"]
        assert gpo_doc(lab)["gpos"][GPO]["version"] == 1  # apply's one Save; doctor saved nothing


def test_doctor_finds_missing_edit_rights_on_the_gpo(tmp_path: Path) -> None:
    with running_lab(tmp_path, INVENTORY, faults=LISTENERS + f"[domain]\ndeny_gpo_edit = ['{GPO}']\n") as lab:
        rc, doc = lab.json("doctor", "inventory.toml", "--lab")
        assert rc == 1, doc
        errors = [f for f in doc["findings"] if f["severity"] == "error"]
        assert [f["host"] for f in errors] == ["dc01"], errors
        assert "cannot open GPO" in errors[0]["problem"] and "permission to edit GPO" in errors[0]["problem"]
        assert gpo_doc(lab)["gpos"][GPO]["version"] == 0
