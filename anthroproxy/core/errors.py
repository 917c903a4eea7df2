"""Errors the proxy reports, each knowing its HTTP status and Anthropic error type.

    ProxyError                      status, error_type, message, headers
    ├── InvalidRequest              400 invalid_request_error (a bad client body)
    ├── NotFound                    404 not_found_error
    ├── MethodNotAllowed            405 invalid_request_error, with Allow
    ├── RequestTimeout              408 timeout_error (client too slow to send)
    ├── RequestTooLarge             413 request_too_large
    ├── HeadersTooLarge             431 invalid_request_error
    ├── Unauthorized                401 authentication_error (the proxy's own token)
    ├── ShuttingDown                529 overloaded_error (drain grace period over)
    ├── Overloaded                  529 overloaded_error (connection limit reached)
    └── UpstreamError               anything the upstream did wrong or reported
        ├── UpstreamHTTPError       non-2xx answer or an error chunk: status mapped by STATUS_TYPES
        ├── UpstreamUnreachable     502 api_error (DNS, refused, TLS, dropped connection)
        ├── UpstreamTimeout         504 timeout_error
        └── UpstreamProtocolError   502 api_error (a malformed answer, a stream cut short)

``error_body`` renders the Anthropic shape
``{"type":"error","error":{"type":...,"message":...},"request_id":...}``.
"""

from __future__ import annotations

import json
import re

from . import jsonbytes

# Anthropic error type per status (platform docs, errors page). Unlisted 4xx use
# invalid_request_error ("may also be used for other 4XX status codes"), 5xx api_error.
STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    if status in STATUS_TYPES:
        return STATUS_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


# The status an Anthropic error type stands for (in a stream, where no HTTP status says it).
TYPE_STATUSES = {**{kind: status for status, kind in reversed(STATUS_TYPES.items())}, "overloaded_error": 529,
                 "api_error": 500, "invalid_request_error": 400, "timeout_error": 504}


def status_for_type(error_type: str) -> int:
    return TYPE_STATUSES.get(error_type, 500 if error_type.endswith("server_error") else 502)


class ProxyError(Exception):
    status = 500
    error_type = "api_error"

    def __init__(self, message: str, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class InvalidRequest(ProxyError):
    status = 400
    error_type = "invalid_request_error"


class NotFound(ProxyError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ProxyError):
    status = 405
    error_type = "invalid_request_error"

    def __init__(self, method: str, path: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"method {method} is not allowed on {path}", headers=(("allow", ", ".join(allowed)),))


class RequestTimeout(ProxyError):
    status = 408
    error_type = "timeout_error"


class RequestTooLarge(ProxyError):
    status = 413
    error_type = "request_too_large"


class HeadersTooLarge(ProxyError):
    status = 431
    error_type = "invalid_request_error"


class Unauthorized(ProxyError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(ProxyError):
    status = 403
    error_type = "permission_error"


class RateLimited(ProxyError):
    status = 429
    error_type = "rate_limit_error"


class ShuttingDown(ProxyError):
    status = 529
    error_type = "overloaded_error"


class Overloaded(ProxyError):
    status = 529
    error_type = "overloaded_error"


class UpstreamError(ProxyError):
    """Base for failures on the upstream side. ``what`` says, for the log,
    what the upstream did."""

    kind = "failed"  # a short label for metrics

    @property
    def what(self) -> str:
        return "failed"


class UpstreamHTTPError(UpstreamError):
    def __init__(self, status: int, message: str, *, headers: tuple[tuple[str, str], ...] = (),
                 upstream_status: int | None = None, body: bytes = b"",
                 upstream_headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.error_type = error_type_for(status)
        self.upstream_status = upstream_status  # what the upstream answered, if an HTTP status
        self.body = body  # the answer's body as it came (at most MAX_ERROR_BODY_BYTES), for a protocol to judge
        self.upstream_headers = upstream_headers  # the answer's headers
        # The answer as the client gets it, when the upstream's own is already in Anthropic's shape
        # (an upstream that speaks Anthropic's API): (its body, the headers that go with it).
        self.verbatim: tuple[bytes, tuple[tuple[str, str], ...]] | None = None

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "in_stream" if self.upstream_status is None else f"http_{self.upstream_status}"

    @property
    def what(self) -> str:
        if self.upstream_status is None:
            return "reported an error in its stream"
        return f"answered HTTP {self.upstream_status}"


class UpstreamUnreachable(UpstreamError):
    kind = "unreachable"
    status = 502
    error_type = "api_error"
    what = "could not be reached"


class UpstreamTimeout(UpstreamError):
    kind = "timeout"
    status = 504
    error_type = "timeout_error"
    what = "timed out"


class UpstreamProtocolError(UpstreamError):
    kind = "protocol"
    status = 502
    error_type = "api_error"
    what = "sent a malformed or empty answer"


def redact(error: ProxyError, secrets: tuple[str, ...]) -> ProxyError:
    """Remove credentials from an error's message: some backends quote the key
    they rejected, and it must reach neither the client nor the log."""
    for secret in secrets:
        if secret and secret in error.message:
            error.message = error.message.replace(secret, "[redacted]")
    return error


def error_body(error_type: str, message: str, request_id: str | None = None) -> bytes:
    body: dict[str, object] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return jsonbytes.dump(body)


# ---- upstream error bodies -------------------------------------------------

MAX_ERROR_MESSAGE_CHARS = 2000
FORWARDED_ERROR_HEADERS = ("retry-after", "retry-after-ms")

# Wordings backends use for an over-long prompt (OpenAI, vLLM, llama.cpp, Ollama, DeepSeek, OpenRouter).
_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context window|maximum context|context size|prompt (?:is )?too long|input is too long",
    re.IGNORECASE,
)
# The sizes in an over-long prompt's message. OpenAI, vLLM, DeepSeek, OpenRouter: "maximum context length
# is 8192 tokens. However, your messages resulted in 9000 tokens" / "... you requested 9000 tokens (...)";
# llama.cpp: "request (6089 tokens) exceeds the available context size (2048 tokens), try increasing it".
_LIMIT = re.compile(r"maximum context length is (\d+) tokens|available context size \((\d+) tokens\)",
                    re.IGNORECASE)
_ACTUAL = re.compile(r"(?:resulted in|requested) (\d+) tokens|request \((\d+) tokens\) exceeds", re.IGNORECASE)


def upstream_http_error(status: int, body: bytes, headers: dict[str, str]) -> UpstreamHTTPError:
    """Map an upstream non-2xx answer to the error the client should see.

    The upstream's own message is kept. A context-length error becomes a 400 whose
    message starts with Anthropic's ``prompt is too long`` wording (clients such as
    Claude Code key their compaction on it, and retry every 5xx).
    """
    message, code = _extract_message(body)
    if not message:
        message = f"upstream returned HTTP {status} with no error message"
    forwarded = tuple((name, headers[name]) for name in FORWARDED_ERROR_HEADERS if name in headers)
    answer = {"body": body, "upstream_headers": tuple(headers.items())}
    if is_context_length_error(message, code):
        return UpstreamHTTPError(400, prompt_too_long_message(message), headers=forwarded, upstream_status=status,
                                 **answer)
    return UpstreamHTTPError(status, message, headers=forwarded, upstream_status=status, **answer)


def upstream_error_from_payload(payload: object, default_status: int = 502) -> UpstreamHTTPError:
    """An error object that arrived inside a 200 stream (vLLM, OpenRouter, LiteLLM)."""
    message, code = _message_from_json(payload)
    status = code if isinstance(code, int) and 400 <= code <= 599 else default_status
    message = message or "the upstream reported an error mid-stream"
    if is_context_length_error(message, code):
        return UpstreamHTTPError(400, prompt_too_long_message(message))
    return UpstreamHTTPError(status, message)


def is_context_length_error(message: str, code: object) -> bool:
    return code == "context_length_exceeded" or bool(_CONTEXT_PATTERNS.search(message))


def prompt_too_long_message(upstream_message: str) -> str:
    limit, actual = _LIMIT.search(upstream_message), _ACTUAL.search(upstream_message)
    if limit and actual:
        tokens, maximum = next(filter(None, actual.groups())), next(filter(None, limit.groups()))
        return f"prompt is too long: {tokens} tokens > {maximum} maximum (upstream: {upstream_message})"
    return f"prompt is too long (upstream: {upstream_message})"


def _extract_message(body: bytes) -> tuple[str, object]:
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return _truncate(text), None
    message, code = _message_from_json(payload)
    return (message or _truncate(text)), code


def _message_from_json(payload: object) -> tuple[str, object]:
    """Find the human message in the many error shapes backends use."""
    if not isinstance(payload, dict):
        return "", None
    error = payload.get("error", payload)
    if isinstance(error, str):
        return _truncate(error), payload.get("code")
    if not isinstance(error, dict):
        return "", None
    for key in ("message", "detail", "msg"):
        value = error.get(key)
        if isinstance(value, str) and value:
            return _truncate(value), error.get("code", error.get("type"))
    detail = error.get("detail")
    if detail is not None:  # FastAPI-style validation lists
        return _truncate(json.dumps(detail, ensure_ascii=False)), error.get("code")
    return "", error.get("code")


def _truncate(text: str) -> str:
    if len(text) <= MAX_ERROR_MESSAGE_CHARS:
        return text
    return text[:MAX_ERROR_MESSAGE_CHARS] + "…"
