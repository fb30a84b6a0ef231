"""A tiny fake host: a few commands with Windows-shaped parameters, recording what they were called with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from ipsec_remote.lab.commands import CommandTable, FunctionCommand, InvocationContext, ParamSpec
from ipsec_remote.lab.engine import Engine, ScriptResult
from ipsec_remote.lab.values import CaseInsensitiveDict, ErrorRecord, PowerShellError, PSObject

RULE_PARAMS = {
    p.name: p
    for p in (
        ParamSpec("DisplayName", "String", mandatory=True, position=0),
        ParamSpec("Name", "String", aliases=("ID",)),
        ParamSpec("InboundSecurity", "SecurityPolicy", values=("None", "Request", "Require")),
        ParamSpec("OutboundSecurity", "SecurityPolicy", values=("None", "Request", "Require")),
        ParamSpec("Encapsulation", "IPsecEncapsulation", values=("None", "AH", "ESP")),
        ParamSpec("Profile", "Profile", values=("Any", "Domain", "Private", "Public", "NotApplicable"), flags=True),
        ParamSpec("RemoteAddress", "String[]", array=True),
        ParamSpec("Enabled", "Boolean"),
        ParamSpec("MaxMinutes", "UInt32"),
        ParamSpec("StartTime", "DateTime"),
        ParamSpec("Proposal", "CimInstance[]", array=True),
        ParamSpec("PassThru", "SwitchParameter"),
        ParamSpec("PolicyStore", "String"),
    )
}


class FakeHost:
    def __init__(self) -> None:
        self.calls: list[tuple[str, CaseInsensitiveDict]] = []
        self.table = CommandTable()
        self.table.add(FunctionCommand("New-NetIPsecRule", RULE_PARAMS, self.new_rule, accepts_pipeline=True))
        self.table.add(
            FunctionCommand(
                "Get-Thing",
                {
                    "Name": ParamSpec("Name", "String[]", array=True, position=0),
                },
                self.get_thing,
                accepts_pipeline=True,
            )
        )
        self.table.add(
            FunctionCommand("Stop-Hard", {"Message": ParamSpec("Message", "String", position=0)}, self.stop_hard)
        )
        self.table.add(FunctionCommand("Invoke-Buggy", {}, self.buggy))
        self.table.add(FunctionCommand("Get-Items", {"Count": ParamSpec("Count", "Int32", position=0)}, self.get_items))

    def new_rule(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        self.calls.append(("New-NetIPsecRule", args))
        if args.get("PassThru"):
            yield PSObject.cim("root/StandardCimv2/MSFT_NetConSecRule", dict(args.items()))

    def get_thing(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        self.calls.append(("Get-Thing", args))
        for name in list(args.get("Name") or []) + [str(d) for d in data]:
            if name.startswith("missing"):
                ctx.write_error(
                    ErrorRecord(f"No thing named '{name}'.", "ThingNotFound", "ObjectNotFound", target=name)
                )
                continue
            yield PSObject.cim("Thing", {"Name": name, "Size": len(name)})

    def stop_hard(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        raise PowerShellError(ErrorRecord(str(args.get("Message")), "HardStop", "InvalidOperation"), terminating=True)

    def buggy(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        raise KeyError("oops")

    def get_items(self, ctx: InvocationContext, args: CaseInsensitiveDict, data: list[Any]) -> Iterable[Any]:
        return [PSObject.custom(Id=i, Name=f"item{i}") for i in range(args.get("Count") or 0)]


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def engine(host: FakeHost) -> Engine:
    return Engine(host.table)


@pytest.fixture
def run(engine: Engine) -> Any:
    """run(script, **params) -> ScriptResult, asserting nothing; ok(script) asserts success."""

    def _run(script: str, params: Any = (), **kwargs: Any) -> ScriptResult:
        return engine.run(script, params, **kwargs)

    return _run


@pytest.fixture
def out(run: Any) -> Any:
    """out(script) -> the output list of a script that must succeed without errors."""

    def _out(script: str, params: Any = (), **kwargs: Any) -> list[Any]:
        res = run(script, params, **kwargs)
        assert res.failure is None, res.failure
        assert res.errors == [], res.errors
        return list(res.output)

    return _out
