"""powershell.exe as a scheduled task starts it, and the execution policy that decides whether it may run a
script file.

Execution policy (about_Execution_Policies, Get-ExecutionPolicy -List; Set-ExecutionPolicy: "If a Group
Policy is set, it overrides the execution policy set locally"): scopes in precedence order MachinePolicy,
UserPolicy, Process (``powershell.exe -ExecutionPolicy``), CurrentUser, LocalMachine; the first one not
Undefined wins, all Undefined means Restricted; RemoteSigned is the default on Windows Server. The policy
governs script *files* (and configuration files): "users can easily bypass a policy by typing the script
contents at the command line" — a ``-Command`` / ``-EncodedCommand`` is not a script file. Restricted blocks
every script file, AllSigned every unsigned one (the lab signs nothing), RemoteSigned only downloaded ones.

powershell.exe (about_PowerShell_exe): ``-NoProfile``, ``-NonInteractive``, ``-WindowStyle``,
``-ExecutionPolicy``, ``-EncodedCommand`` (a base-64 string of the command's UTF-16LE text), ``-Command``
(the rest of the line), ``-File <path> <args>`` (the rest are the script's arguments). Exit code: 1 when the
script or command ended in a terminating error (or a blocked script), else 0.
"""

from __future__ import annotations

import base64
import binascii
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..commands import CommandTable, InvocationContext, ParamSpec
from ..values import CaseInsensitiveDict, PSObject
from .builtin import SWITCH, builtin_command
from .filesystem import AccessDenied

if TYPE_CHECKING:
    from .state import LabHost

SCOPES = ("MachinePolicy", "UserPolicy", "Process", "CurrentUser", "LocalMachine")
POLICIES = ("AllSigned", "Bypass", "RemoteSigned", "Restricted", "Unrestricted", "Undefined")
EXE_SWITCHES = ("NoProfile", "NonInteractive", "NoLogo", "NoExit", "Sta", "Mta")
EXE_VALUES = ("WindowStyle", "ExecutionPolicy", "InputFormat", "OutputFormat", "Version", "ConfigurationName",
              "EncodedArguments", "PSConsoleFile")


def policies(host: LabHost, process: str | None = None) -> dict[str, str]:
    return {"MachinePolicy": host.config.execution_policy_gpo or "Undefined", "UserPolicy": "Undefined",
            "Process": process or "Undefined", "CurrentUser": "Undefined", "LocalMachine": "RemoteSigned"}


def effective(scopes: dict[str, str]) -> str:
    return next((scopes[s] for s in SCOPES if scopes[s] != "Undefined"), "Restricted")


def file_may_run(policy: str) -> bool:
    return policy in ("RemoteSigned", "Unrestricted", "Bypass")  # lab script files are local and unsigned


def get_execution_policy(host: LabHost, ctx: InvocationContext, args: CaseInsensitiveDict,
                         _in: list[Any]) -> Iterable[Any]:
    scopes = policies(host)
    if args.get("List"):
        return [PSObject.custom(Scope=s, ExecutionPolicy=scopes[s]) for s in SCOPES]
    if args.get("Scope"):
        return [scopes[str(args["Scope"])]]
    return [effective(scopes)]


class ExeArguments:
    """A powershell.exe command line, parsed as about_PowerShell_exe describes it."""

    def __init__(self, argument: str) -> None:
        self.options: dict[str, str | bool] = {}
        self.file: str | None = None
        self.file_args: dict[str, Any] = {}
        self.command: str | None = None
        self.error: str | None = None
        tokens = [t[1:-1] if len(t) > 1 and t[0] == t[-1] and t[0] in "'\"" else t
                  for t in shlex.split(argument, posix=False)]
        i = 0
        while i < len(tokens):
            name = _option(tokens[i])
            if name is None:
                self.error = f"unknown powershell.exe argument {tokens[i]!r}"
                return
            if name in EXE_SWITCHES:
                self.options[name] = True
            elif name in EXE_VALUES and i + 1 < len(tokens):
                self.options[name] = tokens[i + 1]
                i += 1
            elif name == "EncodedCommand" and i + 1 < len(tokens):
                try:
                    self.command = base64.b64decode(tokens[i + 1], validate=True).decode("utf-16-le")
                except (binascii.Error, UnicodeDecodeError):
                    self.error = "-EncodedCommand is not base-64 UTF-16LE text"
                i += 1
            elif name == "Command":
                self.command = " ".join(tokens[i + 1:])
                return
            elif name == "File" and i + 1 < len(tokens):
                self.file = tokens[i + 1]
                self.file_args = _script_args(tokens[i + 2:])
                return
            else:
                self.error = f"powershell.exe {tokens[i]} needs a value"
                return
            i += 1


def _option(token: str) -> str | None:
    if not token.startswith(("-", "/")):
        return None
    low = token[1:].lower()
    names = (*EXE_SWITCHES, *EXE_VALUES, "EncodedCommand", "Command", "File")
    exact = [n for n in names if n.lower() == low]
    if exact:
        return exact[0]
    aliases = {"ec": "EncodedCommand", "enc": "EncodedCommand", "ep": "ExecutionPolicy", "nop": "NoProfile",
               "noni": "NonInteractive", "w": "WindowStyle", "c": "Command", "f": "File"}
    if low in aliases:
        return aliases[low]
    hits = [n for n in names if n.lower().startswith(low)]
    return hits[0] if len(hits) == 1 else None


def _script_args(rest: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    j = 0
    while j < len(rest):
        if rest[j].startswith("-") and j + 1 < len(rest) and not rest[j + 1].startswith("-"):
            params[rest[j][1:]] = rest[j + 1]
            j += 2
        else:
            params[rest[j].lstrip("-")] = True
            j += 1
    return params


def run_exe(host: LabHost, argument: str) -> tuple[int, Any]:
    """Run powershell.exe with this argument string as the host's current identity: (exit code, the
    engine's result or None when nothing ran)."""
    args = ExeArguments(argument)
    if args.error is not None:
        return 1, None
    if args.file is not None:
        process = args.options.get("ExecutionPolicy")
        if not file_may_run(effective(policies(host, str(process) if process else None))):
            return 1, None  # "…cannot be loaded because running scripts is disabled" / "…not digitally signed"
        try:
            entry = host.files.read(args.file, host.identity)
        except AccessDenied:
            return 1, None
        if entry is None:
            return 0x80070002, None  # ERROR_FILE_NOT_FOUND as the lab records it (Windows' value undocumented)
        result = host.run_script(entry.text, args.file_args)
    elif args.command is not None:
        result = host.run_script(args.command)
    else:
        return 0, None
    return (1 if getattr(result, "failure", None) is not None else 0), result


def register(host: LabHost, table: CommandTable) -> None:
    table.add(builtin_command(host, "Get-ExecutionPolicy", [
        ParamSpec("Scope", "ExecutionPolicyScope", values=SCOPES, position=0), ParamSpec("List", SWITCH)],
        get_execution_policy))
