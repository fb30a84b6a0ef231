"""A small PowerShell engine for the lab: Windows PowerShell 5.1 semantics for the subset our scripts use.

``parse_script`` turns text into a compact AST (cached by text) or raises ``UnsupportedConstruct`` with the
line; ``Engine.run`` executes it against a host's ``CommandTable`` plus the engine's built-in cmdlets.
"""

from .engine import Engine, ScriptResult
from .errors import UnsupportedConstruct
from .parser import lint_script, parse_script

__all__ = ["Engine", "ScriptResult", "UnsupportedConstruct", "lint_script", "parse_script"]
