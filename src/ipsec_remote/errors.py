"""The project's one exception hierarchy. Messages never carry secrets."""

from __future__ import annotations


class IpsecRemoteError(Exception):
    """Base of every error the controller raises on purpose."""


# Control characters (a newline in an inventory value echoed by a message) are shown escaped, so the
# message stays one line.
_ONE_LINE = {c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}
_ONE_LINE.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so it prints as one line."""
    return text.translate(_ONE_LINE)


class InputError(IpsecRemoteError):
    """Invalid inventory, playbook or CLI input: exit code 2, nothing was contacted.

    ``str(err)`` is the one line shown to the user: ``file: key.path: problem``.
    """

    def __init__(self, file: str, key_path: str, problem: str) -> None:
        self.file = file
        self.key_path = key_path
        self.problem = problem
        where = f"{file}: {key_path}: " if key_path else f"{file}: "
        super().__init__(f"{where}{problem}".translate(_ONE_LINE))


class ValidationError(IpsecRemoteError):
    """A CmdletCall does not match the cmdlet reference (a bug in the planner, never sent)."""
