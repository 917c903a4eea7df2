"""Anthropic Messages -> Anthropic Messages: what an upstream that speaks
Anthropic's API is sent, and how its answer is relayed (pure).

The request goes as the client sent it: only ``model`` changes (when the
candidate names a target), and Claude Code's attribution line comes off the
system prompt unless kept (request.py says why).

The answer's events are relayed as they come, their data as the upstream
wrote it; the relay reads them only for what the proxy must know:

    event                 before content (nothing committed)       after
    message_start         relayed (dropped when an earlier         -
                          candidate's, or a ping's, went out); its
                          usage noted
    content_block_start   relayed; the commit point                relayed
    message_delta         relayed; stop reason and usage noted     the same
    message_stop          relayed; the stream is done              the same
    error                 kept back: the failure is the relay's    the same
                          ``error`` (another candidate may take
                          over, as for any failure before content)
    anything else         relayed                                  relayed

A stream that ends without message_stop is a failure, never a short answer.

The text and argument deltas, one per token and nearly every frame, are
copied without being decoded: while the stream's lines end in LF alone (as
every server's do), the relay finds each frame's end itself, copies a frame
that is an ``event: content_block_delta`` line and one data line of valid
UTF-8 as it is, and hands any other frame to the SSE decoder, whole. The
first CR (a CRLF or CR line end, which the decoder handles) gives the rest of
the stream to the decoder.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import sse
from ..core.errors import TYPE_STATUSES, ProxyError, UpstreamHTTPError, UpstreamProtocolError, status_for_type
from .request import ATTRIBUTION

PING = sse.encode("ping", {"type": "ping"})
DELTA = b"event: content_block_delta\ndata: "  # (the frame copied as it came: the module's docstring)
# Usage fields an answer reports, as the access log and metrics count them.
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def outgoing_body(body: dict[str, Any], target: str | None, *, keep_attribution: bool) -> dict[str, Any] | None:
    """The body for the upstream, or None when it goes as the client sent it."""
    changes: dict[str, Any] = {}
    if target is not None and target != body.get("model"):
        changes["model"] = target
    if not keep_attribution:
        system = without_attribution(body.get("system"))
        if system is not body.get("system"):
            changes["system"] = system
    if not changes:
        return None
    out = {**body, **changes}
    if out.get("system") in ("", []):
        del out["system"]
    return out


def without_attribution(system: Any) -> Any:
    """The system prompt without Claude Code's attribution line (the same
    object when it has none)."""
    if isinstance(system, str) and system.startswith(ATTRIBUTION):
        return system.partition("\n")[2].lstrip("\n")
    if isinstance(system, list) and system and isinstance(system[0], dict):
        text = system[0].get("text")
        if isinstance(text, str) and text.startswith(ATTRIBUTION):
            rest = text.partition("\n")[2].lstrip("\n")
            return [{**system[0], "text": rest}, *system[1:]] if rest else system[1:]
    return system


def is_anthropic_error(payload: Any) -> bool:
    """An error body in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``."""
    return (isinstance(payload, dict) and payload.get("type") == "error" and isinstance(payload.get("error"), dict)
            and isinstance(payload["error"].get("type"), str) and isinstance(payload["error"].get("message"), str))


def error_from_event(payload: Any) -> UpstreamHTTPError:
    """An ``event: error`` inside a 200 stream, as a failure with the status its type stands for."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = payload if isinstance(payload, dict) else {}
    kind, message = error.get("type"), error.get("message")
    if not isinstance(message, str) or not message:
        message = "the upstream reported an error mid-stream"
    code = error.get("code")
    if isinstance(kind, str) and kind in TYPE_STATUSES:
        status = TYPE_STATUSES[kind]
    elif isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = code  # (llama.cpp's: {code, message, type}, with type names of its own)
    else:
        status = status_for_type(kind) if isinstance(kind, str) else 502
    return UpstreamHTTPError(status, message)


class PassthroughRelay:
    """An Anthropic stream from an Anthropic upstream, relayed (the module's table)."""

    def __init__(self, *, message_id: str, model: str, started: bool = False) -> None:
        self.done = False
        self.error: ProxyError | None = None
        self.started = started  # message_start went out (this relay's, an earlier candidate's, or a ping's)
        self.blocks = 0
        self.stop_reason: str | None = None
        self._message_id, self._model = message_id, model
        self._usage: dict[str, int] = {}
        self._reported = False
        self._decoder = sse.Decoder()
        self._rest: bytes | None = b""  # an unfinished frame; None once the decoder reads all (a CR came)
        self._error_frame: bytes | None = None  # the upstream's own error event, for ``fail``

    @property
    def committed(self) -> bool:
        return self.blocks > 0

    @property
    def usage(self) -> dict[str, int]:
        return dict(self._usage)

    @property
    def usage_estimated(self) -> bool:
        return False  # (only what the upstream reported is counted)

    def answered(self) -> None:
        """(Nothing to reconcile: the request went as it was.)"""

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        out: list[bytes] = []
        try:
            if self._rest is None or b"\r" in data:
                data, self._rest = (self._rest or b"") + data, None
                self._decode(data, out)
            else:
                self._frames(self._rest + data if self._rest else data, out)
        except sse.SSEError as exc:
            self._fault(UpstreamProtocolError(f"the upstream stream is malformed: {exc}"))
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        try:
            if not self.done and self._rest:
                self._decode(self._rest, out)
            self._rest = None
            for event in self._decoder.flush() if not self.done else ():
                self._event(event, out)
        except sse.SSEError as exc:
            self._fault(UpstreamProtocolError(f"the upstream stream is malformed: {exc}"))
        except ProxyError as exc:
            self._fault(exc)
        if not self.done:
            self._fault(UpstreamProtocolError("the upstream stream ended before message_stop"))
        return b"".join(out)

    def fail(self, error: ProxyError) -> bytes:
        if error is self.error and self._error_frame is not None:
            return self._error_frame  # (the upstream's own words, as it sent them)
        return sse.encode("error", {"type": "error", "error": {"type": error.error_type, "message": error.message}})

    def keepalive(self) -> bytes:
        if self.started:
            return PING
        self.started = True  # (the upstream's own message_start will be dropped)
        message = {"id": self._message_id, "type": "message", "role": "assistant", "model": self._model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return sse.encode("message_start", {"type": "message_start", "message": message}) + PING

    def warnings(self) -> list[str]:
        return []

    # ---- internals ---------------------------------------------------------

    def _frames(self, data: bytes, out: list[bytes]) -> None:
        """LF-only bytes: whole frames, the deltas copied (a run of them as one
        slice), any other given to the decoder; an unfinished one kept."""
        end = data.rfind(b"\n\n") + 2
        if end < 2 or len(data) - end > sse.MAX_EVENT_BYTES:
            if len(data) > sse.MAX_EVENT_BYTES:  # (the decoder says so)
                self._rest = None
                self._decode(data, out)
            else:
                self._rest = data
            return
        self._rest = data[end:]
        text = data.isascii()  # (else each copied frame is checked: the decoder would write U+FFFD for bad UTF-8)
        position = run = 0  # where this frame starts; where the run of copied deltas does
        while position < end:
            stop = data.find(b"\n\n", position) + 2
            if stop < 2:  # (the last LF of three: an empty line)
                stop = end
            if data.startswith(DELTA, position) and data.find(b"\n", position + len(DELTA), stop - 2) < 0 \
                    and (text or _utf8(data[position:stop])):
                position = stop
                continue
            if run < position:
                out.append(data[run:position])
            self._decode(data[position:stop], out)
            if self.done:
                return
            position = run = stop
        if run < end:
            out.append(data[run:end])

    def _decode(self, data: bytes, out: list[bytes]) -> None:
        for event in self._decoder.feed(data):
            self._event(event, out)
            if self.done:
                break

    def _event(self, event: sse.Event, out: list[bytes]) -> None:
        name = event.event
        if name is None:  # (a server that sends data lines alone: the type is in the data)
            name = _json(event).get("type")
            event = sse.Event(event.data, str(name))
        if name == "content_block_delta" or name == "content_block_stop":
            out.append(_frame(event))
        elif name == "content_block_start":
            self.blocks += 1
            out.append(_frame(event))
        elif name == "message_start":
            self._note_usage(_json(event).get("message", {}).get("usage"))
            if not self.started:
                self.started = True
                out.append(_frame(event))
        elif name == "message_delta":
            payload = _json(event)
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            self._note_usage(payload.get("usage"))
            out.append(_frame(event))
        elif name == "message_stop":
            self.done = True
            out.append(_frame(event))
        elif name == "error":
            payload = _json(event)
            self._error_frame = _frame(event) if "error" in payload else None
            self._fault(error_from_event(payload))
        elif name == "ping":
            if self.started:  # (a ping before message_start would break the stream's grammar)
                out.append(_frame(event))
        else:
            out.append(_frame(event))  # events newer than this relay

    def _note_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key in USAGE_KEYS:
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    self._usage[key] = value
                    self._reported = True

    def _fault(self, error: ProxyError) -> None:
        self.error = error
        self.done = True


def _utf8(frame: bytes) -> bool:
    try:
        frame.decode()
    except UnicodeDecodeError:
        return False
    return True


def _frame(event: sse.Event) -> bytes:
    """The event, its data as the upstream wrote it."""
    return f"event: {event.event}\ndata: {event.data}\n\n".encode()


def _json(event: sse.Event) -> dict[str, Any]:
    try:
        payload = json.loads(event.data)
    except ValueError:
        raise UpstreamProtocolError(f"the upstream sent an event that is not JSON: {event.data[:200]!r}") from None
    return payload if isinstance(payload, dict) else {}
