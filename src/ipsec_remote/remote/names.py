"""Pure parser of ``read_names.ps1`` (names outside our group, promotion marks) and the mark's text.

A promotion is recorded on the hosts in the Description of each rule it changes (``Set-NetIPsecRule
-Description``, a String parameter of New-/Set-NetIPsecRule per the cmdlet reference), so the journal can be
rebuilt from the hosts. A mark counts only while the rule still carries the security it names: the
on-host revert restores the security and leaves the text, which then no longer matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model.desired import DesiredObject
from ..plan.planner import CMDLETS

NOUN_TITLES = {"NetIPsecRule": "rule", "NetIPsecMainModeRule": "main-mode rule",
               "NetIPsecMainModeCryptoSet": "main-mode crypto set",
               "NetIPsecQuickModeCryptoSet": "quick-mode crypto set", "NetIPsecPhase1AuthSet": "phase 1 auth set"}
_MARK = re.compile(r"ipsec-remote: promoted to (\w+)/(\w+)")


def promotion_mark(inbound: str, outbound: str, when: str) -> str:
    """The Description promote writes on a rule it raises ("" when it lowers back to Request/Request)."""
    if (inbound, outbound) == ("Request", "Request"):
        return ""
    return f"ipsec-remote: promoted to {inbound}/{outbound} on {when}"


def parse_mark(description: str | None) -> tuple[str, str] | None:
    found = _MARK.search(description or "")
    return (found.group(1), found.group(2)) if found else None


@dataclass(frozen=True)
class Unowned:
    noun: str
    name: str
    group: str

    def describe(self) -> str:
        owner = f"group '{self.group}'" if self.group else "no group"
        return f"{NOUN_TITLES.get(self.noun, self.noun)} '{self.name}' ({owner})"


@dataclass(frozen=True)
class HostNames:
    unowned: tuple[Unowned, ...] = ()
    descriptions: Mapping[str, str] = field(default_factory=dict)  # our rule name (lower case) -> Description

    def mark(self, rule: str) -> tuple[str, str] | None:
        return parse_mark(self.descriptions.get(rule.lower()))


def parse_names(report: Mapping[str, Any]) -> HostNames:
    unowned = tuple(Unowned(str(u.get("Noun")), str(u.get("Name")), str(u.get("Group") or ""))
                    for u in report.get("Unowned") or [] if isinstance(u, Mapping))
    marks = {str(m.get("Name")).lower(): str(m.get("Description") or "")
             for m in report.get("Marks") or [] if isinstance(m, Mapping)}
    return HostNames(unowned, marks)


def absent_keys(objects: Iterable[DesiredObject]) -> list[str]:
    """``Noun|Name`` of objects a batch creates, for invoke_batch's name-clash guard."""
    return [f"{CMDLETS[o.kind].noun}|{o.name}" for o in objects]


def clashes(objects: Iterable[DesiredObject], names: HostNames) -> list[Unowned]:
    """Objects outside our group that hold a name we need (same class, names compared case-insensitively)."""
    wanted = {(CMDLETS[o.kind].noun, o.name.lower()) for o in objects}
    return [u for u in names.unowned if (u.noun, u.name.lower()) in wanted]
