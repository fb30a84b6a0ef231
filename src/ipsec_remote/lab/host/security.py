"""Who runs a command on a lab host, and the NTFS security of its files: owners, ACEs, inheritance, SDDL.

Enough of Windows access control to model what the dead-man's switch relies on (DESIGN §3: nothing left on a
host may be replaced or faked by a local non-administrator):

* identities (token SIDs): the WinRM admin, LocalSystem (S-1-5-18) for SYSTEM tasks, and a local user;
* a security descriptor per file and folder: owner, protected flag (inheritance off) and allow ACEs with
  icacls' rights (F, M, RX, R, W, D and the specific WD/AD/WEA/WA) and flags (OI)(CI)(IO); inherited ACEs
  come from the parent as Windows propagates them (CI to folders, OI to files, IO dropped, CREATOR OWNER
  replaced by the owner) — icacls, learn.microsoft.com/windows-server/administration/windows-commands/icacls;
* ``Get-Acl``'s ``Sddl`` (Security Descriptor String Format, learn.microsoft.com/windows/win32/secauthz/
  security-descriptor-string-format): ``O:`` owner, ``D:`` flags ``P`` (protected) / ``AI``, ACE strings
  ``(A;OICI;FA;;;SY)`` with ``ID`` on inherited ones and the well-known SID abbreviations SY, BA, BU, WD, AU, CO.

Only allow ACEs are modelled (no deny ACEs, no SACL). The owner of an object may always change its DACL
(WRITE_DAC is implied for the owner); administrators and SYSTEM may take ownership (takeown), nothing else
bypasses a DACL — an administrator without a grant is refused like anyone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
USERS = "S-1-5-32-545"
EVERYONE = "S-1-1-0"
AUTHENTICATED_USERS = "S-1-5-11"
CREATOR_OWNER = "S-1-3-0"
ADMIN_USER = "S-1-5-21-1004336348-1177238915-682003330-500"  # LAB\admin, the WinRM account
LOCAL_USER = "S-1-5-21-1004336348-1177238915-682003330-1001"  # a local non-administrator

SDDL_ALIASES = {SYSTEM: "SY", ADMINISTRATORS: "BA", USERS: "BU", EVERYONE: "WD", AUTHENTICATED_USERS: "AU",
                CREATOR_OWNER: "CO"}
# Names icacls and New-ScheduledTaskPrincipal accept for the well-known SIDs (English names; "*S-1-..."
# always works).
ACCOUNT_NAMES = {
    "system": SYSTEM, "nt authority\\system": SYSTEM, "localsystem": SYSTEM, "administrators": ADMINISTRATORS,
    "builtin\\administrators": ADMINISTRATORS, "users": USERS, "builtin\\users": USERS, "everyone": EVERYONE,
    "authenticated users": AUTHENTICATED_USERS, "nt authority\\authenticated users": AUTHENTICATED_USERS,
    "creator owner": CREATOR_OWNER,
}

# icacls simple and specific rights -> the access mask bits that matter here.
FULL = 0x1F01FF
MASKS = {"F": FULL, "M": 0x1301BF, "RX": 0x1200A9, "R": 0x120089, "W": 0x100116, "D": 0x10000,
         "WD": 0x2, "AD": 0x4, "WEA": 0x10, "WA": 0x100, "DC": 0x40, "WDAC": 0x40000}
ADD_FILE, ADD_SUBDIR, WRITE_DATA, DELETE, DELETE_CHILD, WRITE_DAC, READ_DATA = 0x2, 0x4, 0x2, 0x10000, 0x40, \
    0x40000, 0x1


@dataclass(frozen=True)
class Identity:
    """A token: the user SID, the group SIDs, and whether it holds SeTakeOwnershipPrivilege."""

    name: str
    sid: str
    groups: frozenset[str]
    can_take_ownership: bool

    @property
    def sids(self) -> frozenset[str]:
        return self.groups | {self.sid}

    @property
    def is_admin(self) -> bool:
        return ADMINISTRATORS in self.groups or self.sid == SYSTEM


ADMIN = Identity("LAB\\admin", ADMIN_USER, frozenset({ADMINISTRATORS, USERS, EVERYONE, AUTHENTICATED_USERS}), True)
LOCAL_SYSTEM = Identity("NT AUTHORITY\\SYSTEM", SYSTEM, frozenset({ADMINISTRATORS, EVERYONE, AUTHENTICATED_USERS}),
                        True)


def local_user(host: str) -> Identity:
    return Identity(f"{host.upper()}\\localuser", LOCAL_USER, frozenset({USERS, EVERYONE, AUTHENTICATED_USERS}), False)


@dataclass(frozen=True)
class Ace:
    sid: str
    mask: int
    flags: frozenset[str] = frozenset()  # OI, CI, IO
    inherited: bool = False

    def applies_here(self) -> bool:
        return "IO" not in self.flags


@dataclass
class Security:
    """An object's security descriptor; ``aces`` are the explicit ones (inherited ones are computed)."""

    owner: str
    aces: list[Ace] = field(default_factory=list)
    protected: bool = False

    def copy(self) -> Security:
        return Security(self.owner, list(self.aces), self.protected)


def parse_rights(text: str) -> tuple[frozenset[str], int]:
    """icacls ``perm``: ``(OI)(CI)F`` or ``(CI)(WD,AD)`` -> (inheritance flags, access mask)."""
    flags: set[str] = set()
    mask = 0
    rest = text
    while rest.startswith("("):
        inner, _, rest = rest[1:].partition(")")
        for part in inner.split(","):
            token = part.strip().upper()
            if token in ("OI", "CI", "IO", "NP"):
                flags.add(token)
            elif token in MASKS:
                mask |= MASKS[token]
            else:
                raise ValueError(f"invalid right {token!r}")
    if rest:
        token = rest.strip().upper()
        if token not in MASKS:
            raise ValueError(f"invalid right {token!r}")
        mask |= MASKS[token]
    if not mask:
        raise ValueError("no rights given")
    return frozenset(flags), mask


def inherit(parent_aces: Iterable[Ace], is_dir: bool, owner: str) -> list[Ace]:
    """The ACEs a child inherits from its parent's effective ACEs (as propagation writes them)."""
    out: list[Ace] = []
    for ace in parent_aces:
        wanted = "CI" if is_dir else "OI"
        if wanted not in ace.flags:
            continue
        kept = frozenset(f for f in ace.flags if f in ("OI", "CI")) if is_dir and "NP" not in ace.flags \
            else frozenset()
        if ace.sid == CREATOR_OWNER:
            out.append(Ace(owner, ace.mask, frozenset(), inherited=True))  # the creator's own grant
            if kept:
                out.append(Ace(CREATOR_OWNER, ace.mask, kept | {"IO"}, inherited=True))
            continue
        out.append(Ace(ace.sid, ace.mask, kept, inherited=True))
    return out


def rights(aces: Iterable[Ace], identity: Identity) -> int:
    mask = 0
    for ace in aces:
        if ace.applies_here() and ace.sid in identity.sids:
            mask |= ace.mask
    return mask


def sid_text(sid: str) -> str:
    return SDDL_ALIASES.get(sid, sid)


def sddl(security: Security, effective: Iterable[Ace]) -> str:
    """``O:..G:..D:[P]AI(ace)...`` as Get-Acl's Sddl shows it (explicit ACEs first, inherited ones after)."""
    aces = sorted(effective, key=lambda a: a.inherited)
    parts = []
    for ace in aces:
        flags = "".join(f for f in ("OI", "CI", "NP", "IO") if f in ace.flags) + ("ID" if ace.inherited else "")
        rights_text = "FA" if ace.mask == FULL else f"0x{ace.mask:x}"
        parts.append(f"(A;{flags};{rights_text};;;{sid_text(ace.sid)})")
    dacl_flags = ("P" if security.protected else "") + "AI"
    return f"O:{sid_text(security.owner)}G:SYD:{dacl_flags}{''.join(parts)}"


def account_sid(text: str) -> str | None:
    """icacls / principal account text -> SID: ``*S-1-5-18``, ``S-1-5-18`` or a well-known name."""
    value = text.strip()
    if value.startswith("*"):
        value = value[1:]
    if value.upper().startswith("S-1-"):
        return value.upper()
    return ACCOUNT_NAMES.get(value.lower())
