"""The external programs scripts call on a lab host: icacls.exe, takeown.exe, whoami.exe.

Syntax and meaning from learn.microsoft.com/windows-server/administration/windows-commands/{icacls,takeown,
whoami}:

* ``icacls <name> [/grant[:r] <sid>:<perm>...] [/remove[:g|:d] <sid>...] [/inheritance:e|d|r] [/reset]
  [/setowner <user>] [/t] [/c] [/l] [/q]`` — ``:r`` replaces the SID's explicit grants; ``/inheritance:r``
  removes inherited ACEs (protects the DACL), ``d`` copies them first, ``e`` enables inheritance; ``/reset``
  replaces the ACL with the default inherited one; ``/setowner`` "does not force a change of ownership; use
  takeown"; ``*S-1-…`` names a SID; ``/t`` recurses, ``/c`` continues on errors, ``/q`` hides success lines.
* ``takeown /f <name> [/a] [/r [/d {Y|N}]]`` — ownership to the Administrators group with ``/a``, else to
  the caller; administrators only (SeTakeOwnershipPrivilege).
* ``whoami /user [/fo csv] [/nh]`` — the caller's name and SID.

Exit codes are not documented: the lab returns 0 on success and 5 (ERROR_ACCESS_DENIED) / 87
(ERROR_INVALID_PARAMETER) on failure; scripts must only test ``$LASTEXITCODE -ne 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..commands import CommandTable, InvocationContext, NativeCommand
from .filesystem import normalise
from .security import ADMINISTRATORS, Ace, Security, account_sid, parse_rights

if TYPE_CHECKING:
    from .state import LabHost

ACCESS_DENIED, INVALID_PARAMETER = 5, 87
NativeFn = Callable[[InvocationContext, list[str]], tuple[list[str], int]]


def _icacls(host: LabHost, argv: list[str]) -> tuple[list[str], int]:
    if not argv:
        return ["Invalid parameter"], INVALID_PARAMETER
    name, rest = argv[0], argv[1:]
    ops: list[tuple[str, list[str]]] = []
    flags: set[str] = set()
    for arg in rest:
        low = arg.lower()
        if low in ("/t", "/c", "/l", "/q"):
            flags.add(low)
        elif low.startswith("/"):
            ops.append((low, []))
        elif ops:
            ops[-1][1].append(arg)
        else:
            return [f"Invalid parameter \"{arg}\""], INVALID_PARAMETER
    if not host.files.exists(name):
        return [f"{normalise(name)}: The system cannot find the file specified.",
                "Successfully processed 0 files; Failed processing 1 files"], 2
    targets = [host.files.display(name)] + (host.files.descendants(name) if "/t" in flags else [])
    if not ops:  # display the ACL
        return [f"{t} {host.files.sddl(t)}" for t in targets], 0
    out: list[str] = []
    done = failed = 0
    for target in targets:
        try:
            # icacls computes the new security descriptor from every option, then writes it once.
            security = host.files.security_of(target).copy()
            for op, values in ops:
                _icacls_op(host, target, security, op, values)
            host.files.set_security(target, security)
        except PermissionError:
            out.append(f"{target}: Access is denied.")
            failed += 1
            if "/c" not in flags:
                break
            continue
        except ValueError as exc:
            return [f"Invalid parameter \"{exc}\""], INVALID_PARAMETER
        done += 1
        if "/q" not in flags:
            out.append(f"processed file: {target}")
    out.append(f"Successfully processed {done} files; Failed processing {failed} files")
    return out, ACCESS_DENIED if failed else 0


def _icacls_op(host: LabHost, target: str, security: Security, op: str, values: list[str]) -> None:
    """Apply one option to ``security`` (the target's descriptor as the options so far left it)."""
    if op == "/setowner":
        sid = account_sid(values[0]) if values else None
        if sid is None:
            raise ValueError(values[0] if values else op)
        # WRITE_OWNER (0x80000) to the object and an owner the caller may assign (one of its own SIDs).
        if not host.files.rights(target, host.identity) & 0x80000 or sid not in host.identity.sids:
            raise PermissionError(target)
        security.owner = sid
        return
    if not host.files.can_change_dacl(target, host.identity):
        raise PermissionError(target)
    if op in ("/grant", "/grant:r"):
        for value in values:
            account, sep, perm = value.rpartition(":")
            sid = account_sid(account) if sep else None
            if sid is None:
                raise ValueError(value)
            ace_flags, mask = parse_rights(perm)
            if op == "/grant:r":
                security.aces = [a for a in security.aces if a.sid != sid]
            security.aces.append(Ace(sid, mask, ace_flags))
    elif op.startswith("/remove"):
        for value in values:
            sid = account_sid(value)
            if sid is None:
                raise ValueError(value)
            security.aces = [a for a in security.aces if a.sid != sid]
    elif op.startswith("/inheritance:"):
        mode = op.split(":", 1)[1]
        if mode not in ("e", "d", "r"):
            raise ValueError(op)
        if mode == "d":
            inherited = [a for a in host.files.effective_aces(target) if a.inherited]
            security.aces += [Ace(a.sid, a.mask, a.flags) for a in inherited]
        security.protected = mode != "e"
    elif op == "/reset":
        security.aces, security.protected = [], False
    else:
        raise ValueError(op)


def _takeown(host: LabHost, argv: list[str]) -> tuple[list[str], int]:
    args = [a.lower() for a in argv]
    if "/f" not in args or args.index("/f") + 1 >= len(argv):
        return ["ERROR: Invalid syntax. Mandatory option '/F' is missing."], INVALID_PARAMETER
    name = argv[args.index("/f") + 1]
    if not host.files.exists(name):
        return ["ERROR: The system cannot find the file specified."], 1
    if not host.identity.can_take_ownership:
        return ["ERROR: Access is denied."], 1
    owner = ADMINISTRATORS if "/a" in args else host.identity.sid
    targets = [host.files.display(name)] + (host.files.descendants(name) if "/r" in args else [])
    out = []
    for target in targets:
        security = host.files.security_of(target).copy()
        security.owner = owner
        host.files.set_security(target, security)
        who = "the administrators group" if owner == ADMINISTRATORS else f'user "{host.identity.name}"'
        out.append(f'SUCCESS: The file (or folder): "{target}" now owned by {who}.')
    return out, 0


def _whoami(host: LabHost, argv: list[str]) -> tuple[list[str], int]:
    args = [a.lower() for a in argv]
    name = host.identity.name.lower()
    if "/user" not in args:
        return [name], 0
    csv = "/fo" in args and args.index("/fo") + 1 < len(args) and args[args.index("/fo") + 1] == "csv"
    header = "/nh" not in args
    if csv:
        return (['"User Name","SID"'] if header else []) + [f'"{name}","{host.identity.sid}"'], 0
    lines = ["", "USER INFORMATION", "----------------", ""]
    if header:
        lines += ["User Name" + " " * 20 + "SID", "=" * 28 + " " + "=" * len(host.identity.sid)]
    return [*lines, f"{name:<28} {host.identity.sid}"], 0


def register(host: LabHost, table: CommandTable) -> None:
    for name, fn in (("icacls.exe", _icacls), ("takeown.exe", _takeown), ("whoami.exe", _whoami)):
        table.add(NativeCommand(name, _bound(host, fn)), name[:-4])


def _bound(host: LabHost, fn: Callable[[LabHost, list[str]], tuple[list[str], int]]) -> NativeFn:
    def run(_ctx: InvocationContext, argv: list[str]) -> tuple[list[str], int]:
        return fn(host, argv)

    return run
