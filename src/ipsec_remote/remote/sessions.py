"""Fleet plumbing: one open session per host, bounded concurrency, calls as batch data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any, TypeVar

from .. import interrupt
from ..errors import IpsecRemoteError
from ..model.calls import CmdletCall, ParamValue, SecretRef
from ..model.inventory import resolve_secret
from .transport import HostSession, HostTarget, new_session, probe_fresh_session

T = TypeVar("T")
U = TypeVar("U")


class _NotStarted(Exception):
    """A host's work skipped because a stop was requested before its turn."""


@dataclass
class Fleet:
    """The sessions a command opened, and the hosts that could not be reached (with the reason)."""

    sessions: dict[str, HostSession] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    forks: int = 50

    def fail(self, host: str, reason: str) -> None:
        self.failed.setdefault(host, reason)
        session = self.sessions.pop(host, None)
        if session is not None:
            session.close()

    def each(self, fn: Callable[[str, HostSession], T], hosts: Iterable[str] | None = None,
             cleanup: bool = False) -> dict[str, T]:
        """``fn`` on every live host (or the given ones) concurrently; a failing host is recorded, not fatal.

        Once a stop is requested (Ctrl-C), hosts whose turn has not come yet are left out — they are not
        failed, just not done; the caller's next checkpoint ends the command. ``cleanup`` work (removing a
        dead-man's switch nothing needs any more) runs all the same.
        """
        names = [h for h in (hosts if hosts is not None else list(self.sessions)) if h in self.sessions]
        results: dict[str, T] = {}
        if not names:
            return results

        def guarded(host: str, session: HostSession) -> T:
            if interrupt.requested() and not cleanup:
                raise _NotStarted()
            return fn(host, session)

        with ThreadPoolExecutor(max_workers=min(self.forks, len(names))) as pool:
            futures = {h: pool.submit(guarded, h, self.sessions[h]) for h in names}
            for host, future in futures.items():
                try:
                    results[host] = future.result()
                except _NotStarted:
                    continue
                except IpsecRemoteError as exc:
                    self.fail(host, str(exc))
        return results

    def each_then(self, first: Callable[[str, HostSession], T], first_hosts: Iterable[str],
                  then: Callable[[str, HostSession], U], waits: Mapping[str, Iterable[str]]
                  ) -> tuple[dict[str, T], dict[str, U]]:
        """``first`` on ``first_hosts``, and ``then`` on each host of ``waits`` as soon as it and every host it
        waits on are through ``first`` (done, failed, or not among ``first_hosts``) — not after the whole
        fleet's ``first``: a phase's tail and the next phase's start overlap where nothing needs the barrier.
        One pool, ``forks`` at a time; a host's ``then`` waits for no other host's ``then``. A failed host is
        recorded as in ``each`` (its own ``then`` is skipped; the hosts waiting on it go on); after a stop,
        work whose turn has not come is left out."""
        firsts = [h for h in first_hosts if h in self.sessions]
        pending = set(firsts)
        blocked = {h: ({h, *peers} & pending) for h, peers in waits.items() if h in self.sessions}
        waiting_on: dict[str, list[str]] = {}
        for host, on in blocked.items():
            for other in on:
                waiting_on.setdefault(other, []).append(host)
        done_first: dict[str, T] = {}
        done_then: dict[str, U] = {}
        finished: SimpleQueue[tuple[str, str, Future[Any]]] = SimpleQueue()
        if not firsts and not blocked:
            return done_first, done_then

        def guarded(fn: Callable[[str, HostSession], Any], host: str, session: HostSession) -> Any:
            if interrupt.requested():
                raise _NotStarted()
            return fn(host, session)

        with ThreadPoolExecutor(max_workers=max(1, min(self.forks, len(firsts) + len(blocked)))) as pool:
            def submit(stage: str, fn: Callable[[str, HostSession], Any], host: str) -> None:
                future = pool.submit(guarded, fn, host, self.sessions[host])
                future.add_done_callback(lambda f: finished.put((stage, host, f)))

            for host in firsts:
                submit("first", first, host)
            for host in [h for h, on in blocked.items() if not on]:
                submit("then", then, host)
            outstanding = len(firsts) + sum(1 for on in blocked.values() if not on)
            while outstanding:
                stage, host, future = finished.get()
                outstanding -= 1
                try:
                    result = future.result()
                except _NotStarted:
                    pass
                except IpsecRemoteError as exc:
                    self.fail(host, str(exc))
                else:
                    (done_first if stage == "first" else done_then)[host] = result
                if stage != "first":
                    continue
                for ready in waiting_on.pop(host, []):
                    blocked[ready].discard(host)
                    if not blocked[ready] and ready in self.sessions:
                        submit("then", then, ready)
                        outstanding += 1
        return ({h: done_first[h] for h in firsts if h in done_first},
                {h: done_then[h] for h in waits if h in done_then})

    def open_each(self, targets: Mapping[str, HostTarget], fn: Callable[[str, HostSession], T] | None = None,
                  cleanup: bool = False) -> dict[str, T]:
        """Open each target's session and run ``fn`` on it at once, in the same worker: a host's first
        pipeline does not wait for the whole fleet's pools to open. Opening is mostly the controller's work
        (TLS, authentication) and the host's process start, a read mostly the host's, so overlapped the two
        keep both ends busy instead of taking turns. Sessions keep the targets' order; a host that cannot be
        reached is in ``failed`` with the reason, one whose ``fn`` fails is failed as in ``each``. Once a stop
        is requested, hosts whose turn has not come are neither opened nor failed (unless ``cleanup``)."""
        results: dict[str, T] = {}
        if not targets:
            return results

        def work(target: HostTarget) -> list[T]:  # fn's result, if it ran
            if interrupt.requested() and not cleanup:
                raise _NotStarted()
            try:
                session = new_session(target).open()
            except IpsecRemoteError as exc:
                self.failed.setdefault(target.name, str(exc))
                return []
            self.sessions[target.name] = session
            return [] if fn is None else [fn(target.name, session)]

        with ThreadPoolExecutor(max_workers=min(self.forks, len(targets))) as pool:
            futures = {name: pool.submit(work, target) for name, target in targets.items()}
            for host, future in futures.items():
                try:
                    for result in future.result():
                        results[host] = result
                except _NotStarted:
                    continue
                except IpsecRemoteError as exc:
                    self.fail(host, str(exc))
        self.sessions = {h: self.sessions[h] for h in targets if h in self.sessions}
        return results

    def close(self) -> None:
        with ThreadPoolExecutor(max_workers=max(1, min(self.forks, len(self.sessions)))) as pool:
            list(pool.map(lambda s: s.close(), list(self.sessions.values())))
        self.sessions.clear()


def open_fleet(targets: Mapping[str, HostTarget], forks: int) -> Fleet:
    fleet = Fleet(forks=forks)
    fleet.open_each(targets, cleanup=True)  # as before: every host is opened, a stop or not
    return fleet


def probe_fresh_sessions(targets: Mapping[str, HostTarget], hosts: Iterable[str], forks: int) -> dict[str, bool]:
    """``probe_fresh_session`` on each host, ``forks`` at a time (one after the other, a 750-host wave took
    longer than its confirm timeout: each opening starts a process on the host)."""
    names = list(hosts)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(names)))) as pool:
        return dict(zip(names, pool.map(lambda h: probe_fresh_session(targets[h]), names), strict=True))


def batch_data(call: CmdletCall) -> dict[str, Any]:
    """A call as data for ``invoke_batch.ps1``: scalars in ``params``, proposal calls in ``nested``.

    Secret references are resolved only here, in memory, on their way into the PSRP message.
    """
    params: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for name, value in call.params.items():
        items = value if isinstance(value, list) else None
        if isinstance(value, CmdletCall) or (items and all(isinstance(v, CmdletCall) for v in items)):
            calls = [value] if isinstance(value, CmdletCall) else items
            nested[name] = [{"cmdlet": c.cmdlet, "params": {k: _plain(v) for k, v in c.params.items()}}
                            for c in calls or [] if isinstance(c, CmdletCall)]
        else:
            params[name] = _plain(value)
    data: dict[str, Any] = {"cmdlet": call.cmdlet, "params": params}
    if nested:
        data["nested"] = nested
    return data


def _plain(value: ParamValue) -> Any:
    if isinstance(value, SecretRef):
        return resolve_secret(value.env).get_secret_value()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
