"""The dead-man's switches of one promotion wave (or one drill): arm, disarm, revert now, or wait for the
hosts' own tasks.

Deadlines are the hosts' own (remote/deadman.py): each host reports when its task fires on its clock, and the
controller counts the seconds left from the moment it sent the arm request, so the earliest deadline of the
wave is the one it acts on. Disarming reports whether a task had already run; after a deadline, a host that
did not answer is polled — its task's state, last run and result, and its marker — until the task is done or
the bound runs out, never judged on one early look.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import IpsecRemoteError
from ..journal.store import Journal
from ..remote.deadman import (
    REVERT_TASK,
    SCHED_S_TASK_HAS_NOT_RUN,
    SCHED_S_TASK_RUNNING,
    Deadline,
    Marker,
    data_file,
    deadline_of,
    inline_command,
    marker_of,
    task_result_text,
)
from ..remote.sessions import Fleet
from ..remote.transport import HostSession, HostTarget, RetryPolicy

POLL_S = 1.0
TIME_LIMIT_MINUTES = 10  # the task's ExecutionTimeLimit


class SwitchError(IpsecRemoteError):
    pass


def run_fresh(target: HostTarget, script: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run a script over a brand-new connection (the old pool may ride a connection made before a change)."""
    try:
        with HostSession(target, RetryPolicy(attempts=2, budget_s=10)) as session:
            out = session.run(script, dict(params or {}), retry=False)
    except IpsecRemoteError as exc:
        raise SwitchError(str(exc)) from None
    first = out.objects[0] if out.objects else {}
    return first if isinstance(first, dict) else {}


def run_fresh_or_none(target: HostTarget, script: str, params: Mapping[str, Any] | None = None
                      ) -> dict[str, Any] | None:
    try:
        return run_fresh(target, script, params)
    except SwitchError:
        return None


@dataclass
class Armed:
    host: str
    deadline: Deadline
    due_at: float  # controller monotonic time of the deadline (counted from when the arm was sent)


@dataclass
class Outcome:
    """What a host's switch turned out to be: ``status`` is the journal's word for it."""

    status: str
    detail: str = ""
    marker: Marker | None = None
    ok: bool = True


@dataclass
class Switch:
    fleet: Fleet
    targets: Mapping[str, HostTarget]
    journal: Journal
    run_id: int
    wave_id: int | None = None
    task: str = REVERT_TASK
    say: Callable[[str, str], None] = field(default=lambda _h, _m: None)
    armed: dict[str, Armed] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)  # what each host's revert restores
    statuses: dict[str, str] = field(default_factory=dict)  # the journal's word for each host so far
    revert_ids: dict[str, int] = field(default_factory=dict)
    arm_reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # what each host's arm said
    round_trip_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- arm ---------------------------------------------------------------------------------------------
    def arm(self, lines: Mapping[str, list[str]], delay_s: int) -> dict[str, str]:
        """Arm every host; returns problems per host that could not be armed."""
        problems: dict[str, str] = {}
        self.lines.update({h: list(v) for h, v in lines.items()})

        def arm_one(host: str, session: HostSession) -> None:
            text, digest = data_file(lines[host])
            try:
                encoded = inline_command(self.task, digest)
            except ValueError as exc:
                raise SwitchError(str(exc)) from None
            params = {"TaskName": self.task, "Data": text, "Digest": digest, "EncodedCommand": encoded,
                      "DelaySeconds": delay_s, "TimeLimitMinutes": TIME_LIMIT_MINUTES}
            sent = time.monotonic()
            out = session.run("arm_revert", params, retry=False)
            received = time.monotonic()
            first = out.objects[0] if out.objects and isinstance(out.objects[0], dict) else {}
            deadline = deadline_of(host, first.get("Deadline"), first.get("HostNow"))
            if deadline is None:
                problems[host] = f"the host did not report its deadline ({first!r:.200})"
                return
            entry = Armed(host, deadline, sent + deadline.seconds_left)
            revert_id = None
            if self.wave_id is not None:
                revert_id = self.journal.record_revert(self.run_id, self.wave_id, host, self.task,
                                                       deadline.utc.isoformat(), "armed")
            with self._lock:
                self.armed[host] = entry
                self.arm_reports[host] = first
                self.statuses[host] = "armed"
                if revert_id is not None:
                    self.revert_ids[host] = revert_id
                self.round_trip_s = max(self.round_trip_s, received - sent)

        self.fleet.each(arm_one, list(lines))
        for host in lines:
            if host not in self.armed and host not in problems:
                problems[host] = f"could not arm the revert ({self.fleet.failed.get(host, 'unknown')})"
        return problems

    def earliest(self) -> float | None:
        return min((a.due_at for a in self.armed.values()), default=None)

    def pending(self) -> list[Deadline]:
        """The deadlines still armed, as of now (seconds left recounted on the controller's clock)."""
        now = time.monotonic()
        with self._lock:
            return [Deadline(a.host, a.deadline.local, a.due_at - now) for a in
                    sorted(self.armed.values(), key=lambda a: a.due_at)]

    def record(self, host: str, status: str) -> None:
        """Journal a host's outcome; a revert that fired before the confirm stays recorded as such even when
        the controller then restores the same rules again."""
        if self.statuses.get(host) == "reverted-before-confirm" and status == "reverted-by-controller":
            return
        self.statuses[host] = status
        if host in self.revert_ids:
            self.journal.update_revert(self.revert_ids[host], status)

    def _done(self, host: str, status: str) -> None:
        self.record(host, status)
        with self._lock:
            self.armed.pop(host, None)

    # --- confirm -----------------------------------------------------------------------------------------
    def disarm(self, hosts: list[str], status: str = "confirmed") -> dict[str, Outcome]:
        """Remove the tasks. A host whose task had already run (or was running) is reported and journalled
        as 'reverted-before-confirm'; the others get ``status`` from the caller (``record``) once it knows
        the whole wave's fate."""
        outcomes: dict[str, Outcome] = {}

        def disarm_one(host: str, session: HostSession) -> None:
            out = session.run("disarm_revert", {"TaskName": self.task}, retry=False)
            first = out.objects[0] if out.objects and isinstance(out.objects[0], dict) else {}
            marker = marker_of(first.get("Marker"), first.get("MarkerSddl"), first.get("FolderSddl"))
            running = str(first.get("State") or "") == "Running"
            if (marker is not None and marker.trusted) or running:
                what = marker.describe() if marker is not None and marker.trusted else "its task was running"
                outcomes[host] = Outcome("reverted-before-confirm", f"the revert fired before the confirm ({what})",
                                         marker, ok=False)
            elif not first.get("TaskRemoved"):
                outcomes[host] = Outcome("not-run", "the revert task was gone, and no trusted marker says it ran",
                                         marker, ok=False)
            else:
                outcomes[host] = Outcome(status)

        self.fleet.each(disarm_one, hosts, cleanup=True)  # also after a Ctrl-C: nothing needs them
        for host in hosts:
            outcome = outcomes.get(host) or Outcome("unknown", f"could not disarm ({self.fleet.failed.get(host)})",
                                                    ok=False)
            outcomes[host] = outcome
            if outcome.status != "unknown":  # the task is gone either way
                with self._lock:
                    self.armed.pop(host, None)
                if not outcome.ok:
                    self.record(host, outcome.status)
        return outcomes

    # --- revert ------------------------------------------------------------------------------------------
    def revert_now(self, host: str) -> Outcome | None:
        """Restore a host's rules over a new connection; None if it cannot be reached (its task must)."""
        lines = self.lines.get(host)
        if lines is None:
            return Outcome("reverted-by-controller", "nothing armed")
        try:
            first = run_fresh(self.targets[host], "revert_task", {"TaskName": self.task, "Lines": lines})
        except SwitchError:
            return None
        before = marker_of(first.get("MarkerBefore"), first.get("MarkerSddl"), first.get("FolderSddl"))
        if str(first.get("Status")) != "ok":
            failed = ", ".join(urllib.parse.unquote(str(f)) for f in first.get("Failed") or []) or "?"
            self.record(host, "revert-failed")
            return Outcome("revert-failed", f"could not restore {failed}; its task stays armed", ok=False)
        if before is not None and before.trusted:
            self._done(host, "reverted-before-confirm")
            return Outcome("reverted-before-confirm", f"the revert had fired before the confirm ({before.describe()})",
                           before, ok=True)
        self._done(host, "reverted-by-controller")
        return Outcome("reverted-by-controller")

    def wait_for_tasks(self, hosts: list[str], bound_s: float) -> dict[str, Outcome]:
        """After each host's deadline, poll its task (state, last run time and result) and marker over new
        connections until the task has run and left a trusted marker, or ``bound_s`` is over."""
        waiting = [h for h in hosts if h in self.armed]
        outcomes: dict[str, Outcome] = {}
        last_seen: dict[str, dict[str, Any] | None] = {}
        if not waiting:
            return outcomes
        start = max(self.armed[h].due_at for h in waiting)
        time.sleep(max(0.0, start - time.monotonic()))
        give_up = time.monotonic() + bound_s
        while waiting:
            for host in list(waiting):
                seen = run_fresh_or_none(self.targets[host], "check_revert", {"TaskNames": [self.task]})
                last_seen[host] = seen
                outcome = _judge(seen) if seen is not None else None
                if outcome is not None:
                    outcomes[host] = outcome
                    waiting.remove(host)
            if not waiting or time.monotonic() >= give_up:
                break
            time.sleep(POLL_S)
        for host in waiting:
            seen = last_seen.get(host)
            if seen is None:
                outcomes[host] = Outcome("unreachable", f"still unreachable {bound_s:.0f} s after its deadline",
                                         ok=False)
            else:
                result = task_result_text(seen.get("LastTaskResult"))
                outcomes[host] = Outcome(
                    "not-run", f"its task had not finished {bound_s:.0f} s after the deadline (state "
                               f"{seen.get('State') or '?'}, last result {result})", ok=False)
        for host, outcome in outcomes.items():
            self._done(host, outcome.status)
        return outcomes


def _judge(seen: dict[str, Any]) -> Outcome | None:
    """One look at a task; None while it has not finished."""
    marker = marker_of(seen.get("Marker"), seen.get("MarkerSddl"), seen.get("FolderSddl"))
    if seen.get("TaskPresent"):
        code = seen.get("LastTaskResult")
        if code is None or int(code) in (SCHED_S_TASK_RUNNING, SCHED_S_TASK_HAS_NOT_RUN) or \
                str(seen.get("State")) == "Running":
            return None  # not started yet, or powershell.exe still starting
        return Outcome("revert-failed", f"its task ran and failed: last result {task_result_text(code)}", marker,
                       ok=False)
    if marker is None:
        return Outcome("not-run", "its task is gone and left no marker", ok=False)
    if not marker.trusted:
        return Outcome("not-run", "its task is gone; the only marker is in a folder or file others can write "
                                  "(not trusted)", marker, ok=False)
    if marker.status != "ok":
        return Outcome("revert-failed", f"its task ran: {marker.describe()}", marker, ok=False)
    return Outcome("reverted-by-task", marker.describe(), marker)
