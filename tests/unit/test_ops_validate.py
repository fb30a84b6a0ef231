"""Every call is validated before it is sent — where the operations build them, not only in the planner.

apply (offline and live plans), promote (the Set-NetIPsecRule of a wave) and rollback (the restore plan
from the journal's snapshot) each build calls themselves; each must refuse a call the cmdlet reference
does not allow. Turning ``validate_plan`` into a no-op at any of these call sites fails a test here.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ipsec_remote.errors import ValidationError
from ipsec_remote.journal.store import Journal
from ipsec_remote.model import reference
from ipsec_remote.model.desired import DesiredObject, Kind, desired_objects
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops import apply, promote, rollback
from ipsec_remote.remote.hoststate import HostFacts, HostState

ROOT = Path(__file__).resolve().parents[2]


def reference_without(cmdlet: str, parameter: str) -> reference.Reference:
    """The project's reference with one parameter of one cmdlet removed (as if Microsoft had none)."""
    data: dict[str, Any] = json.loads(
        resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text("utf-8"))
    data = copy.deepcopy(data)
    del data["cmdlets"][cmdlet]["parameters"][parameter]
    return reference.Reference(data)


@pytest.fixture
def no_key_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """New-NetIPsecRule without -KeyModule: every fresh pair rule the inventory asks for becomes invalid."""
    tampered = reference_without("New-NetIPsecRule", "KeyModule")
    monkeypatch.setattr(reference, "load_reference", lambda: tampered)


def test_the_untampered_operations_pass() -> None:
    """The baseline: the same calls validate against the real reference (so the refusals below are the
    tampering's doing)."""
    inv = load_inventory(ROOT / "inventory.toml")
    plan = apply.offline_plan(inv)
    assert any(c.cmdlet == "New-NetIPsecRule" and "KeyModule" in c.params for h in plan.hosts for c in h.calls)
    assert promote._rule_calls(inv, [("app01", "sql01")], [], ("Require", "Request"))


def test_apply_offline_plan_validates(no_key_module: None) -> None:
    with pytest.raises(ValidationError, match="KeyModule"):
        apply.offline_plan(load_inventory(ROOT / "inventory.toml"))


def test_apply_live_plan_validates(no_key_module: None, tmp_path: Path) -> None:
    inv = load_inventory(ROOT / "inventory.toml")
    states = {h.name: HostState([], HostFacts()) for h in inv.hosts}
    with pytest.raises(ValidationError, match="KeyModule"):
        apply.live_plan(inv, states, Journal(tmp_path / "state.db"))


def test_promote_validates_the_wave_change() -> None:
    """A security value the reference does not list (a playbook typo that got that far) is refused before
    any wave is armed or changed."""
    inv = load_inventory(ROOT / "inventory.toml")
    with pytest.raises(ValidationError, match="OutboundSecurity"):
        promote._rule_calls(inv, [("app01", "sql01")], [], ("Require", "Transport"))


def test_promote_validates_with_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = reference_without("Set-NetIPsecRule", "Description")
    monkeypatch.setattr(reference, "load_reference", lambda: tampered)
    inv = load_inventory(ROOT / "inventory.toml")
    with pytest.raises(ValidationError, match="Description"):
        promote._rule_calls(inv, [("app01", "sql01")], ["sql01"], ("Require", "Request"))


def test_rollback_validates_the_restore_plan() -> None:
    """An object restored from the journal's snapshot with a value the reference refuses (a PFS group
    the enum does not list) never reaches the host."""
    inv = load_inventory(ROOT / "inventory.toml")
    qm = next(o for o in desired_objects(inv)["sql01"].objects if o.kind is Kind.QM_CRYPTO_SET)
    bad = DesiredObject(Kind.QM_CRYPTO_SET, qm.name, {**qm.params, "PerfectForwardSecrecyGroup": "DH1000"},
                        "restore")
    with pytest.raises(ValidationError, match="PerfectForwardSecrecyGroup"):
        rollback._restore_plan(inv, "sql01", HostState([], HostFacts()), [bad])
    # The same object as snapshotted (valid) passes.
    assert rollback._restore_plan(inv, "sql01", HostState([], HostFacts()), [qm]).calls
