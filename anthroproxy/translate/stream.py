"""OpenAI chat-completion chunks -> Anthropic stream events (pure).

The Anthropic stream is a strict grammar:

    message_start  ping?  (content_block_start  content_block_delta*  content_block_stop)*
    message_delta  message_stop

with block indexes 0, 1, 2... and exactly one block open at a time. OpenAI
chunks carry loose deltas instead, so ``StreamTranslator`` keeps the state:

    state        on a text delta                  on finish()
    -----------  -------------------------------  ---------------------------------
    not started  message_start, ping, open text    message_start, ping, then as below
    no block     open a text block, text_delta      message_delta, message_stop
    text open    text_delta                         close block, message_delta, message_stop

The first chunk that is not an error commits the response (message_start);
an error before that is raised so the handler can still answer with an HTTP
status. ``StreamRelay`` puts the SSE decoder and JSON parsing in front, so the
whole path is bytes in, bytes out: any chunking of the input gives the same output.

Usage arrives, if at all, in a chunk after the finish_reason (``include_usage``),
so message_delta is only written at the end ([DONE] or end of input). A backend
that reports no usage gets estimates rather than zeros.
"""

from __future__ import annotations

import json
from typing import Any

from .. import sse
from ..errors import ProxyError, UpstreamProtocolError, upstream_error_from_payload
from .response import message_text
from .usage import anthropic_usage, estimate_tokens, stop_reason

PING = sse.encode("ping", {"type": "ping"})
MESSAGE_STOP = sse.encode("message_stop", {"type": "message_stop"})


class StreamTranslator:
    def __init__(
        self,
        *,
        message_id: str,
        model: str,
        input_tokens_estimate: int = 0,
        stop_sequences: list[str] | None = None,
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.started = False
        self.finished = False
        self.stop_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self._input_estimate = input_tokens_estimate
        self._stop_sequences = stop_sequences
        self._finish_reason: str | None = None
        self._matched_stop: str | None = None
        self._refused = False
        self._upstream_usage: dict[str, Any] | None = None
        self._index = -1
        self._open: str | None = None  # kind of the open block
        self._output_chars = 0

    @property
    def blocks(self) -> int:
        return self._index + 1

    @property
    def saw_finish(self) -> bool:
        return self._finish_reason is not None

    def feed(self, chunk: Any) -> bytes:
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError("the upstream sent a stream chunk that is not a JSON object")
        if chunk.get("error"):
            raise upstream_error_from_payload(chunk)
        out: list[bytes] = []
        if not self.started:
            out.append(self._start())
        if isinstance(chunk.get("usage"), dict):
            self._upstream_usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        if not self.started:
            out.append(self._start())
        self._close_block(out)
        if self._matched_stop is not None:
            self.stop_reason = "stop_sequence"
        elif self._refused:
            self.stop_reason = "refusal"
        else:
            self.stop_reason = stop_reason(self._finish_reason)
        self.usage = self._final_usage()
        out.append(
            sse.encode(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": self._matched_stop},
                    "usage": self.usage,
                },
            )
        )
        out.append(MESSAGE_STOP)
        self.finished = True
        return b"".join(out)

    def fail(self, error: ProxyError) -> bytes:
        """The stream cannot go on: an Anthropic error event, after which the
        response ends (no message_stop, as the API does)."""
        self.finished = True
        return sse.encode("error", {"type": "error", "error": {"type": error.error_type, "message": error.message}})

    # ---- internals ---------------------------------------------------------

    def _start(self) -> bytes:
        self.started = True
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_estimate,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return sse.encode("message_start", {"type": "message_start", "message": message}) + PING

    def _choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(choice.get("usage"), dict):  # Moonshot puts usage on the choice
            self._upstream_usage = choice["usage"]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = message_text(delta.get("content"))
            if text:
                self._text(text, out)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._refused = True
                self._text(refusal, out)
        finish = choice.get("finish_reason")
        if finish:
            if finish == "error":  # OpenRouter: generation failed after the 200
                raise upstream_error_from_payload(choice if choice.get("error") else {"error": {}})
            self._finish_reason = finish
            matched = choice.get("stop_reason")
            if isinstance(matched, str) and self._stop_sequences and matched in self._stop_sequences:
                self._matched_stop = matched

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open != "text":
            self._close_block(out)
            self._open_block("text", {"type": "text", "text": ""}, out)
        self._output_chars += len(text)
        out.append(_text_delta(self._index, text))

    def _open_block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._index += 1
        self._open = kind
        out.append(
            sse.encode("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block})
        )

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(sse.encode("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None

    def _final_usage(self) -> dict[str, int]:
        if self._upstream_usage is not None:
            usage = anthropic_usage(self._upstream_usage)
            if usage["input_tokens"] or usage["output_tokens"] or usage["cache_read_input_tokens"]:
                return usage
        return {
            "input_tokens": self._input_estimate,
            "output_tokens": estimate_tokens(self._output_chars),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }


def _text_delta(index: int, text: str) -> bytes:
    # The hottest event: formatted directly rather than through a dict.
    return (
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
        '"delta":{"type":"text_delta","text":%s}}\n\n' % (index, json.dumps(text, ensure_ascii=False))
    ).encode()


class StreamRelay:
    """Upstream SSE bytes -> Anthropic SSE bytes.

    ``feed`` and ``finish`` return what to write to the client (possibly b"").
    They never raise for what the upstream sent: a fault sets ``error`` (a
    ProxyError) after returning any output that came before it, so nothing
    already translated is lost. ``done`` turns true at ``data: [DONE]`` or on an
    error; the caller then stops reading. ``finish`` at end of input reports an
    error if the upstream never said it was done (no [DONE], no finish_reason):
    a cut stream is a failure, not a short answer.
    """

    def __init__(self, translator: StreamTranslator) -> None:
        self.translator = translator
        self.done = False
        self.error: ProxyError | None = None
        self._decoder = sse.Decoder()

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        out: list[bytes] = []
        try:
            self._events(self._decoder.feed(data), out)
        except sse.SSEError as exc:
            self._fault(UpstreamProtocolError(f"the upstream stream is malformed: {exc}"))
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        try:
            if not self.done:
                self._events(self._decoder.flush(), out)
            if self.error is None and not self.done and not self.translator.saw_finish:
                raise UpstreamProtocolError("the upstream stream ended before [DONE] or a finish_reason")
            if self.error is None:
                out.append(self.translator.finish())
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def fail(self, error: ProxyError) -> bytes:
        return self.translator.fail(error)

    def _fault(self, error: ProxyError) -> None:
        self.error = error
        self.done = True

    def _events(self, events: list[sse.Event], out: list[bytes]) -> None:
        for event in events:
            if event.data == "[DONE]":
                self.done = True
                return
            try:
                chunk = json.loads(event.data)
            except ValueError:
                raise UpstreamProtocolError(
                    f"the upstream sent a stream chunk that is not JSON: {event.data[:200]!r}"
                ) from None
            if event.event == "error" and isinstance(chunk, dict) and not chunk.get("error"):
                chunk = {"error": chunk}
            out.append(self.translator.feed(chunk))
