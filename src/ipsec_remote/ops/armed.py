"""Reverts armed on the hosts right now, read from the hosts themselves (for ``status``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..remote.deadman import REVERT_TASK, Deadline, deadline_of, task_result_text
from ..remote.sessions import Fleet
from ..remote.transport import HostSession


@dataclass
class ArmedRevert:
    host: str
    state: str
    deadline: Deadline | None  # None: past due (running, or about to)
    last_result: str

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any] = {"host": self.host, "state": self.state, "last_result": self.last_result}
        if self.deadline is not None:
            return {**self.deadline.to_json(), **base}
        return {**base, "deadline_host": None, "deadline_utc": None, "seconds_left": 0}

    def describe(self) -> str:
        if self.deadline is None:
            return f"{self.host}: revert task {self.state.lower() or 'present'}, past its deadline"
        return self.deadline.describe()


def read_armed(fleet: Fleet) -> list[ArmedRevert]:
    """Every host's revert task that is still registered, with its deadline as the host reports it."""

    def read(host: str, session: HostSession) -> ArmedRevert | None:
        out = session.run("check_revert", {"TaskNames": [REVERT_TASK]}, retry=False)
        first = out.objects[0] if out.objects and isinstance(out.objects[0], dict) else {}
        if not first.get("TaskPresent"):
            return None
        deadline = deadline_of(host, first.get("NextRunTime"), first.get("HostNow"))
        return ArmedRevert(host, str(first.get("State") or ""), deadline,
                           task_result_text(first.get("LastTaskResult")))

    found = fleet.each(read)
    return sorted((a for a in found.values() if a is not None),
                  key=lambda a: (a.deadline is not None, a.deadline.utc if a.deadline else None))

