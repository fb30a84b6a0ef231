"""Group Policy stores (``policy.store = 'domain\\GPO name'``): which commands are correct with one.

A GPO is one object in the domain, shared by every host it is linked to, and applied by each host at its
next Group Policy refresh. The per-host pipeline (each host writes its own objects into ``-PolicyStore``)
is wrong for it: hosts would write different objects under the same names into the one GPO, edit it
through a second hop from inside their WinRM session, and the dead-man's switch runs as SYSTEM (the
computer account), which has no rights to edit a GPO. Until a command is built for GPO mode (issue 13:
one writer, one GPO session, host-independent objects, refresh and RSOP check before proof) it is refused
here, before anything is contacted.
"""

from __future__ import annotations

from ..errors import InputError
from .inventory import Inventory

LOCAL_STORE = "PersistentStore"

# Commands that are correct with a GPO store. Empty: none is yet.
GPO_READY: frozenset[str] = frozenset()


def is_gpo_store(store: str) -> bool:
    return store != LOCAL_STORE


def refuse_gpo_store(inv: Inventory, label: str, command: str) -> None:
    """One line, exit 2, nothing sent: ``command`` cannot work correctly with a GPO store yet."""
    if is_gpo_store(inv.policy.store) and command not in GPO_READY:
        raise InputError(label, "policy.store",
                         f"'{inv.policy.store}' is a GPO: '{command}' does not support a GPO store yet "
                         "(each host would write its own objects into the one shared GPO); "
                         f"use store = \"{LOCAL_STORE}\"")
