"""The contract between the lab's WinRM endpoint and a lab host that runs pipelines.

The WinRM layer decodes a PSRP pipeline (psrpcore's ``ServerPipeline``) into ``PipelineCommand``s and
hands them to the host's ``ScriptHost.run_pipeline``; it encodes the returned values (see ``values.py``)
back as CLIXML output and error-stream records, and fails the pipeline with ``failure`` when set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .values import ErrorRecord


@dataclass
class PipelineCommand:
    """One command of a PSRP pipeline: a script (``add_script``) or a command name (``add_cmdlet``).

    ``parameters`` keeps PSRP order: ``(name, value)`` for named parameters/switches, ``(None, value)`` for
    positional arguments. Values are already decoded into the lab's value model.
    """

    text: str
    is_script: bool
    parameters: list[tuple[str | None, Any]] = field(default_factory=list)


@dataclass
class PipelineResult:
    output: list[Any] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)  # non-terminating, in order
    failure: ErrorRecord | None = None  # set when the pipeline failed (a terminating error)


class ScriptHost(Protocol):
    name: str

    def run_pipeline(self, commands: list[PipelineCommand], pipeline_input: list[Any]) -> PipelineResult: ...
