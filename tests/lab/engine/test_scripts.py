"""The product's own scripts, run end to end through the engine against fake cmdlets."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ipsec_remote.lab.commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ipsec_remote.lab.engine import Engine
from ipsec_remote.lab.values import CaseInsensitiveDict, ErrorRecord, PSHashtable, PSObject

RULE_PARAMS = {
    p.name: p
    for p in (
        ParamSpec("DisplayName", "String", mandatory=True),
        ParamSpec("InboundSecurity", "SecurityPolicy", values=("None", "Request", "Require")),
        ParamSpec("Encapsulation", "IPsecEncapsulation", values=("None", "AH", "ESP")),
        ParamSpec("Profile", "Profile", values=("Any", "Domain", "Private", "Public"), flags=True),
        ParamSpec("RemoteAddress", "String[]", array=True),
        ParamSpec("Proposal", "CimInstance[]", array=True),
    )
}
SCRIPTS = Path(__file__).resolve().parents[3] / "src" / "ipsec_remote" / "remote" / "powershell"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class NetSec:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.table = CommandTable()
        proposal = {
            p.name: p
            for p in (
                ParamSpec("Encryption", "EncryptionAlgorithm", values=("None", "DES", "DES3", "AES128", "AES256")),
                ParamSpec("ESPHash", "HashAlgorithm", values=("None", "MD5", "SHA1", "SHA256")),
                ParamSpec("Encapsulation", "IPsecEncapsulation", values=("None", "AH", "ESP"), flags=True),
            )
        }
        self.table.add(FunctionCommand("New-NetIPsecQuickModeCryptoProposal", proposal, self.record))
        self.table.add(FunctionCommand("New-NetIPsecRule", RULE_PARAMS, self.record))
        self.table.add(
            FunctionCommand(
                "Remove-NetIPsecRule",
                {
                    "Name": ParamSpec("Name", "String[]", array=True),
                    "Group": ParamSpec("Group", "String[]", array=True),
                },
                self.record,
            )
        )
        self.table.add(FunctionCommand("Get-Date", {}, lambda ctx, args, data: [NOW]))
        self.table.add(
            FunctionCommand(
                "Get-WinEvent",
                {
                    "FilterHashtable": ParamSpec("FilterHashtable", "Hashtable[]", array=True),
                    "MaxEvents": ParamSpec("MaxEvents", "Int64"),
                },
                self.get_events,
            )
        )
        self.events: list[PSObject] = []

    def record(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        name = ctx.get_variable("MyInvocationName") or ""
        self.calls.append((name, dict(args.items())))
        yield PSObject.cim("Fake", dict(args.items()))

    def get_events(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        [flt] = args["FilterHashtable"]
        since = flt["StartTime"]
        found = [e for e in self.events if e.properties["TimeCreated"] >= since][: args["MaxEvents"]]
        if not found:
            ctx.write_error(
                ErrorRecord(
                    "No events were found that match the specified selection criteria.",
                    "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
                    "ObjectNotFound",
                )
            )
        return found


def _call(cmdlet: str, params: dict[str, Any], nested: dict[str, Any] | None = None) -> PSHashtable:
    call = PSHashtable(cmdlet=cmdlet, params=PSHashtable(params))
    if nested is not None:
        call["nested"] = PSHashtable(nested)
    return call


def test_invoke_batch_runs_calls_with_nested_proposals() -> None:
    netsec = NetSec()
    proposal = _call(
        "New-NetIPsecQuickModeCryptoProposal", {"Encryption": "aes256", "ESPHash": "SHA256", "Encapsulation": "ESP"}
    )
    calls = [
        _call("New-NetIPsecRule", {"DisplayName": "r1", "InboundSecurity": "request", "Profile": "Domain,Private"}),
        _call(
            "New-NetIPsecRule",
            {"DisplayName": "r2", "RemoteAddress": ["10.0.0.1", "10.0.0.2"]},
            {"Proposal": [proposal]},
        ),
    ]
    res = Engine(netsec.table).run((SCRIPTS / "invoke_batch.ps1").read_text(), {"Calls": calls})
    assert res.failure is None and res.errors == []
    assert [(o.properties["index"], o.properties["ok"], o.properties["error"]) for o in res.output] == [
        (0, True, None),
        (1, True, None),
    ]
    first, nested, second = (args for _, args in netsec.calls)
    assert first["InboundSecurity"] == "Request" and first["Profile"] == ["Domain", "Private"]
    assert nested == {"Encryption": "AES256", "ESPHash": "SHA256", "Encapsulation": ["ESP"]}
    assert second["RemoteAddress"] == ["10.0.0.1", "10.0.0.2"]
    [built] = second["Proposal"]
    assert built.properties["Encryption"] == "AES256"


def test_invoke_batch_stops_at_the_first_error_and_reports_it() -> None:
    netsec = NetSec()
    calls = [
        _call("New-NetIPsecRule", {"DisplayName": "ok"}),
        _call("New-NetIPsecRule", {"DisplayName": "bad", "Encapsulation": "Transport"}),
        _call("New-NetIPsecRule", {"DisplayName": "never"}),
    ]
    res = Engine(netsec.table).run((SCRIPTS / "invoke_batch.ps1").read_text(), {"Calls": calls})
    assert res.failure is None and res.errors == []
    assert [o.properties["ok"] for o in res.output] == [True, False]
    failed = res.output[1].properties
    assert failed["error"].startswith("Cannot bind parameter 'Encapsulation'.")
    assert failed["error_id"] == "CannotConvertArgumentNoMessage,New-NetIPsecRule"
    assert len(netsec.calls) == 1


def test_invoke_batch_guards() -> None:
    netsec = NetSec()
    script = (SCRIPTS / "invoke_batch.ps1").read_text()
    res = Engine(netsec.table).run(script, {"Calls": [_call("Remove-NetIPsecRule", {"Group": "ipsec-remote"})]})
    assert res.output[0].properties["error"] == "refusing Remove-NetIPsecRule without a -Name/-IPsecRuleName selector"
    res = Engine(netsec.table).run(script, {"Calls": [_call("Format-Volume", {})]})
    assert res.output[0].properties["error"] == "cmdlet 'Format-Volume' is not on the allow-list"
    assert netsec.calls == []


def test_read_events_treats_no_events_as_empty() -> None:
    netsec = NetSec()
    engine = Engine(netsec.table)
    script = (SCRIPTS / "read_events.ps1").read_text()
    res = engine.run(script, {"SinceSeconds": 60})
    assert res.failure is None and res.errors == [] and res.output == []
    netsec.events = [
        PSObject.cim("EventLogRecord", {"Id": 4653, "TimeCreated": NOW - timedelta(seconds=5), "Message": "IKE failed"})
    ]
    res = engine.run(script, {"SinceSeconds": 60})
    assert res.failure is None
    [event] = res.output
    assert dict(event.properties.items()) == {
        "Id": 4653,
        "TimeCreated": "2026-01-01T11:59:55.0000000Z",
        "Message": "IKE failed",
    }


def test_repeated_runs_are_cheap() -> None:
    # A 1,000-host fleet runs the same text thousands of times: parsing is cached, runs walk the small AST.
    netsec = NetSec()
    engine = Engine(netsec.table)
    script = (SCRIPTS / "invoke_batch.ps1").read_text()
    calls = [_call("New-NetIPsecRule", {"DisplayName": f"r{i}", "InboundSecurity": "Request"}) for i in range(5)]
    engine.run(script, {"Calls": calls})
    start = time.perf_counter()
    for _ in range(200):
        res = engine.run(script, {"Calls": calls})
    per_run = (time.perf_counter() - start) / 200
    assert res.failure is None and len(res.output) == 5
    assert per_run < 0.01, per_run


def test_parallel_runs_from_threads() -> None:
    # Lab hosts serve WinRM requests from several threads: parsing and running must not interfere.
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine(CommandTable())

    def job(i: int) -> list[Any]:
        return engine.run(
            f"param($n) $acc = @(); foreach ($k in 1..$n) {{ $acc += $k * {i} }}; ,$acc", {"n": 50}
        ).output

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(32)))
    assert all(r == [[k * i for k in range(1, 51)]] for i, r in enumerate(results))
