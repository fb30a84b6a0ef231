"""A minimal NTFS volume (``C:\\…``): folders, text files with their encoding, and each entry's security.

Paths are case-insensitive and keep their first spelling, as NTFS does; ``/`` is accepted for ``\\``. Every
operation is made by an ``Identity`` and checked against the entry's effective DACL (lab/host/security.py):
creating a file needs "create files" (WD) on the folder, a subfolder "create folders" (AD), writing needs
write data on the file, deleting needs DELETE on the entry or "delete subfolders and files" on its folder.

Initial ACLs: C:\\Windows and C:\\Program Files admin-writable only. C:\\ProgramData: SYSTEM and
Administrators full control, CREATOR OWNER full control on what a user creates, Users read & execute and —
on folders — create files / create folders (WD, AD, WEA, WA); Microsoft does not document this ACL
(community-observed with accesschk), so ``HostAssumptions.programdata_users_can_create`` switches the Users
create right off.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .security import (
    ADD_FILE,
    ADD_SUBDIR,
    ADMINISTRATORS,
    CREATOR_OWNER,
    DELETE,
    DELETE_CHILD,
    FULL,
    MASKS,
    READ_DATA,
    SYSTEM,
    USERS,
    WRITE_DAC,
    WRITE_DATA,
    Ace,
    Identity,
    Security,
    inherit,
    rights,
    sddl,
)

OICI = frozenset({"OI", "CI"})
_READ_EXECUTE = MASKS["RX"]


def normalise(path: str) -> str:
    text = str(path).replace("/", "\\")
    while "\\\\" in text:
        text = text.replace("\\\\", "\\")
    if len(text) == 2 and text[1] == ":":
        text += "\\"
    if len(text) > 3 and text.endswith("\\"):
        text = text[:-1]
    return text


def parent(path: str) -> str:
    head = path.rsplit("\\", 1)[0]
    return head + "\\" if len(head) == 2 else head


@dataclass
class FileEntry:
    path: str
    text: str
    encoding: str = "default"  # Set-Content -Encoding (PS 5.1 default: the ANSI code page)

    def data(self) -> bytes:
        """The bytes on disk: PS 5.1 writes a BOM for UTF8 and Unicode; ASCII/ANSI replace what they cannot
        encode with '?'."""
        enc = self.encoding.lower()
        if enc in ("utf8", "utf-8"):
            return b"\xef\xbb\xbf" + self.text.encode("utf-8")
        if enc in ("unicode", "utf-16"):
            return b"\xff\xfe" + self.text.encode("utf-16-le")
        if enc == "ascii":
            return self.text.encode("ascii", errors="replace")
        return self.text.encode("cp1252", errors="replace")


class AccessDenied(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(f"Access to the path '{path}' is denied.")
        self.path = path


def _admin_only() -> Security:
    return Security(SYSTEM, [Ace(SYSTEM, FULL, OICI), Ace(ADMINISTRATORS, FULL, OICI),
                             Ace(USERS, _READ_EXECUTE, OICI)], protected=True)


def _program_data(users_can_create: bool) -> Security:
    aces = [Ace(SYSTEM, FULL, OICI), Ace(ADMINISTRATORS, FULL, OICI), Ace(CREATOR_OWNER, FULL, OICI | {"IO"}),
            Ace(USERS, _READ_EXECUTE, OICI)]
    if users_can_create:
        aces.append(Ace(USERS, MASKS["WD"] | MASKS["AD"] | MASKS["WEA"] | MASKS["WA"], frozenset({"CI"})))
    return Security(SYSTEM, aces, protected=True)


class LabFileSystem:
    def __init__(self, users_can_create_in_programdata: bool = True) -> None:
        self.dirs: dict[str, str] = {}
        self.files: dict[str, FileEntry] = {}
        self.security: dict[str, Security] = {}
        for d in ("C:\\", "C:\\Windows", "C:\\Windows\\System32", "C:\\Windows\\Temp", "C:\\Users",
                  "C:\\Program Files"):
            self._add_dir(d, _admin_only())
        self._add_dir("C:\\ProgramData", _program_data(users_can_create_in_programdata))

    def _add_dir(self, path: str, security: Security) -> None:
        p = normalise(path)
        self.dirs[p.lower()] = p
        self.security[p.lower()] = security

    # --- lookups ----------------------------------------------------------------------------------------
    def is_dir(self, path: str) -> bool:
        return normalise(path).lower() in self.dirs

    def is_file(self, path: str) -> bool:
        return normalise(path).lower() in self.files

    def exists(self, path: str) -> bool:
        return self.is_dir(path) or self.is_file(path)

    def display(self, path: str) -> str:
        key = normalise(path).lower()
        entry = self.files.get(key)
        return entry.path if entry else self.dirs.get(key, normalise(path))

    def children(self, path: str) -> list[str]:
        """Display paths of the entries directly inside a folder."""
        prefix = normalise(path).lower().rstrip("\\") + "\\"
        keys = [k for k in [*self.dirs, *self.files] if k.startswith(prefix) and "\\" not in k[len(prefix):]]
        return sorted(self.display(k) for k in keys)

    def descendants(self, path: str) -> list[str]:
        prefix = normalise(path).lower().rstrip("\\") + "\\"
        return sorted(self.display(k) for k in [*self.dirs, *self.files] if k.startswith(prefix))

    def snapshot(self) -> dict[str, str]:
        return {entry.path: entry.text for entry in self.files.values()}

    # --- security ---------------------------------------------------------------------------------------
    def security_of(self, path: str) -> Security:
        return self.security[normalise(path).lower()]

    def effective_aces(self, path: str) -> list[Ace]:
        p = normalise(path)
        own = self.security[p.lower()]
        if own.protected or len(p) <= 3:
            return list(own.aces)
        inherited = inherit(self.effective_aces(parent(p)), self.is_dir(p), own.owner)
        return [*own.aces, *inherited]

    def rights(self, path: str, identity: Identity) -> int:
        return rights(self.effective_aces(path), identity)

    def sddl(self, path: str) -> str:
        return sddl(self.security_of(path), self.effective_aces(path))

    def can_change_dacl(self, path: str, identity: Identity) -> bool:
        owner = self.security_of(path).owner
        return owner in identity.sids or bool(self.rights(path, identity) & WRITE_DAC)

    def set_security(self, path: str, security: Security) -> None:
        self.security[normalise(path).lower()] = security

    # --- changes ----------------------------------------------------------------------------------------
    def _owner_for(self, identity: Identity) -> str:
        # ASSUMPTION: objects an elevated administrator creates are owned by the Administrators group (the
        # Server default of "System objects: Default owner for objects created by members of the
        # Administrators group"); SYSTEM's are SYSTEM's; a user's are the user's.
        if identity.sid == SYSTEM:
            return SYSTEM
        return ADMINISTRATORS if ADMINISTRATORS in identity.groups else identity.sid

    def read(self, path: str, identity: Identity) -> FileEntry | None:
        entry = self.files.get(normalise(path).lower())
        if entry is None:
            return None
        if not self.rights(path, identity) & READ_DATA:
            raise AccessDenied(entry.path)
        return entry

    def write(self, path: str, text: str, identity: Identity, encoding: str = "default") -> bool:
        """False when the folder does not exist (Windows will not create it); AccessDenied when refused."""
        p = normalise(path)
        if not self.is_dir(parent(p)):
            return False
        existing = self.files.get(p.lower())
        if existing is not None:
            if not self.rights(p, identity) & WRITE_DATA:
                raise AccessDenied(existing.path)
            existing.text, existing.encoding = text, encoding
            return True
        if not self.rights(parent(p), identity) & ADD_FILE:
            raise AccessDenied(p)
        self.files[p.lower()] = FileEntry(p, text, encoding)
        self.security[p.lower()] = Security(self._owner_for(identity))
        return True

    def mkdir(self, path: str, identity: Identity) -> None:
        p = normalise(path)
        chain = []
        while p.lower() not in self.dirs and len(p) > 3:
            chain.append(p)
            p = parent(p)
        for d in reversed(chain):
            if not self.rights(parent(d), identity) & ADD_SUBDIR:
                raise AccessDenied(d)
            self.dirs[d.lower()] = d
            self.security[d.lower()] = Security(self._owner_for(identity))

    def can_delete(self, path: str, identity: Identity) -> bool:
        p = normalise(path)
        return bool(self.rights(p, identity) & DELETE) or bool(self.rights(parent(p), identity) & DELETE_CHILD)

    def remove(self, path: str, identity: Identity) -> None:
        """Remove an entry and everything below it; AccessDenied (nothing removed) if any part is refused."""
        p = normalise(path)
        for item in [p, *self.descendants(p)]:
            if not self.can_delete(item, identity):
                raise AccessDenied(item)
        key = p.lower()
        for k in [k for k in self.files if k == key or k.startswith(key + "\\")]:
            del self.files[k]
            self.security.pop(k, None)
        for k in [k for k in self.dirs if k == key or k.startswith(key + "\\")]:
            del self.dirs[k]
            self.security.pop(k, None)

    def file_hash(self, path: str, identity: Identity) -> str | None:
        entry = self.read(path, identity)
        return hashlib.sha256(entry.data()).hexdigest().upper() if entry is not None else None
