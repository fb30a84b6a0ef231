"""--version and shell completion, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ipsec_remote

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipsec_remote", *args], cwd=ROOT, text=True, capture_output=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_version_is_the_package_version() -> None:
    proc = run("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert proc.returncode == 0 and proc.stdout == f"ipsec-remote {version}\n"
    assert ipsec_remote.__version__ == version


def test_show_completion_prints_the_named_shells_script() -> None:
    bash = run("--show-completion", "bash")
    assert bash.returncode == 0, bash.stderr
    assert "_IPSEC_REMOTE_COMPLETE=complete_bash" in bash.stdout
    assert bash.stdout.rstrip().endswith("complete -o default -F _ipsec_remote_completion ipsec-remote")
    zsh = run("--show-completion", "zsh")
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef ipsec-remote")
    bad = run("--show-completion", "tcsh")
    assert bad.returncode == 2 and "'tcsh' is not one of bash, zsh, fish, powershell" in bad.stderr


def test_the_completion_script_completes_commands_and_options() -> None:
    """What the bash script asks the program, answered: commands, subcommands and options."""
    for words, cword, expected in (("ipsec-remote hist", "1", "history"), ("ipsec-remote import ", "2", "ansible"),
                                   ("ipsec-remote status --rep", "2", "--report")):
        proc = run(env={"COMP_WORDS": words, "COMP_CWORD": cword, "_IPSEC_REMOTE_COMPLETE": "complete_bash"})
        assert proc.returncode == 0 and proc.stdout.split() == [expected], (words, proc.stdout, proc.stderr)
