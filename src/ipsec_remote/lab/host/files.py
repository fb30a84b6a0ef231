"""A minimal Windows file system (``C:\\ProgramData\\…``) and the item cmdlets scripts use on it.

Paths are case-insensitive and keep their first spelling, as NTFS does; ``/`` is accepted for ``\\``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PSObject
from .builtin import COMMON_CHANGE, SWITCH, builtin_command, ps_error
from .model import as_list

if TYPE_CHECKING:
    from .state import LabHost

INITIAL_DIRS = ("C:\\", "C:\\ProgramData", "C:\\Windows", "C:\\Windows\\System32", "C:\\Windows\\Temp",
                "C:\\Users", "C:\\Program Files")


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


class LabFileSystem:
    def __init__(self) -> None:
        self.dirs: dict[str, str] = {}
        self.files: dict[str, tuple[str, str]] = {}
        for d in INITIAL_DIRS:
            self.dirs[normalise(d).lower()] = normalise(d)

    def is_dir(self, path: str) -> bool:
        return normalise(path).lower() in self.dirs

    def is_file(self, path: str) -> bool:
        return normalise(path).lower() in self.files

    def read(self, path: str) -> str | None:
        entry = self.files.get(normalise(path).lower())
        return entry[1] if entry else None

    def write(self, path: str, text: str) -> bool:
        """False when the parent directory does not exist (Windows will not create it)."""
        p = normalise(path)
        if not self.is_dir(parent(p)):
            return False
        self.files[p.lower()] = (self.files.get(p.lower(), (p, ""))[0], text)
        return True

    def mkdir(self, path: str) -> None:
        p = normalise(path)
        chain = []
        while p.lower() not in self.dirs and len(p) > 3:
            chain.append(p)
            p = parent(p)
        for d in reversed(chain):
            self.dirs[d.lower()] = d

    def remove(self, path: str) -> None:
        p = normalise(path).lower()
        self.files.pop(p, None)
        for key in [k for k in self.files if k.startswith(p + "\\")]:
            del self.files[key]
        for key in [k for k in self.dirs if k == p or k.startswith(p + "\\")]:
            del self.dirs[key]

    def children(self, path: str) -> list[str]:
        p = normalise(path).lower() + "\\"
        return [k for k in [*self.files, *self.dirs] if k.startswith(p)]

    def snapshot(self) -> dict[str, str]:
        return {path: text for path, text in self.files.values()}


def _not_found(cmd: str, cls: str, path: str) -> Any:
    return ps_error(f"Cannot find path '{path}' because it does not exist.",
                    f"PathNotFound,Microsoft.PowerShell.Commands.{cls}", "ObjectNotFound",
                    "System.Management.Automation.ItemNotFoundException", target=path, command=cmd)


def set_content(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, pipe: list[Any]) -> Iterable[Any]:
    values = as_list(args.get("Value")) if "Value" in args else pipe
    text = "".join(str(v) if args.get("NoNewline") else f"{v}\r\n" for v in values)
    for path in as_list(args["Path"]):
        if not host.files.write(str(path), text):
            raise ps_error(f"Could not find a part of the path '{normalise(str(path))}'.",
                           "GetContentWriterDirectoryNotFoundError,Microsoft.PowerShell.Commands.SetContentCommand",
                           "ObjectNotFound", "System.IO.DirectoryNotFoundException", target=path,
                           command="Set-Content")
    return []


def get_content(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    out: list[Any] = []
    for path in as_list(args["Path"]):
        text = host.files.read(str(path))
        if text is None:
            ctx.write_error(_not_found("Get-Content", "GetContentCommand", str(path)).record)
            continue
        if args.get("Raw"):
            out.append(text)
        else:
            lines = text.replace("\r\n", "\n").split("\n")
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
        if not (host.files.is_dir(p) or host.files.is_file(p)):
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
        host.files.remove(p)
    return []


def new_item(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict, _in: list[Any]) -> Iterable[Any]:
    item_type = str(args.get("ItemType") or "File").lower()
    out = []
    for path in as_list(args["Path"]):
        p = normalise(str(path) + ("\\" + str(args["Name"]) if args.get("Name") else ""))
        if (host.files.is_dir(p) or host.files.is_file(p)) and not args.get("Force"):
            ctx.write_error(ps_error(f"An item with the specified name {p} already exists.",
                                     "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand", "ResourceExists",
                                     "System.IO.IOException", target=p, command="New-Item").record)
            continue
        if item_type == "directory":
            host.files.mkdir(p)
        elif not host.files.write(p, str(args.get("Value") or "")):
            raise ps_error(f"Could not find a part of the path '{p}'.",
                           "NewItemIOError,Microsoft.PowerShell.Commands.NewItemCommand", "WriteError",
                           "System.IO.DirectoryNotFoundException", target=p, command="New-Item")
        name = p.rsplit("\\", 1)[-1]
        cls = "System.IO.DirectoryInfo" if item_type == "directory" else "System.IO.FileInfo"
        out.append(PSObject(properties=CaseInsensitiveDict({"FullName": p, "Name": name}),
                            type_names=[cls, "System.IO.FileSystemInfo", "System.Object"], adapted=True))
    return out


def register(host: LabHost, table: CommandTable) -> None:
    path = ParamSpec("Path", "String[]", array=True, mandatory=True, position=0, aliases=("PSPath", "LiteralPath"))
    table.add(builtin_command(host, "Set-Content", [
        path, ParamSpec("Value", "Object[]", array=True, position=1), ParamSpec("Encoding", "String"),
        ParamSpec("Force", SWITCH), ParamSpec("NoNewline", SWITCH), *COMMON_CHANGE], set_content))
    table.add(builtin_command(host, "Get-Content", [
        path, ParamSpec("Raw", SWITCH), ParamSpec("Encoding", "String")], get_content), "gc", "cat", "type")
    table.add(builtin_command(host, "Test-Path", [
        path, ParamSpec("PathType", "TestPathType", values=("Any", "Container", "Leaf"))], test_path))
    table.add(builtin_command(host, "Remove-Item", [
        path, ParamSpec("Recurse", SWITCH), ParamSpec("Force", SWITCH), *COMMON_CHANGE], remove_item),
        "del", "rm", "ri")
    table.add(builtin_command(host, "New-Item", [
        path, ParamSpec("Name", "String"), ParamSpec("ItemType", "String", aliases=("Type",)),
        ParamSpec("Value", "Object"), ParamSpec("Force", SWITCH), *COMMON_CHANGE], new_item), "ni")
