"""Server-sent events, sans I/O: a byte-level decoder and an encoder.

Framing follows the WHATWG event-stream rules: lines end in CR, LF or CRLF (and
nothing else: U+2028, U+2029 and U+0085 are ordinary text, unlike in
``str.splitlines``); a line starting with ``:`` is a comment; an empty line
dispatches the event. Lines are split as bytes and decoded afterwards, so a
multi-byte UTF-8 character cut between two reads is reassembled intact (CR and LF
never occur inside a UTF-8 multi-byte sequence).

A CR that ends one read may be the first half of a CRLF whose LF starts the
next read; ``_skip_lf`` remembers that so the LF is not taken for an empty line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

_EOL = re.compile(rb"\r\n|\r|\n")

# An event larger than this is a broken or hostile upstream, not a chat chunk.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEError(ValueError):
    """The byte stream cannot be an event stream (an event over the size limit)."""


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str | None = None
    id: str | None = None


class Decoder:
    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max_event_bytes = max_event_bytes
        self._pending = b""  # bytes of an unterminated line
        self._skip_lf = False
        self._started = False  # a BOM is stripped only at the very start
        self._data: list[bytes] = []
        self._data_size = 0
        self._event: bytes | None = None
        self._id: bytes | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not self._started:
            buf = self._pending + chunk
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._pending = buf  # could still be a BOM
                return []
            self._started = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        else:
            buf = self._pending + chunk if self._pending else chunk
        lines = buf.split(b"\n") if b"\r" not in buf else _EOL.split(buf)
        self._pending = lines.pop()
        self._skip_lf = buf.endswith(b"\r")
        if len(self._pending) + self._data_size > self._max_event_bytes:
            raise SSEError(f"an event exceeds {self._max_event_bytes} bytes")
        events: list[Event] = []
        for line in lines:
            self._line(line, events)
        return events

    def flush(self) -> list[Event]:
        """End of stream: an unterminated last line still counts; an event
        without its blank line is dropped, as the spec says."""
        events: list[Event] = []
        if self._pending:
            self._line(self._pending, events)
            self._pending = b""
        self._reset()
        return events

    def _line(self, line: bytes, events: list[Event]) -> None:
        if not line:
            if self._data:
                events.append(self._dispatch())
            self._reset()
            return
        if line[0] == 0x3A:  # ':' comment, e.g. ": OPENROUTER PROCESSING"
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max_event_bytes:
                raise SSEError(f"an event exceeds {self._max_event_bytes} bytes")
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\0" not in value:
                self._id = value
        # "retry" and unknown fields are ignored

    def _dispatch(self) -> Event:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        return Event(
            data=data.decode("utf-8", "replace"),
            event=self._event.decode("utf-8", "replace") if self._event is not None else None,
            id=self._id.decode("utf-8", "replace") if self._id is not None else None,
        )

    def _reset(self) -> None:
        self._data = []
        self._data_size = 0
        self._event = None


def encode(event: str, payload: dict) -> bytes:
    """One named event with a JSON payload. json.dumps escapes CR and LF, so the
    data always fits on one line."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return utf8(f"event: {event}\ndata: {data}\n\n", lambda: json.dumps(payload, separators=(",", ":")),
                event)


def utf8(text: str, escaped: Callable[[], str], event: str) -> bytes:
    """UTF-8 bytes of an event; if the text holds a lone surrogate (an upstream
    may send the valid JSON escape "\\ud800"), which UTF-8 cannot carry, the
    payload is written with \\u escapes instead."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return f"event: {event}\ndata: {escaped()}\n\n".encode()
