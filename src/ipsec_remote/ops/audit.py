"""IPsec audit policy: read it (doctor, diagnosis, apply), turn on failure auditing (apply), restore it (rollback).

Event-based diagnosis needs the advanced audit subcategories IPsec Main Mode and IPsec Quick Mode (and IPsec
Driver, Filtering Platform Packet Drop for dropped packets), which a stock server does not audit
(windows-itpro-docs auditing/audit-ipsec-*.md: "Default: Not configured"). ``ipsec_audit.ps1`` runs auditpol
by GUID — names are localized, GUIDs are not (netsecurity-notes §5) — and returns ``auditpol /get … /r``'s
CSV lines, parsed here by position (auditpol-get.md: computer name, policy target, subcategory, subcategory
GUID, inclusion settings, exclusion settings).

Whether the inclusion-setting words are localized is undocumented: a setting whose words are not the
English ones is ``unknown`` — reported by doctor, and then apply leaves that host's auditing alone, since a
previous setting it cannot read is one rollback could not restore exactly.

Every step here rides in a pipeline another step already sends (the read in apply's read, doctor's and the
diagnosis's event read; the change in apply's batch; the restore in rollback's first round trip, as one of
its SETTINGS_RESTORERS).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.store import Journal
from ..remote.sessions import Fleet
from ..remote.transport import HostSession

SCRIPT = "ipsec_audit"


@dataclass(frozen=True)
class Subcategory:
    key: str  # as the lab and the journal name it
    label: str
    guid: str


# GUIDs: netsecurity-notes §5 (IPsec subcategories) and the WFP "Auditing and Logging" page (packet drop).
MAIN_MODE = Subcategory("ipsec_main_mode", "IPsec Main Mode", "{0CCE9218-69AE-11D9-BED3-505054503030}")
QUICK_MODE = Subcategory("ipsec_quick_mode", "IPsec Quick Mode", "{0CCE9219-69AE-11D9-BED3-505054503030}")
DRIVER = Subcategory("ipsec_driver", "IPsec Driver", "{0CCE9213-69AE-11D9-BED3-505054503030}")
PACKET_DROP = Subcategory("filtering_platform_packet_drop", "Filtering Platform Packet Drop",
                          "{0CCE9225-69AE-11D9-BED3-505054503030}")
# Audit_ObjectAccess_FirewallConnection (win32 "Auditing Constants"): events 5156 (S) / 5157 (F), what observe
# reads; turned on by observe only with policy.enable_connection_audit (its success events are "very high
# volume", audit-filtering-platform-connection.md).
CONNECTION = Subcategory("filtering_platform_connection", "Filtering Platform Connection",
                         "{0CCE9226-69AE-11D9-BED3-505054503030}")
REPORTED = (MAIN_MODE, QUICK_MODE, DRIVER, PACKET_DROP)  # what doctor reports
MANAGED = (MAIN_MODE, QUICK_MODE)  # what apply turns failure auditing on for
RESTORED = (*MANAGED, CONNECTION)  # what rollback puts back when the journal recorded it
BY_GUID = {s.guid: s for s in (*REPORTED, CONNECTION)}

# "Inclusion Setting" words of an en-US host -> (success, failure).
INCLUSION = {"no auditing": (False, False), "success": (True, False), "failure": (False, True),
             "success and failure": (True, True)}
SETTINGS = ("none", "success", "failure", "success_and_failure")
JOURNAL_PREFIX = "audit:"  # journal snapshot settings keys: audit:<subcategory key> -> setting before apply
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")


def setting_name(success: bool, failure: bool) -> str:
    return SETTINGS[int(success) + 2 * int(failure)]


def flags_of(setting: str) -> tuple[bool, bool]:
    index = SETTINGS.index(setting)
    return bool(index & 1), bool(index & 2)


@dataclass
class AuditState:
    """One host's audit settings by subcategory key (``none`` … ``success_and_failure``, or ``unknown``)."""

    settings: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # the words auditpol printed, for unknown ones
    error: str | None = None  # auditpol could not be run or read

    def of(self, sub: Subcategory) -> str:
        return self.settings.get(sub.key, "unknown")

    def audits_failures(self, sub: Subcategory) -> bool:
        return self.of(sub) in ("failure", "success_and_failure")

    def readable(self, subs: tuple[Subcategory, ...] = MANAGED) -> bool:
        return self.error is None and all(self.of(s) in SETTINGS for s in subs)

    def to_json(self) -> dict[str, str]:
        return {s.key: self.of(s) for s in REPORTED if s.key in self.settings}


def parse(output: Mapping[str, Any]) -> AuditState:
    """``ipsec_audit.ps1``'s object → the settings it read (and the set errors it met)."""
    state = AuditState(error=_set_error(output))
    if output.get("Error"):
        state.error = str(output["Error"])
    code = output.get("ReadExitCode")
    lines = [str(line) for line in output.get("AuditPolicy") or [] if str(line).strip()]
    if code not in (None, 0):
        state.error = state.error or f"auditpol /get exited with {code}: {' '.join(lines)[:200]}"
        return state
    for row in csv.reader(lines):
        at = next((i for i, cell in enumerate(row) if _GUID.match(cell.strip())), None)
        if at is None:
            continue  # the header, or a line that is no subcategory row
        sub = BY_GUID.get(row[at].strip().upper())
        words = row[at + 1].strip() if at + 1 < len(row) else ""
        if sub is None:
            continue
        flags = INCLUSION.get(words.lower())
        state.settings[sub.key] = setting_name(*flags) if flags else "unknown"
        if flags is None:
            state.raw[sub.key] = words
    return state


def _set_error(output: Mapping[str, Any]) -> str | None:
    for item in output.get("Applied") or []:
        if isinstance(item, Mapping) and item.get("ExitCode") not in (0, None):
            return f"auditpol /set {item.get('Guid')} exited with {item.get('ExitCode')}: {item.get('Output')}"
    return None


def is_audit_output(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "AuditPolicy" in obj and "ReadExitCode" in obj


def split_output(objects: list[Any]) -> tuple[list[Any], AuditState | None]:
    """A pipeline's objects without the audit script's one, and that one parsed (None if absent)."""
    audit = next((o for o in objects if is_audit_output(o)), None)
    return [o for o in objects if o is not audit], (parse(audit) if audit is not None else None)


# -- steps (script, parameters) to add to a pipeline -------------------------------------------------------
def read_step(subs: tuple[Subcategory, ...] = REPORTED) -> tuple[str, dict[str, Any]]:
    return SCRIPT, {"Read": [s.guid for s in subs]}


def enable_plan(state: AuditState | None) -> dict[str, str]:
    """Managed subcategories whose failure auditing is off, with their setting now (what to journal).

    Empty when every one audits failures already, or when a setting cannot be read (a previous state
    rollback could not restore exactly is not one to change)."""
    if state is None or not state.readable():
        return {}
    return {s.key: state.of(s) for s in MANAGED if not state.audits_failures(s)}


def enable_step(plan: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Failure auditing on for the planned subcategories; success auditing left as it is."""
    subs = [s for s in MANAGED if s.key in plan]
    return SCRIPT, {"Set": [{"Guid": s.guid, "Success": "", "Failure": "enable"} for s in subs],
                    "Read": [s.guid for s in subs]}


def enable_all_step(subs: tuple[Subcategory, ...]) -> tuple[str, dict[str, Any]]:
    """Success and failure auditing on for ``subs`` (observe's Filtering Platform Connection), read back."""
    return SCRIPT, {"Set": [{"Guid": s.guid, "Success": "enable", "Failure": "enable"} for s in subs],
                    "Read": [s.guid for s in subs]}


def restore_step(previous: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Both flags back to exactly what the journal recorded."""
    subs = [s for s in RESTORED if previous.get(s.key) in SETTINGS]
    items = []
    for s in subs:
        success, failure = flags_of(previous[s.key])
        items.append({"Guid": s.guid, "Success": "enable" if success else "disable",
                      "Failure": "enable" if failure else "disable"})
    return SCRIPT, {"Set": items, "Read": [s.guid for s in subs]}


def journal_values(plan: Mapping[str, str]) -> dict[str, str]:
    return {JOURNAL_PREFIX + key: value for key, value in plan.items()}


def recorded(settings: Mapping[str, Any]) -> dict[str, str]:
    """The audit settings a journal snapshot holds (subcategory key -> setting before apply)."""
    return {k[len(JOURNAL_PREFIX):]: str(v) for k, v in settings.items() if k.startswith(JOURNAL_PREFIX)}


def not_auditing_failures(keys: list[str], state: AuditState | None) -> list[str]:
    """After enabling: the subcategories whose read-back does not audit failures."""
    if state is None or state.error:
        return [f"{key}: {state.error if state else 'not read back'}" for key in keys]
    return [f"{key}: {state.settings.get(key, 'unknown')}" for key in keys
            if state.settings.get(key) not in ("failure", "success_and_failure")]


def differs(previous: Mapping[str, str], state: AuditState | None) -> list[str]:
    """After restoring: the subcategories whose read-back is not exactly the recorded setting."""
    if state is None or state.error:
        return [f"{key}: {state.error if state else 'not read back'}" for key in previous]
    return [f"{key}: {state.settings.get(key, 'unknown')}, not {value}" for key, value in previous.items()
            if state.settings.get(key) != value]


def off_text(host: str, state: AuditState | None) -> str | None:
    """"IPsec auditing is off on <host> (…)" when main- or quick-mode failures are not audited there (or
    the policy cannot be read), else None."""
    if state is None:
        return None
    if not state.readable():
        why = state.error or ", ".join(f"{s.label} '{state.raw[s.key]}'" if s.key in state.raw
                                       else f"{s.label} missing from auditpol's output"
                                       for s in MANAGED if state.of(s) not in SETTINGS)
        return f"IPsec auditing on {host} could not be read ({why}): events may be missing there"
    off = [s for s in MANAGED if not state.audits_failures(s)]
    if not off:
        return None
    shown = ", ".join(f"{s.label}: {state.of(s)}" for s in off)
    return f"IPsec auditing is off on {host} ({shown}): failed negotiations leave no event there"


def diagnosis_line(host: str, state: AuditState | None, gpo: bool = False) -> str | None:
    """For an unproven pair: why the host's events cannot explain it. ``gpo``: GPO mode, where the hosts'
    audit policy is Group Policy's (GPO_FIX)."""
    text = off_text(host, state)
    if text is None:
        return None
    return f"{text} ({GPO_HINT})" if gpo else f"{text} (policy.enable_ipsec_audit lets apply turn failure auditing on)"


# -- doctor -----------------------------------------------------------------------------------------------
ENABLE_FIX = ("ipsec-remote apply turns failure auditing on for both (policy.enable_ipsec_audit = true), or: "
              f"auditpol /set /subcategory:\"{MAIN_MODE.guid}\" /failure:enable and the same for "
              f"\"{QUICK_MODE.guid}\"")


# GPO mode: apply writes no host's audit policy (policy.enable_ipsec_audit is a per-host auditpol change, and a
# GPO's audit settings are what the hosts' policy refresh enforces), so the advice is a GPO's. The advanced audit
# policy settings live under Security Settings\Advanced Audit Policy Configuration, IPsec Main Mode and Quick
# Mode in its Logon/Logoff category, and "can be applied by using domain Group Policy Objects"
# (windows-itpro-docs auditing/advanced-security-audit-policy-settings.md); auditpol /get reads the result.
GPO_HINT = ("GPO mode: set it in a GPO linked to the hosts, Security Settings > Advanced Audit Policy "
            "Configuration > Logon/Logoff")
GPO_FIX = ("in a GPO linked to these hosts (Group Policy Management Editor, Computer Configuration > Policies > "
           "Windows Settings > Security Settings > Advanced Audit Policy Configuration > Logon/Logoff): Audit IPsec "
           "Main Mode and Audit IPsec Quick Mode with Failure; then gpupdate /target:computer /force on a host and "
           f"auditpol /get /subcategory:\"{MAIN_MODE.guid}\" there shows it (in GPO mode apply leaves the hosts' "
           "audit policy to Group Policy)")


def doctor_findings(host: str, state: AuditState | None, gpo: bool = False) -> list[tuple[str, str, str]]:
    """(severity, problem, fix): a warning when main or quick mode failures are not audited (or the policy
    cannot be read), else the state of every reported subcategory as information. ``gpo``: GPO mode's fix
    (GPO_FIX) instead of apply's."""
    if state is None:
        return []
    shown = ", ".join(f"{s.label}: {state.of(s)}" for s in REPORTED)
    text = off_text(host, state)
    if text is not None:
        others = ", ".join(f"{s.label}: {state.of(s)}" for s in (DRIVER, PACKET_DROP))
        return [("warning", f"{text}; {others}", GPO_FIX if gpo else ENABLE_FIX)]
    # Dropped packets: 4963 (clear text that should have been secured) is an IPsec Driver event marked (S),
    # 5152 (WFP dropped a packet) a Filtering Platform Packet Drop one marked (F) (the itpro subcategory pages).
    missing = ([f"IPsec Driver success ({DRIVER.guid}, event 4963)"] if state.of(DRIVER) not in
               ("success", "success_and_failure") else []) + \
              ([f"Filtering Platform Packet Drop failure ({PACKET_DROP.guid}, event 5152)"]
               if not state.audits_failures(PACKET_DROP) else [])
    fix = f"to see dropped packets, also audit {' and '.join(missing)}" if missing else ""
    return [("info", f"IPsec auditing on {host}: {shown}", fix)]


# -- apply ------------------------------------------------------------------------------------------------
def plan_enable(audits: Mapping[str, AuditState], owned: Mapping[str, list[dict[str, Any]]], journal: Journal,
                run_id: int, report: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per host, the managed subcategories whose failure auditing apply turns on, each one's setting
    journaled before anything is sent (``owned``: the host's objects as read, for a first snapshot)."""
    todo: dict[str, dict[str, str]] = {}
    for host, state in audits.items():
        report[host] = {"before": state.to_json()}
        if not state.readable():
            report[host]["problem"] = off_text(host, state) or "unreadable"
            continue
        plan = enable_plan(state)
        if plan and host in owned:
            journal.remember_settings(run_id, host, journal_values(plan), owned[host])
            todo[host] = plan
    return todo


def record_enabled(report: dict[str, dict[str, Any]], host: str, params: Mapping[str, Any],
                   output: list[Any]) -> None:
    """What an enabling step read back: the settings after it, or why failures are still not audited."""
    state = parse(output[0]) if output and isinstance(output[0], Mapping) else None
    entry = report.setdefault(host, {})
    if state is not None:
        entry["after"] = {**entry.get("before", {}), **state.to_json()}
    keys = [s.key for s in MANAGED if s.guid in params.get("Read", [])]
    problems = not_auditing_failures(keys, state)
    if problems:
        entry["problem"] = "failure auditing not on: " + "; ".join(problems)


def enable_alone(fleet: Fleet, todo: Mapping[str, Mapping[str, str]], report: dict[str, dict[str, Any]]) -> None:
    """Failure auditing for hosts whose plan had no batch to carry it: one pipeline each."""
    def send(host: str, session: HostSession) -> None:
        script, params = enable_step(todo[host])
        record_enabled(report, host, params, session.run(script, params, retry=False).objects)

    fleet.each(send, list(todo))


# -- rollback (through ops/rollback.py's SETTINGS_RESTORERS) ---------------------------------------------
def restore_steps(settings: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The step that puts back the audit settings a snapshot recorded (none if it recorded none)."""
    previous = recorded(settings)
    return [restore_step(previous)] if previous else []


def settle_restore(journal: Journal, host: str, settings: Mapping[str, Any], objects: list[Any]
                   ) -> dict[str, Any] | None:
    """What the restore step read back: once equal to what the journal recorded, the journal forgets it."""
    previous = recorded(settings)
    if not previous:
        return None
    _, state = split_output(objects)
    problems = differs(previous, state)
    if not problems:
        journal.forget_settings(host, list(journal_values(previous)))
    return {"restored": dict(previous), **({"problem": "; ".join(problems)} if problems else {})}
