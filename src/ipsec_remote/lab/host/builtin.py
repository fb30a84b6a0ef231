"""Helpers for the non-NetSecurity cmdlets, whose ParamSpecs are written by hand (the reference covers the
NetSecurity module only) — each lists only the parameters the lab implements, so anything else fails at
binding instead of being ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..commands import FunctionCommand, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, ErrorRecord, PowerShellError

if TYPE_CHECKING:
    from .state import LabHost

BuiltinHandler = Callable[["LabHost", InvocationContext, CaseInsensitiveDict, list[Any]], Iterable[Any]]
SWITCH = "SwitchParameter"
COMMON_CHANGE = (ParamSpec("WhatIf", SWITCH, aliases=("wi",)), ParamSpec("Confirm", SWITCH, aliases=("cf",)))


def builtin_command(host: LabHost, name: str, params: Iterable[ParamSpec], handler: BuiltinHandler) -> FunctionCommand:
    def run(ctx: InvocationContext, args: CaseInsensitiveDict, pipeline_input: list[Any]) -> list[Any]:
        return list(handler(host, ctx, args, pipeline_input))

    return FunctionCommand(name=name, params={p.name: p for p in params}, fn=run, accepts_pipeline=True)


def ps_error(
    message: str, error_id: str, category: str, exception_type: str, target: Any = None,
    command: str | None = None, terminating: bool = False,
) -> PowerShellError:
    return PowerShellError(
        ErrorRecord(message=message, error_id=error_id, category=category, exception_type=exception_type,
                    target=target, command=command),
        terminating=terminating,
    )
