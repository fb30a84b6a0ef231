"""Group Policy refresh on a lab host: ``gpupdate``, ``Invoke-GPUpdate`` and the background cycle.

* ``gpupdate /target:computer /force`` re-applies computer policy now and waits for it (gpupdate doc:
  ``/wait`` defaults to 600 s, so the command returns after processing); the lab refreshes at once.
* ``Invoke-GPUpdate`` (GroupPolicy module) *schedules* ``gpupdate`` on a computer through a scheduled task,
  after ``-RandomDelayInMinutes`` (default 10, range 0–44640; Invoke-GPUpdate doc and its class library
  page). Another computer is reached with the caller's credentials: from a WinRM session that is a second
  hop, which the lab denies (gpo_domain.py). The lab models the local computer only.
* Background: every 90 minutes plus a random 0–30 minutes (windows-behaviour.md §9), run by the fleet's
  timer through ``due_refresh``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, NativeCommand, ParamSpec
from ..values import CaseInsensitiveDict
from . import errors
from .gpo_domain import second_hop_denied
from .netsec_common import netsec_command

if TYPE_CHECKING:
    from .state import LabHost

INVOKE_GPUPDATE_PARAMS = {p.name: p for p in (
    ParamSpec("Computer", "String", position=0), ParamSpec("RandomDelayInMinutes", "Int32", position=1),
    ParamSpec("AsJob", "SwitchParameter"), ParamSpec("Boot", "SwitchParameter"),
    ParamSpec("Force", "SwitchParameter"), ParamSpec("LogOff", "SwitchParameter"),
    ParamSpec("Sync", "SwitchParameter"), ParamSpec("Target", "String"),
)}
DEFAULT_RANDOM_DELAY_MIN = 10


def refresh_now(host: LabHost) -> bool:
    link = host.stores.domain
    if link is None or not host.config.domain_joined:
        return False
    link.refresh(host.stores.gpos)
    host.notify_change()  # a refresh is a policy change: flows through this host see it at once
    return True


def due_refresh(host: LabHost) -> None:
    """The fleet timer: background and scheduled (Invoke-GPUpdate) refreshes that are due."""
    link = host.stores.domain
    if link is None:
        return
    now = host.now().timestamp()
    if link.next_background is None:
        link.next_background = now + link.domain.background_delay_s()
    due = [t for t in link.scheduled if t <= now]
    if due or now >= link.next_background:
        link.scheduled = [t for t in link.scheduled if t > now]
        if now >= link.next_background:
            link.next_background = now + link.domain.background_delay_s()
        refresh_now(host)


def _gpupdate(host: LabHost, argv: list[str]) -> tuple[list[str], int]:
    args = {a.lower() for a in argv}
    unknown = args - {"/target:computer", "/force", "/wait:0", "/wait:600"}
    if unknown:
        # The lab models computer-policy refreshes only.
        return [f"gpupdate: the lab does not model {sorted(unknown)[0]}"], 1
    if not refresh_now(host):
        # UNVERIFIED text: a computer outside a domain has no Group Policy to refresh.
        return ["Updating policy...", "", "Computer policy could not be updated successfully."], 1
    return ["Updating policy...", "", "Computer Policy update has completed successfully."], 0


def _invoke_gpupdate(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                     _in: list[Any]) -> Iterable[Any]:
    computer = str(args.get("Computer") or host.name)
    if computer.split(".")[0].split("\\")[-1].lower() != host.name.lower():
        raise second_hop_denied("Invoke-GPUpdate", computer, host.name)
    target = str(args.get("Target") or "Computer")
    if target.lower() not in ("computer", ""):
        raise errors.invalid_parameter("Invoke-GPUpdate", "the lab models -Target Computer only", target)
    link = host.stores.domain
    if link is not None:
        delay_min = args.get("RandomDelayInMinutes")
        delay_s = 60.0 * float(DEFAULT_RANDOM_DELAY_MIN if delay_min is None else int(delay_min))
        link.scheduled.append(host.now().timestamp() + link.domain.random_fraction() * delay_s)
    return []


def register(host: LabHost, table: CommandTable) -> None:
    table.add(NativeCommand("gpupdate.exe", lambda _ctx, argv: _gpupdate(host, argv)), "gpupdate")
    table.add(netsec_command(host, "Invoke-GPUpdate", _invoke_gpupdate, params=INVOKE_GPUPDATE_PARAMS))
