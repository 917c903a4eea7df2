"""Logging set-up and the one-line-per-request access log.

Nothing here ever formats headers: credentials cannot reach a log line.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

log = logging.getLogger("anthroproxy")

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


def configure_logging(level: str) -> None:
    """Route the package's logs to stderr at ``level`` (NONE silences them)."""
    log.handlers.clear()
    log.propagate = False
    if level == "NONE":
        log.addHandler(logging.NullHandler())
        log.setLevel(logging.CRITICAL + 1)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(LEVELS[level])


@dataclass(slots=True)
class AccessRecord:
    method: str
    path: str
    request_id: str
    model: str | None = None
    target: str | None = None
    stream: bool = False
    status: int | None = None
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # error type, for failures after a 200 head too
    client_gone: bool = False

    def line(self, duration_s: float) -> str:
        parts = [self.method, self.path]
        if self.model:
            parts.append(f"{self.model} -> {self.target}")
        parts.append(str(self.status) if self.status is not None else "-")
        if self.stream:
            parts.append("stream")
        parts.append(f"{duration_s:.3f}s")
        if self.usage:
            parts.append(f"in={self.usage.get('input_tokens', 0)} out={self.usage.get('output_tokens', 0)}")
            if self.usage.get("cache_read_input_tokens"):
                parts.append(f"cached={self.usage['cache_read_input_tokens']}")
        if self.stop_reason:
            parts.append(f"stop={self.stop_reason}")
        if self.error:
            parts.append(f"error={self.error}")
        if self.client_gone:
            parts.append("client-disconnected")
        parts.append(self.request_id)
        return " ".join(parts)
