"""Logging set-up and the access log: one record per request, a readable line
by default or one JSON object per line (``--log-format json``).

Nothing here ever formats headers: credentials cannot reach a log line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("anthroproxy")

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


def configure_logging(level: str, fmt: str = "text") -> None:
    """Route the package's logs to stderr at ``level`` (NONE silences them),
    as text lines or JSON objects."""
    log.handlers.clear()
    log.propagate = False
    if level == "NONE":
        log.addHandler(logging.NullHandler())
        log.setLevel(logging.CRITICAL + 1)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(LEVELS[level])


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, and the message; an access
    record's fields instead of a message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
        }
        access = getattr(record, "access", None)
        if access is not None:
            entry.update(access)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_access(record: AccessRecord, duration_s: float) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(record.line(duration_s), extra={"access": record.fields(duration_s)})


@dataclass(slots=True)
class AccessRecord:
    method: str
    path: str
    request_id: str
    started_at: float = 0.0  # trio clock
    route: str | None = None  # the handler's name, once routed
    model: str | None = None
    target: str | None = None
    stream: bool = False
    status: int | None = None
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    usage_estimated: bool = False  # the upstream reported none: the proxy's estimate
    error: str | None = None  # error type, for failures after a 200 head too
    upstream_error: str | None = None  # its kind (metrics' label), when the upstream failed
    client_gone: bool = False
    first_event_s: float | None = None  # a stream's time to its first event from the upstream
    upstream_open: bool = False  # an upstream request is under way: if still so at the end, it was cut short
    model_route: str | None = None  # which of the model entry's routes: default, thinking, long_context, ...
    upstream: str | None = None  # the upstream of the candidate that answered (or was tried last)
    failovers: int = 0  # candidates that failed before the one that answered
    client: str | None = None  # the client its key named ([clients]), if any
    session: str | None = None  # Claude Code's session (x-claude-code-session-id): the dashboard's, never logged

    def upstream_failed(self, kind: str) -> None:
        """The upstream failed (an UpstreamError's ``kind``). Only a timeout
        leaves its request open for the proxy to cut; every other failure ended it."""
        self.upstream_error = kind
        self.upstream_open = kind == "timeout"

    def fields(self, duration_s: float) -> dict[str, Any]:
        """The record for a JSON log line; absent values are null."""
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "target": self.target,
            "status": self.status,
            "stream": self.stream,
            "duration_ms": round(duration_s * 1000, 1),
            "first_event_ms": None if self.first_event_s is None else round(self.first_event_s * 1000, 1),
            "input_tokens": self.usage.get("input_tokens"),
            "output_tokens": self.usage.get("output_tokens"),
            "cache_read_input_tokens": self.usage.get("cache_read_input_tokens"),
            "usage_estimated": self.usage_estimated,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "upstream_error": self.upstream_error,
            "client_disconnected": self.client_gone,
            "upstream_cancelled": self.upstream_open,
            "model_route": self.model_route,
            "upstream": self.upstream,
            "failovers": self.failovers,
            "client": self.client,
        }

    def line(self, duration_s: float) -> str:
        parts = [self.method, self.path]
        if self.model:
            where = "" if self.upstream in (None, "default") else f"@{self.upstream}"
            route = "" if self.model_route in (None, "default") else f" ({self.model_route})"
            parts.append(f"{self.model} -> {self.target}{where}{route}")
        parts.append(str(self.status) if self.status is not None else "-")
        if self.stream:
            parts.append("stream")
        parts.append(f"{duration_s:.3f}s")
        if self.first_event_s is not None:
            parts.append(f"first-event={self.first_event_s:.3f}s")
        if self.usage:
            estimated = "~" if self.usage_estimated else ""
            parts.append(f"in={estimated}{self.usage.get('input_tokens', 0)} out={estimated}"
                         f"{self.usage.get('output_tokens', 0)}")
            if self.usage.get("cache_read_input_tokens"):
                parts.append(f"cached={self.usage['cache_read_input_tokens']}")
        if self.stop_reason:
            parts.append(f"stop={self.stop_reason}")
        if self.error:
            parts.append(f"error={self.error}")
        if self.failovers:
            parts.append(f"failovers={self.failovers}")
        if self.client:
            parts.append(f"client={self.client}")
        if self.client_gone:
            parts.append("client-disconnected")
        if self.upstream_open:
            parts.append("upstream-cancelled")
        parts.append(self.request_id)
        return " ".join(parts)
