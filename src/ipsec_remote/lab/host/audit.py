"""The advanced audit policy of a lab host (IPsec subcategories) and ``auditpol.exe`` on it.

A stock Windows Server does not audit the IPsec subcategories ("Default: Not configured",
windows-itpro-docs auditing/audit-ipsec-main-mode.md; netsecurity.json ``events.log``), and the Security log
gets an IPsec event only when its subcategory audits that event's type, success or failure.
``auditpol.exe`` is modelled for the forms the product's scripts use, by GUID (names are localized, GUIDs
are not — netsecurity-notes §5):

* ``auditpol /get /subcategory:{GUID}[,{GUID}…] /r`` — CSV (auditpol-get.md: "computer name, policy
  target, subcategory, subcategory GUID, inclusion settings, and exclusion settings");
* ``auditpol /set /subcategory:{GUID} [/success:enable|disable] [/failure:enable|disable]`` (auditpol-set.md).

Anything else is a clear lab error (exit code 87 and a message saying what the lab models).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..commands import CommandTable, NativeCommand

if TYPE_CHECKING:
    from .state import LabHost

Setting = Literal["none", "success", "failure", "success_and_failure"]
SETTINGS: tuple[Setting, ...] = ("none", "success", "failure", "success_and_failure")


@dataclass(frozen=True)
class Subcategory:
    key: str  # the name in ``lab inspect --json`` ("audit") and in the faults file
    name: str  # English display name (auditpol prints it localized)
    guid: str


# GUIDs: netsecurity-notes §5 (IPsec ones, ntsecapi.h) and the WFP "Auditing and Logging" page (packet drop).
SUBCATEGORIES: tuple[Subcategory, ...] = (
    Subcategory("ipsec_main_mode", "IPsec Main Mode", "{0CCE9218-69AE-11D9-BED3-505054503030}"),
    Subcategory("ipsec_quick_mode", "IPsec Quick Mode", "{0CCE9219-69AE-11D9-BED3-505054503030}"),
    Subcategory("ipsec_extended_mode", "IPsec Extended Mode", "{0CCE921A-69AE-11D9-BED3-505054503030}"),
    Subcategory("ipsec_driver", "IPsec Driver", "{0CCE9213-69AE-11D9-BED3-505054503030}"),
    Subcategory("filtering_platform_packet_drop", "Filtering Platform Packet Drop",
                "{0CCE9225-69AE-11D9-BED3-505054503030}"),
    # Audit_ObjectAccess_FirewallConnection (win32 "Auditing Constants", Ntsecapi.h).
    Subcategory("filtering_platform_connection", "Filtering Platform Connection",
                "{0CCE9226-69AE-11D9-BED3-505054503030}"),
)
BY_KEY = {s.key: s for s in SUBCATEGORIES}
BY_GUID = {s.guid: s for s in SUBCATEGORIES}

# Event id -> (subcategory key, audit type), as the windows-itpro-docs subcategory pages mark them
# (audit-ipsec-main-mode.md, -quick-mode.md, -extended-mode.md, -driver.md, audit-filtering-platform-packet-drop.md,
# audit-filtering-platform-connection.md).
# The pages mark most events (S), failures included (5453, 4963, 4983); the lab follows the pages.
EVENT_AUDIT: dict[int, tuple[str, Literal["success", "failure"]]] = {
    **{i: ("ipsec_main_mode", "success") for i in (4646, 4650, 4651, 4655, 4976, 5049, 5453)},
    **{i: ("ipsec_main_mode", "failure") for i in (4652, 4653)},
    **{i: ("ipsec_quick_mode", "success") for i in (4977, 5451, 5452)},
    **{i: ("ipsec_extended_mode", "success") for i in range(4978, 4985)},
    **{i: ("ipsec_driver", "success") for i in (4960, 4961, 4962, 4963, 4965, 5478, 5479)},
    **{i: ("ipsec_driver", "failure") for i in (5480, 5483, 5484, 5485)},
    5152: ("filtering_platform_packet_drop", "failure"),
    5153: ("filtering_platform_packet_drop", "success"),
    # audit-filtering-platform-connection.md: 5154/5156/5158 (S), 5031/5155/5157/5159 (F); 5150/5151 unmarked.
    **{i: ("filtering_platform_connection", "success") for i in (5154, 5156, 5158)},
    **{i: ("filtering_platform_connection", "failure") for i in (5031, 5155, 5157, 5159)},
}
# 4654 (QM negotiation failed) belongs to IPsec Quick Mode (WFP "Auditing and Logging" page) but no page marks
# its type: HostAssumptions.qm_failure_audit_type chooses.
QM_FAILURE_EVENT = 4654

# What /r prints in "Inclusion Setting" on an en-US host; HostAssumptions.auditpol_text = "localized" prints
# another language's words instead (whether the column is localized is undocumented).
INCLUSION_TEXT: dict[Setting, str] = {"none": "No Auditing", "success": "Success", "failure": "Failure",
                                      "success_and_failure": "Success and Failure"}
LOCALIZED_TEXT: dict[Setting, str] = {"none": "Keine Überwachung", "success": "Erfolg", "failure": "Fehler",
                                      "success_and_failure": "Erfolg und Fehler"}
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$")
_PARAMETER_INCORRECT = ["Error 0x00000057 occurred:", "The parameter is incorrect.", ""]


def setting_of(success: bool, failure: bool) -> Setting:
    return SETTINGS[int(success) + 2 * int(failure)]


class AuditPolicy:
    """Success/failure auditing per subcategory; every subcategory starts at "none" (a stock server)."""

    def __init__(self, initial: Mapping[str, Setting] | None = None) -> None:
        self.flags: dict[str, tuple[bool, bool]] = {s.key: (False, False) for s in SUBCATEGORIES}
        for key, value in (initial or {}).items():
            self.flags[key] = (value in ("success", "success_and_failure"), value in ("failure", "success_and_failure"))

    def setting(self, key: str) -> Setting:
        return setting_of(*self.flags[key])

    def audits(self, event_id: int, qm_failure_type: Literal["success", "failure"] = "failure") -> bool:
        """Whether the host writes this event to its Security log. Ids outside the IPsec/WFP subcategories
        are not gated here."""
        entry = EVENT_AUDIT.get(event_id)
        if event_id == QM_FAILURE_EVENT:
            entry = ("ipsec_quick_mode", qm_failure_type)
        if entry is None:
            return True
        success, failure = self.flags[entry[0]]
        return success if entry[1] == "success" else failure

    def snapshot(self) -> dict[str, Setting]:
        return {s.key: self.setting(s.key) for s in SUBCATEGORIES}


def _lab_error(argv: list[str]) -> tuple[list[str], int]:
    shown = " ".join(argv)
    return ([f"lab: auditpol.exe {shown}: not modelled. The lab models only "
             "'/get /subcategory:{GUID}[,{GUID}...] /r' and "
             "'/set /subcategory:{GUID} [/success:enable|disable] [/failure:enable|disable]'.", ""], 87)


def _switches(argv: list[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for arg in argv:
        if not arg.startswith("/"):
            return None
        name, _, value = arg[1:].partition(":")
        if name.lower() in out:
            return None
        out[name.lower()] = value
    return out


def auditpol(host: LabHost, argv: list[str]) -> tuple[list[str], int]:
    opts = _switches(argv)
    if opts is None or not argv:
        return _lab_error(argv)
    action = argv[0][1:].lower()
    if action == "get" and set(opts) == {"get", "subcategory", "r"} and opts["get"] == opts["r"] == "":
        guids = [g.strip() for g in opts["subcategory"].split(",")]
        if not all(_GUID.match(g) for g in guids):
            return _lab_error(argv)
        if not all(g.upper() in BY_GUID for g in guids):
            return list(_PARAMETER_INCORRECT), 87  # a GUID that is no subcategory
        words = LOCALIZED_TEXT if host.config.assumptions.auditpol_text == "localized" else INCLUSION_TEXT
        lines = ["Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting"]
        for guid in guids:
            row = BY_GUID[guid.upper()]
            lines.append(f"{host.name},System,{row.name},{row.guid},{words[host.audit.setting(row.key)]},")
        return [*lines, ""], 0
    if action == "set" and opts.keys() - {"set", "success", "failure"} == {"subcategory"} and opts["set"] == "":
        guid = opts["subcategory"].strip()
        flags = {k: opts[k].lower() for k in ("success", "failure") if k in opts}
        if not _GUID.match(guid) or not flags or not all(v in ("enable", "disable") for v in flags.values()):
            return _lab_error(argv)
        sub = BY_GUID.get(guid.upper())
        if sub is None:
            return list(_PARAMETER_INCORRECT), 87
        success, failure = host.audit.flags[sub.key]
        host.audit.flags[sub.key] = (flags.get("success", "enable" if success else "disable") == "enable",
                                     flags.get("failure", "enable" if failure else "disable") == "enable")
        return ["The command was successfully executed.", ""], 0
    return _lab_error(argv)


def register(host: LabHost, table: CommandTable) -> None:
    command = NativeCommand("auditpol.exe", lambda _ctx, argv: auditpol(host, argv))
    table.add(command, "auditpol", "C:\\Windows\\System32\\auditpol.exe")
