"""The proof's pure helpers: each round's probes, the dependencies a host must reach (Kerberos: its KDCs),
what a probe report says about them, and how a host that took no part is named."""

from __future__ import annotations

from pathlib import Path

from ipsec_remote.model.inventory import Inventory, load_inventory
from ipsec_remote.model.playbook import Verify
from ipsec_remote.ops.proof import KERBEROS_PORT, _probes, _unreached, host_failure, kdc_probes

ROOT = Path(__file__).resolve().parents[2]
DC = ("domain controller dc01", "10.10.1.5", 88)


def _inv(tmp_path: Path, text: str | None = None) -> Inventory:
    path = tmp_path / "inventory.toml"
    path.write_text(text if text is not None else (ROOT / "inventory.toml").read_text())
    return load_inventory(path)


def test_a_host_that_took_no_part_is_named_with_its_own_reason() -> None:
    assert host_failure("sql01", None) == "sql01: not reachable (no session)"
    assert host_failure("sql01", "") == "sql01: not reachable (no session)"
    assert host_failure("sql01", "sql01: cannot connect") == "sql01: cannot connect"
    assert host_failure("sql01", "name clash") == "sql01: name clash"
    assert host_failure("sql01", "sql010: other") == "sql01: sql010: other"


def test_kerberos_hosts_must_reach_every_domain_controller(tmp_path: Path) -> None:
    inv = _inv(tmp_path)
    assert inv.auth.method == "kerberos" and KERBEROS_PORT == 88
    dcs = [(f"domain controller {e.name}", e.address, 88) for e in inv.exemptions if e.role == "domain_controller"]
    assert dcs
    assert kdc_probes(inv, ["sql01", "app01"]) == {"sql01": dcs, "app01": dcs}
    assert kdc_probes(inv, []) == {}
    # (copies that validation would refuse: the function must still hold on its own)
    certificate = inv.model_copy(update={"auth": inv.auth.model_copy(update={"method": "certificate"})})
    assert kdc_probes(certificate, ["sql01"]) == {}
    no_dc = inv.model_copy(update={"exemptions": [e for e in inv.exemptions if e.role != "domain_controller"]})
    assert kdc_probes(no_dc, ["sql01"]) == {}


def test_a_dependency_not_reached_is_a_problem_naming_how() -> None:
    report = {"Probes": [
        {"Target": "10.10.1.5", "Port": 88, "Connected": False, "Outcome": "TimedOut"},
        {"Target": "10.10.1.6", "Port": 88, "Connected": True},
        {"Target": "10.10.1.7", "Port": 389, "Connected": True},
        "not a probe",
    ]}
    deps = [DC, ("domain controller dc02", "10.10.1.6", 88), ("domain controller dc03", "10.10.1.7", 88),
            ("domain controller dc04", "10.10.1.8", 88)]
    assert _unreached("app01", report, deps) == [
        "app01: domain controller dc01 10.10.1.5 does not answer on TCP 88 (TimedOut) through the new policy "
        "(Kerberos: the next IKE renegotiation would fail)",
        "app01: domain controller dc03 10.10.1.7 does not answer on TCP 88 through the new policy "
        "(Kerberos: the next IKE renegotiation would fail)",
        "app01: domain controller dc04 10.10.1.8 does not answer on TCP 88 through the new policy "
        "(Kerberos: the next IKE renegotiation would fail)"]
    assert _unreached("app01", {"Probes": None}, []) == []
    assert _unreached("app01", {"Probes": [{"Target": "10.10.1.5", "Port": "88", "Connected": True}]}, [DC]) == []
    assert len(_unreached("app01", {}, [DC])) == 1


def test_each_round_probes_the_peer_from_one_or_both_ends_then_the_dependencies(tmp_path: Path) -> None:
    inv = _inv(tmp_path)
    [(a, b, pair)] = list(inv.expanded_pairs())
    one_way = Verify(timeout_s=4, poll_interval_s=0.2, both_directions=False)
    both = Verify(timeout_s=4, poll_interval_s=0.2, both_directions=True)
    # Pair probes may stop at the pair's SA (UntilSa); a dependency's connect is its answer, so it waits.
    to_b = {"Target": inv.host(b).address, "Port": pair.probe_port, "UntilSa": True}
    to_a = {"Target": inv.host(a).address, "Port": pair.probe_port, "UntilSa": True}
    assert _probes(inv, [(a, b, pair)], one_way, {}) == {a: [to_b], b: []}
    assert _probes(inv, [(a, b, pair)], both, {}) == {a: [to_b], b: [to_a]}
    deps = {a: [DC], b: [DC]}
    assert _probes(inv, [(a, b, pair)], one_way, deps) == {a: [to_b, {"Target": DC[1], "Port": 88}],
                                                           b: [{"Target": DC[1], "Port": 88}]}
    assert _probes(inv, [], both, deps) == {}
    # A peer that is also a dependency on the same port: its one report must say whether the connect answered.
    same = {a: [("domain controller dc01", inv.host(b).address, pair.probe_port)]}
    waits = {"Target": inv.host(b).address, "Port": pair.probe_port}
    assert _probes(inv, [(a, b, pair)], one_way, same) == {a: [waits, waits], b: []}
