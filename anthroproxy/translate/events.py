"""Anthropic's stream grammar as a writer (pure):

    message_start  ping?  (content_block_start  content_block_delta*  content_block_stop)*
    message_delta  message_stop

with block indexes 0, 1, 2... and one block open at a time; or, once begun,
an ``error`` event that ends it. A translator says what comes (a block of a
kind, its deltas, the end) and the writer keeps the grammar: it opens the
message first, closes the open block before the next (a thinking block with
its signature), and counts what went out.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import sse
from ..core.errors import ProxyError
from .reasoning import UNSIGNED

PING = sse.encode("ping", {"type": "ping"})
MESSAGE_STOP = sse.encode("message_stop", {"type": "message_stop"})
_TEXT_DELTA = '{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}'


class EventWriter:
    def __init__(self, *, message_id: str, model: str, input_tokens: int = 0, started: bool = False) -> None:
        self.message_id, self.model = message_id, model
        self.input_tokens = input_tokens  # for message_start: an estimate, until the upstream says
        self.started = started  # message_start went out (this writer's, or an earlier candidate's)
        self.index = -1  # the last block opened
        self.open: str | None = None  # its kind, while it is open: thinking, text or tool_use
        self.signature: str | None = None  # the open thinking block's, should it close before its source is done
        self.output_chars = 0  # of text, thinking and arguments: for an estimate of output tokens
        self.finished = False

    @property
    def blocks(self) -> int:
        return self.index + 1

    def start(self, out: list[bytes]) -> None:
        if self.started:
            return
        self.started = True
        message = {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": self.input_tokens, "output_tokens": 0,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        out.append(sse.encode("message_start", {"type": "message_start", "message": message}))
        out.append(PING)

    def keepalive(self) -> bytes:
        """A ping; message_start first, if nothing went out yet."""
        if self.started:
            return PING
        out: list[bytes] = []
        self.start(out)
        return b"".join(out)

    def block(self, kind: str, block: dict[str, Any], out: list[bytes], *, signature: str | None = None) -> None:
        """Open a block of ``kind`` (the open one closed first: a thinking block with ``signature``)."""
        self.start(out)
        self.close(out, signature=signature)
        self.index += 1
        self.open = kind
        out.append(sse.encode("content_block_start", {"type": "content_block_start", "index": self.index,
                                                      "content_block": block}))

    def text(self, text: str, out: list[bytes]) -> None:
        """Text, in a text block (one opened if need be)."""
        if self.open != "text":
            self.block("text", {"type": "text", "text": ""}, out)
        self.output_chars += len(text)
        data = _TEXT_DELTA % (self.index, json.dumps(text, ensure_ascii=False))
        out.append(sse.utf8(f"event: content_block_delta\ndata: {data}\n\n",
                            lambda: _TEXT_DELTA % (self.index, json.dumps(text)), "content_block_delta"))

    def thinking(self, text: str, out: list[bytes]) -> None:
        """Thinking, in a thinking block (one opened if need be)."""
        if self.open != "thinking":
            self.block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
        self.output_chars += len(text)
        self.delta({"type": "thinking_delta", "thinking": text}, out)

    def arguments(self, fragment: str, out: list[bytes]) -> None:
        """A fragment of the open tool_use block's input, as JSON text."""
        self.output_chars += len(fragment)
        self.delta({"type": "input_json_delta", "partial_json": fragment}, out)

    def delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        out.append(sse.encode("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                      "delta": delta}))

    def close(self, out: list[bytes], *, signature: str | None = None) -> None:
        """Close the open block, if any (a thinking block signed first)."""
        if self.open is None:
            return
        if self.open == "thinking":
            self.delta({"type": "signature_delta", "signature": signature or self.signature or UNSIGNED}, out)
        out.append(sse.encode("content_block_stop", {"type": "content_block_stop", "index": self.index}))
        self.open = self.signature = None

    def end(self, stop_reason: str, usage: dict[str, int], out: list[bytes], *,
            stop_sequence: str | None = None) -> None:
        """message_delta and message_stop (the open block closed first)."""
        self.start(out)
        self.close(out)
        out.append(sse.encode("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": stop_reason, "stop_sequence": stop_sequence}, "usage": usage}))
        out.append(MESSAGE_STOP)
        self.finished = True

    def fail(self, error: ProxyError) -> bytes:
        """The error event that ends the stream (no message_stop, as the API does)."""
        self.finished = True
        return sse.encode("error", {"type": "error", "error": {"type": error.error_type, "message": error.message}})
