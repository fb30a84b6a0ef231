"""structlog to stderr (at --log-level) and, with --log-file, every event from info up as JSON lines to a file;
secrets redacted before anything is written."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from .errors import InputError

_SECRET_KEYS = re.compile(r"(password|passwd|secret|psk|presharedkey|token|credential)", re.IGNORECASE)
REDACTED = "***"


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = REDACTED
    return event


_sink: dict[str, Any] = {}  # the --log-file stream of this process, and its lock


def open_log_file(path: Path) -> TextIO:
    """Appended to, created 0600 (it names hosts and what was done to them)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise InputError("--log-file", str(path), f"cannot write: {exc.strerror or exc}") from None
    return os.fdopen(fd, "a", encoding="utf-8")


def configured() -> bool:
    """Whether ``configure`` ran in this process (an eager --version exits before it does)."""
    return bool(_sink.get("configured"))


def configure(level: str = "warning", fmt: str = "console", file: Path | None = None) -> None:
    _sink["configured"] = True
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    stderr_level = getattr(logging, level.upper(), logging.WARNING)
    old = _sink.pop("file", None)
    if old is not None:
        old.close()
    if file is not None:
        _sink["file"] = open_log_file(file)
        _sink["lock"] = threading.Lock()
    file_level = min(stderr_level, logging.INFO) if file is not None else stderr_level

    def tee(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        """The file gets every event from info up (JSON, one per line); stderr only from --log-level up."""
        event_level = getattr(logging, str(event.get("level", "info")).upper(), logging.INFO)
        stream = _sink.get("file")
        if stream is not None and event_level >= file_level:
            line = json.dumps(dict(event), default=str, ensure_ascii=False)
            with _sink["lock"]:
                stream.write(line + "\n")
                stream.flush()
        if event_level < stderr_level:
            raise structlog.DropEvent
        return renderer(logger, method, event)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            tee,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(min(stderr_level, file_level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)
