"""A Responses event stream -> Anthropic events (pure). Any chunking of the
input gives the same output.

    event                                       Anthropic
    response.created, in_progress               message_start (and a ping)
    output_item.added: function_call            a tool_use block opens (id: the call_id)
    output_text.delta, refusal.delta            text deltas (a stop sequence cuts the text and ends the answer)
    reasoning_summary_text.delta,               thinking deltas (summary parts joined by a blank line)
    reasoning_text.delta
    function_call_arguments.delta (.done when   input_json_delta
    no delta came)
    output_item.done: reasoning                 the thinking block closes, the item in its signature
    output_item.done: function_call, message    the block closes
    response.completed, incomplete              message_delta (stop reason, usage) and message_stop
    response.failed, error                      the relay's ``error``: another candidate before content,
                                                an error event after

Items are told apart by their id, else their output_index: llama.cpp's
server sends neither indexes nor sequence numbers, and ends arguments without
a ``.done``; its errors come as bare ``data: {"error": ...}``. There is no
``[DONE]`` (one is tolerated): a stream that ends without its terminal event
is a failure, not a short answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...core import sse
from ...core.errors import ProxyError, UpstreamProtocolError
from ..events import EventWriter
from ..response import require_some_content
from ..structured import FenceStripper
from ..tools import ToolNames
from ..usage import estimate_tokens
from .message import anthropic_usage, failure
from .reasoning import from_item
from .stops import StopCutter

TERMINAL = ("response.completed", "response.incomplete")


@dataclass(slots=True)
class Item:
    kind: str  # reasoning, message, function_call, or another type (ignored)
    opened_at: int = -1  # the index of its block, once one opened
    summaries: int = 0  # reasoning summary parts begun
    streamed: bool = False  # function_call: argument deltas came


class ResponsesRelay:
    """Responses SSE bytes -> Anthropic SSE bytes (upstream/protocols/base.py: Relay)."""

    def __init__(self, *, message_id: str, model: str, input_tokens: int = 0, started: bool = False,
                 stop_sequences: list[str] | None = None, names: ToolNames | None = None,
                 unfence: bool = False) -> None:
        self.writer = EventWriter(message_id=message_id, model=model, input_tokens=input_tokens, started=started)
        self.done = False
        self.error: ProxyError | None = None
        self.stop_reason: str | None = None
        self.dropped_fragments = 0
        self._names = names or ToolNames()
        self._stops = StopCutter(stop_sequences)
        self._fence = FenceStripper() if unfence else None
        self._items: dict[Any, Item] = {}
        self._decoder = sse.Decoder()
        self._usage: dict[str, int] | None = None
        self._refused = False
        self._incomplete: str | None = None  # why the response is incomplete, if it is

    # ---- what the streaming loop sees

    @property
    def started(self) -> bool:
        return self.writer.started

    @property
    def committed(self) -> bool:
        return self.writer.blocks > 0

    @property
    def blocks(self) -> int:
        return self.writer.blocks

    @property
    def usage(self) -> dict[str, int]:
        return self._usage if self._usage is not None else self._estimate()

    @property
    def usage_estimated(self) -> bool:
        return self._usage is None

    def answered(self) -> None:
        """(What was sent is what was prepared, or the protocol says what changed.)"""

    def strip_fences(self) -> None:
        """JSON asked for in words only (the schema was refused): a code fence around the answer comes off."""
        if self._fence is None:
            self._fence = FenceStripper()

    def keepalive(self) -> bytes:
        return self.writer.keepalive()

    def fail(self, error: ProxyError) -> bytes:
        return self.writer.fail(error)

    def warnings(self) -> list[str]:
        dropped = self.dropped_fragments
        return [f"{dropped} tool-call argument fragment(s) arrived after their block had to close"] if dropped else []

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        out: list[bytes] = []
        try:
            for event in self._decoder.feed(data):
                self._event(event, out)
                if self.done:
                    break
        except sse.SSEError as exc:
            self._fault(UpstreamProtocolError(f"the upstream stream is malformed: {exc}"))
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        try:
            for event in self._decoder.flush() if not self.done else ():
                self._event(event, out)
            if not self.done:
                raise UpstreamProtocolError("the upstream stream ended before response.completed")
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    # ---- events

    def _event(self, event: sse.Event, out: list[bytes]) -> None:
        if event.data == "[DONE]":
            return
        try:
            data = json.loads(event.data)
        except ValueError:
            raise UpstreamProtocolError(f"the upstream sent an event that is not JSON: {event.data[:200]!r}") from None
        if not isinstance(data, dict):
            return
        kind = data.get("type") or event.event
        if kind == "error" or (kind is None and "error" in data):
            raise failure(data)
        handler = _HANDLERS.get(kind)  # type: ignore[arg-type]
        if handler is not None:
            handler(self, data, out)

    def _begun(self, data: dict[str, Any], out: list[bytes]) -> None:
        self.writer.start(out)

    def _item_added(self, data: dict[str, Any], out: list[bytes]) -> None:
        item = data.get("item") if isinstance(data.get("item"), dict) else {}
        state = self._items[self._key(data, item)] = Item(str(item.get("type")))
        if state.kind == "function_call":
            call = {"type": "tool_use", "id": str(item.get("call_id") or item.get("id") or ""),
                    "name": self._names.client(str(item.get("name") or "")), "input": {}}
            self.writer.block("tool_use", call, out)
            state.opened_at = self.writer.index

    def _text(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if not isinstance(text, str) or not text:
            return
        if self._fence is not None:
            text = self._fence.feed(text)
        kept = self._stops.feed(text)
        if kept:
            self.writer.text(kept, out)
        if self._stops.matched is not None:
            self._end(out)  # (the answer stops here; the upstream's goes no further)

    def _refusal(self, data: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(data.get("delta"), str) and data["delta"]:
            self._refused = True
            self.writer.text(data["delta"], out)

    def _summary_part(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        if state is not None and state.summaries and self.writer.open == "thinking":
            self.writer.thinking("\n\n", out)
        if state is not None:
            state.summaries += 1

    def _reasoning(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if isinstance(text, str) and text:
            state = self._state(data)
            self.writer.thinking(text, out)
            if state is not None:
                state.opened_at = self.writer.index

    def _arguments(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        fragment = data.get("delta")
        if not isinstance(fragment, str) or not fragment or state is None:
            return
        state.streamed = True
        if self.writer.open == "tool_use" and self.writer.index == state.opened_at:
            self.writer.arguments(fragment, out)
        else:
            self.dropped_fragments += 1

    def _arguments_done(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        arguments = data.get("arguments")
        if state is not None and not state.streamed and isinstance(arguments, str) and arguments:
            self._arguments({**data, "delta": arguments}, out)

    def _item_done(self, data: dict[str, Any], out: list[bytes]) -> None:
        item = data.get("item") if isinstance(data.get("item"), dict) else {}
        state = self._items.get(self._key(data, item)) or Item(str(item.get("type")))
        if state.kind == "reasoning":
            text, carried = from_item(item)
            if state.opened_at < 0 or self.writer.index != state.opened_at or self.writer.open != "thinking":
                self.writer.block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
                if text:
                    self.writer.thinking(text, out)
            self.writer.close(out, signature=carried.signature())
        elif state.kind == "function_call":
            self._arguments_done({**data, "arguments": item.get("arguments")}, out)
            if self.writer.open == "tool_use" and self.writer.index == state.opened_at:
                self.writer.close(out)
        elif state.kind == "message" and self.writer.open == "text":
            self._flush_text(out)
            self.writer.close(out)

    def _completed(self, data: dict[str, Any], out: list[bytes]) -> None:
        response = data.get("response") if isinstance(data.get("response"), dict) else {}
        if isinstance(response.get("usage"), dict):
            self._usage = anthropic_usage(response["usage"])
        why = (response.get("incomplete_details") or {}).get("reason")
        if data.get("type") == "response.incomplete" or response.get("status") == "incomplete":
            self._incomplete = why if isinstance(why, str) else "max_output_tokens"
        self._end(out)

    def _failed(self, data: dict[str, Any], out: list[bytes]) -> None:
        response = data.get("response") if isinstance(data.get("response"), dict) else {}
        raise failure(response.get("error") or data.get("error"))

    # ---- the end

    def _end(self, out: list[bytes]) -> None:
        self._flush_text(out)
        if self._stops.matched is not None:
            reason = "stop_sequence"
        elif self._refused or self._incomplete == "content_filter":
            reason = "refusal"
        elif self._incomplete is not None:
            reason = "max_tokens"
        else:
            tools = any(state.kind == "function_call" and state.opened_at >= 0 for state in self._items.values())
            reason = "tool_use" if tools else "end_turn"
        if self.writer.blocks == 0:
            require_some_content("length" if reason in ("max_tokens", "refusal") else None)
        self.stop_reason = reason
        self.writer.end(reason, self.usage, out, stop_sequence=self._stops.matched)
        self.done = True

    def _flush_text(self, out: list[bytes]) -> None:
        held = self._stops.flush() + (self._fence.flush() if self._fence is not None else "")
        if held:
            self.writer.text(held, out)

    def _estimate(self) -> dict[str, int]:
        return {"input_tokens": self.writer.input_tokens, "output_tokens": estimate_tokens(self.writer.output_chars),
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def _fault(self, error: ProxyError) -> None:
        self.error = error
        self.done = True

    @staticmethod
    def _key(data: dict[str, Any], item: dict[str, Any]) -> Any:
        return item.get("id") or data.get("item_id") or data.get("output_index")

    def _state(self, data: dict[str, Any]) -> Item | None:
        return self._items.get(data.get("item_id")) or self._items.get(data.get("output_index"))


_HANDLERS = {
    "response.created": ResponsesRelay._begun,
    "response.in_progress": ResponsesRelay._begun,
    "response.output_item.added": ResponsesRelay._item_added,
    "response.output_text.delta": ResponsesRelay._text,
    "response.refusal.delta": ResponsesRelay._refusal,
    "response.reasoning_summary_part.added": ResponsesRelay._summary_part,
    "response.reasoning_summary_text.delta": ResponsesRelay._reasoning,
    "response.reasoning_text.delta": ResponsesRelay._reasoning,
    "response.function_call_arguments.delta": ResponsesRelay._arguments,
    "response.function_call_arguments.done": ResponsesRelay._arguments_done,
    "response.output_item.done": ResponsesRelay._item_done,
    "response.completed": ResponsesRelay._completed,
    "response.incomplete": ResponsesRelay._completed,
    "response.failed": ResponsesRelay._failed,
}
