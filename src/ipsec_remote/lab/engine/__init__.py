"""A small PowerShell engine for the lab: Windows PowerShell 5.1 semantics for the subset our scripts use.

``parse_script`` turns text into a compact AST (cached by text) or raises ``UnsupportedConstruct`` with the
line; ``lint_script`` is the same check as a list of messages. ``Engine(commands).run(text, parameters)``
executes a script against a host's ``CommandTable`` plus the engine's built-ins (Where-Object,
ForEach-Object, Select-Object, Sort-Object, Measure-Object, Out-Null, Out-String, Write-Output/-Error/
-Warning/-Verbose/-Information/-Host/-Debug); ``run_pipeline`` runs a PSRP pipeline of script and
command entries.

Outside the subset, refused at parse time: classes, enums, ``using``, workflows, filters, begin/process/end
blocks, ``switch``, ``trap``, labels, redirection, PS7 operators (ternary, ``??``, ``&&``/``||``,
``-Parallel``), dot-sourcing, ``Invoke-Expression``, ``$using:``-style scoped variables, intrinsic
``.Where()``/``.ForEach()``, ``-is``/``-as``, and casts or static members of types the engine does not model.
"""

from .engine import Engine, ScriptResult
from .errors import UnsupportedConstruct
from .parser import lint_script, parse_script

__all__ = ["Engine", "ScriptResult", "UnsupportedConstruct", "lint_script", "parse_script"]
