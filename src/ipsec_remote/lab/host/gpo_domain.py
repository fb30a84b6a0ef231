"""The lab's Active Directory domain as far as IPsec Group Policy goes: GPOs held by the domain
controllers, linked hosts that apply them at refresh, and who may edit them.

Sources (windows-behaviour.md §9, netsecurity-notes §3):

* A GPO is **one object** in the domain (AD + SYSVOL on the DCs; [MS-GPFAS] keeps its IPsec policy as
  registry policy). Editing it with ``-PolicyStore 'domain\\GPO'`` writes that one object: every linked
  host sees the same content. A host applies it only at a **Group Policy refresh** — background every
  90 minutes plus a random 0–30 minutes, ``gpupdate /target:computer /force`` on the host, or
  ``Invoke-GPUpdate`` from a management host (a scheduled refresh, ``-RandomDelayInMinutes``).
  The host keeps its applied copy (what ``-PolicyStore RSOP`` shows and what ActiveStore merges) until
  the next refresh.
* ``Open-NetGPO`` loads the GPO into a session; edits with ``-GPOSession`` are cached in it and written
  **all at once** by ``Save-NetGPO``, which overwrites the whole GPO (Save-NetGPO / Open-NetGPO docs);
  each direct ``-PolicyStore 'domain\\GPO'`` edit is its own load/save round trip.
* Editing needs edit rights on the GPO (Domain Admins or delegated GPO-edit rights, design guides via
  netsecurity-notes §3); the faults file's ``[domain] deny_gpo_edit`` takes them away.
* Second hop: inside a WinRM session the user's credentials do not travel on to another computer unless
  delegation (CredSSP, Kerberos constrained/resource-based delegation) is configured ("Making the second
  hop in PowerShell Remoting", learn.microsoft.com/powershell/scripting/security/remoting/
  ps-remoting-second-hop). The lab configures no delegation: a GPO is read or edited from a WinRM session
  only on a domain controller (the GPO is local there, no hop). Anywhere else: access denied.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

from ..values import CaseInsensitiveDict, PowerShellError
from . import errors
from .model import KINDS, Store
from .stores import is_configured, new_store

# Background refresh of member computers (windows-behaviour.md §9): 90 min + random 0–30 min.
BACKGROUND_S = 90 * 60
BACKGROUND_JITTER_S = 30 * 60


@dataclass
class DomainGpo:
    name: str  # 'domain\GPO name', as -PolicyStore spells it
    store: Store  # the one shared object
    linked_to: list[str] = field(default_factory=list)
    version: int = 0  # bumped by every write (direct edit or Save-NetGPO)


@dataclass
class GpoSession:
    gpo: str
    cache: Store  # edits land here; Save-NetGPO writes the whole cache back


def second_hop_denied(cmdlet: str, gpo: str, host: str) -> PowerShellError:
    # UNVERIFIED text: access denied naming the GPO (the second hop carries no credentials).
    return errors.cim_error(cmdlet, errors.ERROR_ACCESS_DENIED, "PermissionDenied", target=gpo,
                            detail=f"(Access to GPO '{gpo}' from {host} was denied: the remote session's "
                                   "credentials cannot reach a domain controller without delegation.)")


def edit_denied(cmdlet: str, gpo: str) -> PowerShellError:
    # UNVERIFIED text: Open-NetGPO "errors if the user is not" allowed to edit (netsecurity-notes §3).
    return errors.cim_error(cmdlet, errors.ERROR_ACCESS_DENIED, "PermissionDenied", target=gpo,
                            detail=f"(You do not have permission to edit GPO '{gpo}'.)")


def copied(value: Any) -> Any:
    """A deep copy that keeps the Kind singletons (code compares kinds by identity)."""
    return copy.deepcopy(value, {id(k): k for k in KINDS})


class LabDomain:
    def __init__(self, name: str, domain_controllers: list[str], seed: int | None = None) -> None:
        self.name = name
        self.domain_controllers = {d.lower() for d in domain_controllers}
        self.gpos: CaseInsensitiveDict = CaseInsensitiveDict()
        self.deny_edit: set[str] = set()  # GPO names (lower case) the admin may not edit
        self._random = random.Random(seed)

    def add_gpo(self, name: str, linked_to: list[str]) -> DomainGpo:
        gpo = self.gpo(name)
        if gpo is None:
            gpo = DomainGpo(name, new_store(name, "GroupPolicy"))
            self.gpos[name] = gpo
        gpo.linked_to += [h for h in linked_to if h not in gpo.linked_to]
        return gpo

    def gpo(self, name: str) -> DomainGpo | None:
        found = self.gpos.get(name)
        return found if isinstance(found, DomainGpo) else None

    def linked(self, host: str) -> list[DomainGpo]:
        return [g for g in self.gpos.values() if isinstance(g, DomainGpo) and host in g.linked_to]

    def random_fraction(self) -> float:
        return self._random.random()

    def background_delay_s(self) -> float:
        return BACKGROUND_S + self._random.uniform(0, BACKGROUND_JITTER_S)

    def inspect(self) -> dict[str, Any]:
        """``lab inspect --json`` top-level ``gpos``: the shared objects, once per GPO."""
        out: dict[str, Any] = {}
        for gpo in self.gpos.values():
            if isinstance(gpo, DomainGpo):
                objects = [{"kind": kind.key, "name": obj.name, "group": obj.props.get("Group")}
                           for kind in KINDS for obj in gpo.store.list(kind)]
                out[gpo.name] = {"objects": objects, "linked_to": list(gpo.linked_to), "version": gpo.version}
        return out


class DomainLink:
    """One host's view of the domain: where ``-PolicyStore 'domain\\GPO'`` goes, its GPO sessions, and
    its Group Policy refresh."""

    def __init__(self, domain: LabDomain, host: str, is_dc: bool) -> None:
        self.domain = domain
        self.host = host
        self.is_dc = is_dc
        self.sessions: dict[str, GpoSession] = {}
        self.applied_versions: dict[str, int] = {}
        self.refreshes = 0
        self.next_background: float | None = None  # host-clock seconds of the next background refresh
        self.scheduled: list[float] = []  # Invoke-GPUpdate refreshes due (host-clock seconds)

    def holds(self, name: str) -> bool:
        return self.domain.gpo(name) is not None or name in self.sessions

    def reach(self, cmdlet: str, name: str, write: bool) -> Store:
        """The store a cmdlet with ``-PolicyStore name`` / ``-GPOSession name`` acts on."""
        session = self.sessions.get(name)
        if session is not None:
            return session.cache  # cached locally: no domain round trip until Save-NetGPO
        gpo = self.domain.gpo(name)
        if gpo is None:
            raise errors.unknown_store(cmdlet, name)
        if not self.is_dc:
            raise second_hop_denied(cmdlet, gpo.name, self.host)
        if write:
            if gpo.name.lower() in self.domain.deny_edit:
                raise edit_denied(cmdlet, gpo.name)
            gpo.version += 1  # a direct edit is a whole load/save round trip
        return gpo.store

    def open_session(self, cmdlet: str, name: str) -> str:
        gpo = self.domain.gpo(name)
        if gpo is None:
            raise errors.unknown_store(cmdlet, name)
        if not self.is_dc:
            raise second_hop_denied(cmdlet, gpo.name, self.host)
        if gpo.name.lower() in self.domain.deny_edit:
            raise edit_denied(cmdlet, gpo.name)
        # The session string is opaque on Windows; the lab's names the GPO and a counter.
        handle = f"{gpo.name}|session-{len(self.sessions) + 1}"
        self.sessions[handle] = GpoSession(gpo.name, copied(gpo.store))
        return handle

    def save_session(self, cmdlet: str, handle: str) -> None:
        session = self.sessions.get(handle)
        if session is None:
            raise errors.invalid_parameter(cmdlet, "GPOSession is not an open session", handle)
        gpo = self.domain.gpo(session.gpo)
        if gpo is None:
            raise errors.unknown_store(cmdlet, session.gpo)
        if gpo.name.lower() in self.domain.deny_edit:
            raise edit_denied(cmdlet, gpo.name)
        # Save-NetGPO writes the entire GPO (overwriting edits made since Open-NetGPO: documented hazard).
        gpo.store = copied(session.cache)
        gpo.store.name = gpo.name
        gpo.version += 1

    def refresh(self, applied: CaseInsensitiveDict) -> None:
        """A computer-policy refresh: each linked GPO's current content becomes the host's applied copy
        (objects replaced; settings and profile values the GPO configures override the copy's)."""
        for gpo in self.domain.linked(self.host):
            copy_ = applied.get(gpo.name)
            if not isinstance(copy_, Store):
                copy_ = new_store(gpo.name, "GroupPolicy")
                applied[gpo.name] = copy_
            copy_.objects = copied(gpo.store.objects)
            for key, value in gpo.store.settings.items():
                if is_configured(key, value):
                    copy_.settings[key] = copied(value)
            for profile, values in gpo.store.profiles.items():
                for key, value in values.items():
                    if value != "NotConfigured":
                        copy_.profiles[profile][key] = value
            self.applied_versions[gpo.name] = gpo.version
        self.refreshes += 1
