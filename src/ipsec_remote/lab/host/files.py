"""The item cmdlets scripts use on the lab's file system, each run as the host's current identity.

Set-Content / Get-Content / Test-Path / Remove-Item / New-Item / Get-ChildItem (Microsoft.PowerShell.
Management), Get-Acl (its ``Sddl`` and ``Owner``: learn.microsoft.com/powershell/module/
microsoft.powershell.security/get-acl) and Get-FileHash (SHA256 by default, ``Hash`` in upper-case hex:
learn.microsoft.com/powershell/module/microsoft.powershell.utility/get-filehash). A refused access is the
.NET UnauthorizedAccessException "Access to the path '…' is denied.".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PowerShellError, PSObject
from .builtin import COMMON_CHANGE, SWITCH, builtin_command, ps_error
from .filesystem import AccessDenied, normalise
from .model import as_list
from .security import SDDL_ALIASES

if TYPE_CHECKING:
    from .state import LabHost

ENCODINGS = ("Unknown", "String", "Unicode", "BigEndianUnicode", "UTF8", "UTF7", "UTF32", "Ascii", "Default",
             "Oem", "Byte")


def _not_found(cmd: str, cls: str, path: str) -> PowerShellError:
    return ps_error(f"Cannot find path '{path}' because it does not exist.",
                    f"PathNotFound,Microsoft.PowerShell.Commands.{cls}", "ObjectNotFound",
                    "System.Management.Automation.ItemNotFoundException", target=path, command=cmd)


def _denied(cmd: str, cls: str, exc: AccessDenied) -> PowerShellError:
    return ps_error(str(exc), f"{cls.replace('Command', '')}UnauthorizedAccessError,"
                              f"Microsoft.PowerShell.Commands.{cls}", "PermissionDenied",
                    "System.UnauthorizedAccessException", target=exc.path, command=cmd)


def set_content(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
    values = as_list(args.get("Value")) if "Value" in args else pipe
    text = "".join(str(v) if args.get("NoNewline") else f"{v}\r\n" for v in values)
    encoding = str(args.get("Encoding") or "Default")
    for path in as_list(args["Path"]):
        try:
            written = host.files.write(str(path), text, host.identity, encoding)
        except AccessDenied as exc:
            ctx.write_error(_denied("Set-Content", "SetContentCommand", exc).record)
            continue
        if not written:
            raise ps_error(f"Could not find a part of the path '{normalise(str(path))}'.",
                           "GetContentWriterDirectoryNotFoundError,Microsoft.PowerShell.Commands.SetContentCommand",
                           "ObjectNotFound", "System.IO.DirectoryNotFoundException", target=path,
                           command="Set-Content")
    return []


def get_content(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    out: list[Any] = []
    for path in as_list(args["Path"]):
        try:
            entry = host.files.read(str(path), host.identity)
        except AccessDenied as exc:
            ctx.write_error(_denied("Get-Content", "GetContentCommand", exc).record)
            continue
        if entry is None:
            ctx.write_error(_not_found("Get-Content", "GetContentCommand", str(path)).record)
            continue
        if args.get("Raw"):
            out.append(entry.text)
        else:
            lines = entry.text.replace("\r\n", "\n").split("\n")
            out.extend(lines[:-1] if lines and lines[-1] == "" else lines)
    return out


def test_path(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    kind = str(args.get("PathType") or "Any").lower()
    out = []
    for path in as_list(args["Path"]):
        is_dir, is_file = host.files.is_dir(str(path)), host.files.is_file(str(path))
        out.append({"leaf": is_file, "container": is_dir}.get(kind, is_dir or is_file))
    return out


def remove_item(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    for path in as_list(args["Path"]):
        p = str(path)
        if not host.files.exists(p):
            ctx.write_error(_not_found("Remove-Item", "RemoveItemCommand", p).record)
            continue
        if host.files.is_dir(p) and host.files.children(p) and not args.get("Recurse"):
            # Non-interactive sessions cannot answer the confirmation prompt, so the removal fails.
            ctx.write_error(ps_error(
                f"The item at {normalise(p)} has children and the Recurse parameter was not specified.",
                "RemoveItemUnauthorizedAccessError,Microsoft.PowerShell.Commands.RemoveItemCommand",
                "InvalidOperation", "System.Management.Automation.PSInvalidOperationException", target=p,
                command="Remove-Item").record)
            continue
        try:
            host.files.remove(p, host.identity)
        except AccessDenied as exc:
            ctx.write_error(_denied("Remove-Item", "RemoveItemCommand", exc).record)
    return []


def _item(host: LabHost, path: str) -> PSObject:
    is_dir = host.files.is_dir(path)
    full = host.files.display(path)
    cls = "System.IO.DirectoryInfo" if is_dir else "System.IO.FileInfo"
    props = {"FullName": full, "Name": full.rsplit("\\", 1)[-1], "PSIsContainer": is_dir,
             "Attributes": "Directory" if is_dir else "Archive"}
    return PSObject(properties=CaseInsensitiveDict(props), type_names=[cls, "System.IO.FileSystemInfo",
                                                                       "System.Object"], adapted=True)


def new_item(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    item_type = str(args.get("ItemType") or "File").lower()
    out = []
    for path in as_list(args["Path"]):
        p = normalise(str(path) + ("\\" + str(args["Name"]) if args.get("Name") else ""))
        if host.files.exists(p) and not args.get("Force"):
            ctx.write_error(ps_error(f"An item with the specified name {p} already exists.",
                                     "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand", "ResourceExists",
                                     "System.IO.IOException", target=p, command="New-Item").record)
            continue
        try:
            if item_type == "directory":
                host.files.mkdir(p, host.identity)
            elif not host.files.write(p, str(args.get("Value") or ""), host.identity):
                raise ps_error(f"Could not find a part of the path '{p}'.",
                               "NewItemIOError,Microsoft.PowerShell.Commands.NewItemCommand", "WriteError",
                               "System.IO.DirectoryNotFoundException", target=p, command="New-Item")
        except AccessDenied as exc:
            ctx.write_error(_denied("New-Item", "NewItemCommand", exc).record)
            continue
        out.append(_item(host, p))
    return out


def get_child_item(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                   _in: list[Any]) -> Iterable[Any]:
    out = []
    for path in as_list(args.get("Path") or ["C:\\"]):
        p = str(path)
        if not host.files.exists(p):
            ctx.write_error(_not_found("Get-ChildItem", "GetChildItemCommand", p).record)
            continue
        if not host.files.rights(p, host.identity) & 0x1:  # FILE_LIST_DIRECTORY
            ctx.write_error(_denied("Get-ChildItem", "GetChildItemCommand", AccessDenied(normalise(p))).record)
            continue
        entries = host.files.children(p) if host.files.is_dir(p) else [host.files.display(p)]
        for entry in entries:
            is_dir = host.files.is_dir(entry)
            if (args.get("File") and is_dir) or (args.get("Directory") and not is_dir):
                continue
            out.append(_item(host, entry))
    return out


def _account(sid: str) -> str:
    names = {"SY": "NT AUTHORITY\\SYSTEM", "BA": "BUILTIN\\Administrators", "BU": "BUILTIN\\Users",
             "WD": "Everyone", "AU": "NT AUTHORITY\\Authenticated Users"}
    return names.get(SDDL_ALIASES.get(sid, ""), sid)


def get_acl(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    out = []
    for path in as_list(args["Path"]):
        p = str(path)
        if not host.files.exists(p):
            ctx.write_error(_not_found("Get-Acl", "GetAclCommand", p).record)
            continue
        security = host.files.security_of(p)
        # Reading a security descriptor needs READ_CONTROL, which the owner always has; FULL includes it.
        if security.owner not in host.identity.sids and not host.files.rights(p, host.identity) & 0x20000:
            ctx.write_error(_denied("Get-Acl", "GetAclCommand", AccessDenied(normalise(p))).record)
            continue
        cls = "System.Security.AccessControl.DirectorySecurity" if host.files.is_dir(p) else \
            "System.Security.AccessControl.FileSecurity"
        props = {"Path": host.files.display(p), "Owner": _account(security.owner), "Sddl": host.files.sddl(p),
                 "AreAccessRulesProtected": security.protected}
        out.append(PSObject(properties=CaseInsensitiveDict(props), adapted=True,
                            type_names=[cls, "System.Security.AccessControl.FileSystemSecurity", "System.Object"]))
    return out


def get_file_hash(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    algorithm = str(args.get("Algorithm") or "SHA256")
    if algorithm.upper() != "SHA256":
        raise ps_error(f"The lab implements SHA256 only, not {algorithm}.", "AlgorithmNotModelled",
                       "NotImplemented", "System.NotSupportedException", command="Get-FileHash")
    out = []
    for path in as_list(args["Path"]):
        try:
            digest = host.files.file_hash(str(path), host.identity)
        except AccessDenied as exc:
            ctx.write_error(_denied("Get-FileHash", "GetFileHashCommand", exc).record)
            continue
        if digest is None:
            ctx.write_error(_not_found("Get-FileHash", "GetFileHashCommand", str(path)).record)
            continue
        out.append(PSObject.custom(Algorithm="SHA256", Hash=digest, Path=host.files.display(str(path))))
    return out


def register(host: LabHost, table: CommandTable) -> None:
    path = ParamSpec("Path", "String[]", array=True, mandatory=True, position=0, aliases=("PSPath", "LiteralPath"))
    encoding = ParamSpec("Encoding", "FileSystemCmdletProviderEncoding", values=ENCODINGS)
    table.add(builtin_command(host, "Set-Content", [
        path, ParamSpec("Value", "Object[]", array=True, position=1), encoding,
        ParamSpec("Force", SWITCH), ParamSpec("NoNewline", SWITCH), *COMMON_CHANGE], set_content))
    table.add(builtin_command(host, "Get-Content", [path, ParamSpec("Raw", SWITCH), encoding], get_content),
              "gc", "cat", "type")
    table.add(builtin_command(host, "Test-Path", [
        path, ParamSpec("PathType", "TestPathType", values=("Any", "Container", "Leaf"))], test_path))
    table.add(builtin_command(host, "Remove-Item", [
        path, ParamSpec("Recurse", SWITCH), ParamSpec("Force", SWITCH), *COMMON_CHANGE], remove_item),
        "del", "rm", "ri")
    table.add(builtin_command(host, "New-Item", [
        path, ParamSpec("Name", "String"), ParamSpec("ItemType", "String", aliases=("Type",)),
        ParamSpec("Value", "Object"), ParamSpec("Force", SWITCH), *COMMON_CHANGE], new_item), "ni")
    table.add(builtin_command(host, "Get-ChildItem", [
        ParamSpec("Path", "String[]", array=True, position=0, aliases=("PSPath", "LiteralPath")),
        ParamSpec("Force", SWITCH), ParamSpec("File", SWITCH), ParamSpec("Directory", SWITCH)], get_child_item),
        "gci", "dir", "ls")
    table.add(builtin_command(host, "Get-Acl", [
        ParamSpec("Path", "String[]", array=True, position=0, mandatory=True, aliases=("PSPath", "LiteralPath"))],
        get_acl))
    table.add(builtin_command(host, "Get-FileHash", [
        path, ParamSpec("Algorithm", "String", values=("SHA1", "SHA256", "SHA384", "SHA512", "MD5"))],
        get_file_hash))
