"""Group Policy stores (``policy.store = 'domain\\GPO name'``): which commands are correct with one.

A GPO is one object in the domain, shared by every host it is linked to, and applied by each host at its
next Group Policy refresh. The per-host pipeline (each host writes its own objects into ``-PolicyStore``)
is wrong for it: hosts would write different objects under the same names into the one GPO, edit it
through a second hop from inside their WinRM session, and the dead-man's switch runs as SYSTEM (the
computer account), which has no rights to edit a GPO. GPO mode writes host-independent objects
(gpo_desired.py) on one writer, ``policy.gpo_writer``: a domain controller, where the GPO is local. A
management server would need delegation for that second hop ("Making the second hop in PowerShell
Remoting"), which ipsec-remote does not set up. Commands not yet built for GPO mode are refused here,
before anything is contacted.
"""

from __future__ import annotations

from ..errors import InputError
from .gpo_desired import gpo_problem
from .inventory import Inventory

LOCAL_STORE = "PersistentStore"

# Commands that are correct with a GPO store.
GPO_READY: frozenset[str] = frozenset({"plan", "plan --offline", "status", "apply", "rollback",
                                       "promote --to require", "promote --to request", "doctor",
                                       "doctor --drill"})


def is_gpo_store(store: str) -> bool:
    return store != LOCAL_STORE


def gpo_writer_address(inv: Inventory) -> str:
    return next(e.address for e in inv.exemptions if e.name == inv.policy.gpo_writer)


def check_gpo(inv: Inventory, label: str) -> None:
    """The GPO-mode inventory checks: a domain-controller writer, and a policy one shared GPO can express."""
    writer = inv.policy.gpo_writer
    if not is_gpo_store(inv.policy.store):
        if writer is not None:
            raise InputError(label, "policy.gpo_writer", "is only used with a GPO store (policy.store)")
        return
    if writer is None:
        raise InputError(label, "policy.gpo_writer", "a GPO store needs the domain controller the GPO is "
                                                     "edited on (an exemption with role = \"domain_controller\")")
    dcs = [e.name for e in inv.exemptions if e.role == "domain_controller"]
    if writer not in dcs:
        raise InputError(label, "policy.gpo_writer",
                         f"'{writer}' is not a domain controller of the exemptions ({', '.join(dcs) or 'none'}): "
                         "editing a GPO from a member server's remote session is a second hop, which needs "
                         "delegation")
    problem = gpo_problem(inv)
    if problem is not None:
        raise InputError(label, *problem)


def refuse_gpo_store(inv: Inventory, label: str, command: str) -> None:
    """One line, exit 2, nothing sent: ``command`` cannot work correctly with a GPO store yet."""
    check_gpo(inv, label)
    if is_gpo_store(inv.policy.store) and command not in GPO_READY:
        raise InputError(label, "policy.store",
                         f"'{inv.policy.store}' is a GPO: '{command}' does not support a GPO store yet "
                         "(GPO mode has plan, apply, status, promote, doctor and rollback so far); "
                         f"use store = \"{LOCAL_STORE}\"")
