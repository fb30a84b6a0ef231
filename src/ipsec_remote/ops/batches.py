"""A host's changes as one guarded batch (``invoke_batch.ps1``): what the guard asks of the host, what the
journal records of each call, which changes count as done, how a refused or stopped batch fails its host.
Shared by apply, rollback, promote and GPO apply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.store import Journal
from ..model.calls import CmdletCall
from ..plan.planner import CMDLETS, Change
from ..remote.sessions import batch_data
from ..remote.transport import HostSession


class StepFailed(IpsecRemoteError):
    """A cmdlet of a batch failed on the host; the batch stopped there."""


@dataclass(frozen=True)
class Guard:
    """The batch runs only if the host's owned objects are exactly ``expect`` (what the plan was made from)
    and none of ``absent`` (``Noun|Name`` of objects it creates) exists outside our group; with ``gate``
    (doctor.gate_params), only if none of the doctor's preflight errors can hold on the host either."""

    group: str
    store: str
    expect: tuple[str, ...] | list[str]
    absent: tuple[str, ...] = ()
    gate: Mapping[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        out = {"Guard": True, "Group": self.group, "PolicyStore": self.store, "ExpectOwned": list(self.expect)}
        if self.absent:
            out["Absent"] = list(self.absent)
        if self.gate:
            out.update(self.gate)
        return out


def creates(changes: list[Change]) -> tuple[str, ...]:
    return tuple(f"{CMDLETS[c.kind].noun}|{c.name}" for c in changes if c.action in ("create", "replace"))


@dataclass
class Ride:
    """A script sent as a second statement of a batch's pipeline (no round trip of its own); ``output``
    receives the objects ``mine`` recognises as its own."""

    script: str
    params: dict[str, Any]
    mine: Callable[[Any], bool]
    output: list[Any] = field(default_factory=list)


def execute_changes(journal: Journal, run_id: int, host: str, session: HostSession, phase: str,
                    changes: list[Change], guard: Guard | None = None, done: list[str] | None = None,
                    ride: Ride | None = None) -> int:
    """Send the changes' calls as one batch; ``done`` gets the action of each change that completed."""
    calls = [call for change in changes for call in change.calls]
    params: dict[str, Any] = {"Calls": [batch_data(c) for c in calls]}
    if guard is not None:
        params.update(guard.params())
    if ride is None:
        out = session.run("invoke_batch", params, retry=False)
        objects = out.objects
    else:
        out = session.run_statements([("invoke_batch", params), (ride.script, ride.params)])
        ride.output = [o for o in out.objects if ride.mine(o)]
        objects = [o for o in out.objects if not ride.mine(o)]
    results = [r for r in objects if isinstance(r, dict)]
    try:
        record_results(journal, run_id, host, phase, calls, results, out.errors)
    finally:
        if done is not None:
            done += completed(changes, results)
    return len(calls)


def completed(changes: list[Change], results: list[dict[str, Any]]) -> list[str]:
    """Actions of the changes whose every call succeeded (the batch stops at the first failure)."""
    ok = 0
    for result in results:
        if result.get("index", 0) < 0 or not result.get("ok"):
            break
        ok += 1
    out: list[str] = []
    used = 0
    for change in changes:
        used += len(change.calls)
        if used > ok:
            break
        out.append(change.action)
    return out


def record_results(journal: Journal, run_id: int, host: str, phase: str, calls: list[CmdletCall],
                    results: list[dict[str, Any]], errors: list[str]) -> None:
    if results and results[0].get("error_id") == "StateMoved":
        raise StepFailed(f"{host}: nothing applied: {results[0].get('error')} (run apply again to re-plan)")
    if results and results[0].get("error_id") == "NameClash":
        raise StepFailed(f"{host}: nothing applied: {results[0].get('error')} — rename or remove them")
    for call, result in zip(calls, results, strict=False):  # fewer results: the batch stopped
        journal.record_step(run_id, host, phase, call, bool(result.get("ok")), result.get("error"))
        if not result.get("ok"):
            raise StepFailed(f"{host}: {call.cmdlet} {_target(call)} failed: {result.get('error')}")
    if len(results) < len(calls):
        raise StepFailed(f"{host}: the batch stopped after {len(results)} of {len(calls)} calls"
                         + (f" ({errors[-1]})" if errors else ""))


def _target(call: Any) -> str:
    name = call.params.get("IPsecRuleName") or call.params.get("Name") or ""
    return f"'{name}'" if name else ""
