"""The in-process session keeps the wire's contract: types through CLIXML, errors, refusals, one open per host."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipsec_remote.remote.transport import RemoteScriptError, TransportError, new_session, probe_fresh_session

from .harness import InProcessSession, inprocess_lab


def test_output_keeps_its_types_through_clixml(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab:
        assert lab.apply().ok
        with new_session(lab.targets["sql01"]) as session:
            assert isinstance(session, InProcessSession)
            out = session.run("verify", {"Probes": [{"Target": "10.10.1.30", "Port": 1433}]})
    assert out.errors == [] and len(out.objects) == 1
    report = out.objects[0]
    assert report["Probes"] == [{"Target": "10.10.1.30", "Port": 1433, "Outcome": "timeout", "Connected": False,
                                 "Error": None}]
    sa = report["MainModeSAs"][0]
    # CIM uint16/uint32 codes arrive as ints (mapped to names on the controller), strings as str.
    assert (sa["LocalEndpoint"], sa["RemoteEndpoint"], sa["CipherAlgorithm"], sa["GroupId"]) == (
        "10.10.1.20", "10.10.1.30", 65003, 19)
    values = _walk(report)
    assert values
    for value in values:  # plain values only, none of pypsrp's or the lab's classes
        assert type(value) in (dict, list, str, int, float, bool, type(None)), (type(value), value)


def _walk(value: object) -> list[object]:
    out: list[object] = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def test_a_failing_step_raises_with_the_error_record_text(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path) as lab, new_session(lab.targets["sql01"]) as session:
        calls = [{"cmdlet": "Remove-NetIPsecRule", "params": {"IPsecRuleName": "no-such-rule",
                                                              "PolicyStore": "PersistentStore"}}]
        try:
            out = session.run("invoke_batch", {"Calls": calls}, retry=False)
        except RemoteScriptError as exc:  # a terminating error: the message names the host and the script
            assert str(exc).startswith("sql01: invoke_batch failed: ") and exc.errors
        else:  # or the batch reports the step as failed, per its contract
            assert out.objects and any("no-such-rule" in str(o) or "fail" in str(o).lower() for o in out.objects)


def test_a_host_that_is_down_refuses_and_one_that_goes_down_drops_the_open_session(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults="[hosts.app01]\ndown = true\n") as lab:
        with pytest.raises(TransportError, match=r"^app01: cannot connect to inprocess://app01/wsman$"):
            new_session(lab.targets["app01"]).open()
        assert not probe_fresh_session(lab.targets["app01"])
        assert probe_fresh_session(lab.targets["sql01"])
        session = new_session(lab.targets["sql01"]).open()
        lab.fleet.faults.hosts.setdefault("sql01", type(lab.fleet.faults.for_host("sql01"))()).down = True
        with pytest.raises(TransportError, match="dropped before the answer"):
            session.run("read_names")
        assert lab.opened == ["app01", "app01", "sql01", "sql01"]


LOCKOUT = """
[[hosts.app01.preexisting.rules]]
name = "corp-require-everything"
display_name = "someone required IPsec from the admin workstation"
group = "corp"
inbound_security = "Require"
outbound_security = "Request"
remote_address = ["10.10.1.100"]
"""


def test_a_host_whose_policy_locks_the_controller_out_refuses_it(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, faults=LOCKOUT) as lab:
        with pytest.raises(TransportError, match=r"^app01: cannot connect"):
            new_session(lab.targets["app01"]).open()
        assert lab.inspect()["app01"]["reachable_from_controller"] is False
        report = lab.apply()
        assert list(report.failed_hosts) == ["app01"] and not report.ok
