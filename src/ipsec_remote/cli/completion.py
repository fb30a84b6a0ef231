"""Shell completion: ``--show-completion SHELL`` prints the script, ``--install-completion`` installs it.

Typer's own ``--show-completion`` takes no value and detects the shell from the parent process, so
``--show-completion bash`` printed the *detected* shell's script (and under ``make`` or CI the parent is
``sh``, which typer does not support). Here the shell is named; ``--install-completion`` detects it as typer
does. The scripts and the completion itself are typer's (``_IPSEC_REMOTE_COMPLETE`` in the environment,
answered when the app runs).
"""

from __future__ import annotations

import typer

# typer (pinned < 1 in pyproject) keeps these in modules without a public alias.
from typer._completion_classes import completion_init
from typer._completion_shared import Shells, _get_shell_name, get_completion_script, install

PROG = "ipsec-remote"
COMPLETE_VAR = "_IPSEC_REMOTE_COMPLETE"
SHELLS = [s.value for s in Shells.__members__.values()]

completion_init()  # registers the bash/zsh/fish/powershell completion classes for _IPSEC_REMOTE_COMPLETE


def _check(shell: str, option: str) -> str:
    if shell not in SHELLS:
        raise typer.BadParameter(f"'{shell}' is not one of {', '.join(SHELLS)}", param_hint=option)
    return shell


def show_callback(value: str | None) -> None:
    if value is None:
        return
    typer.echo(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR,
                                     shell=_check(value, "--show-completion")))
    raise typer.Exit(0)


def install_callback(value: bool) -> None:
    if not value:
        return
    detected = _get_shell_name() or "an undetected shell"
    if detected not in SHELLS:
        raise typer.BadParameter(f"the current shell is {detected}, not one of {', '.join(SHELLS)}: print the "
                                 "script with --show-completion SHELL instead", param_hint="--install-completion")
    shell, path = install(shell=detected, prog_name=PROG, complete_var=COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell")
    raise typer.Exit(0)
