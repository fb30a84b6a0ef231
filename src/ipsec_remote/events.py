"""Progress events: what ops tell the operator while a command runs (rendering lives in report/progress.py).

An ``Event`` is a ``str`` — the line printed when output is piped — that also carries what happened as data
(``kind`` and fields), so the live display on a terminal can count hosts, pairs and waves without parsing
text. Ops pass it through their existing ``say(host, message)`` callbacks; a plain string is an event of
kind ``"note"``.
"""

from __future__ import annotations

from typing import Any

# kind -> fields: "hosts" (total), "phase" (name, hosts), "host_done" (phase), "host_failed", "pair_proven"
# (a, b), "proving" (pending, left_s, and total when a proof starts), "wave" (number, total, name, pairs,
# hosts), "note" (any other message)
KINDS = ("hosts", "phase", "host_done", "host_failed", "pair_proven", "proving", "wave", "note")


class Event(str):
    kind: str
    data: dict[str, Any]

    def __new__(cls, text: str, kind: str, **data: Any) -> Event:
        event = super().__new__(cls, text)
        event.kind = kind
        event.data = data
        return event


def kind_of(message: str) -> str:
    return message.kind if isinstance(message, Event) else "note"


def data_of(message: str) -> dict[str, Any]:
    return dict(message.data) if isinstance(message, Event) else {}


def wave_event(number: int, total: int, name: str, pairs: list[tuple[str, str]]) -> Event:
    hosts = len({h for p in pairs for h in p})
    return Event(f"wave {number}/{total} ({name}): {len(pairs)} pair(s) on {hosts} host(s)", "wave",
                 number=number, total=total, name=name, pairs=len(pairs), hosts=hosts)
