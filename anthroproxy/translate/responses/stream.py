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
from dataclasses import dataclass, field
from typing import Any

from ...core import sse
from ...core.errors import ProxyError, UpstreamProtocolError
from ..events import EventWriter
from ..response import require_some_content
from ..structured import FenceStripper
from ..toolcalls import JsonEnd
from ..tools import ToolNames
from ..usage import estimate_tokens
from .message import anthropic_usage, dict_of, failure, list_of
from .reasoning import ReasoningItem, from_item
from .stops import StopCutter

TERMINAL = ("response.completed", "response.incomplete")


@dataclass(slots=True, eq=False)
class Item:
    kind: str  # reasoning, message, function_call, or another type (ignored)
    id: str = ""
    opened_at: int = -1  # the index of its block, once one opened
    summaries: int = 0  # reasoning summary parts begun
    streamed: bool = False  # deltas came (text, arguments)
    done: bool = False  # its output_item.done came
    encrypted: str | None = None  # reasoning: encrypted_content, when output_item.added carried it
    call: dict[str, Any] | None = None  # function_call: its tool_use block
    waiting: list[str] = field(default_factory=list)  # argument fragments held while another call streams
    json: JsonEnd = field(default_factory=JsonEnd)  # function_call: have its arguments closed?

    @property
    def finished(self) -> bool:
        return self.done or self.json.complete


class ResponsesRelay:
    """Responses SSE bytes -> Anthropic SSE bytes (upstream/protocols/base.py: Relay)."""

    def __init__(self, *, message_id: str, model: str, input_tokens: int = 0, started: bool = False,
                 stop_sequences: list[str] | None = None, names: ToolNames | None = None,
                 unfence: bool = False, origin: str | None = None) -> None:
        self.writer = EventWriter(message_id=message_id, model=model, input_tokens=input_tokens, started=started)
        self.done = False
        self.error: ProxyError | None = None
        self.stop_reason: str | None = None
        self.dropped_fragments = 0
        self._names = names or ToolNames()
        self._origin = origin  # upstream/target, carried in each reasoning item's signature
        self._stops = StopCutter(stop_sequences)
        self._fence = FenceStripper() if unfence else None
        self._items: dict[Any, Item] = {}
        self._calling: Item | None = None  # the function_call whose block is open, until it is finished
        self._queued: list[Item] = []  # calls added while another streamed: opened in turn
        self._reasoning_held: ReasoningItem | None = None  # a reasoning item with no text: it opens no block alone
        self._space = ""  # whitespace alone opens no text block (as on the chat path)
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
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(self, data, out)

    def _begun(self, data: dict[str, Any], out: list[bytes]) -> None:
        self.writer.start(out)

    def _item_added(self, data: dict[str, Any], out: list[bytes]) -> None:
        self._flush_text(out)  # (text held for a stop sequence is before this item, not after it)
        item = dict_of(data.get("item"))
        state = self._items[self._key(data, item)] = Item(str(item.get("type")), _id(item.get("id")))
        if state.kind == "reasoning":
            state.encrypted = _str(item.get("encrypted_content"))
        elif state.kind == "function_call":
            state.call = {"type": "tool_use", "id": _id(item.get("call_id")) or state.id,
                          "name": self._names.client(str(item.get("name") or "")), "input": {}}
            if self._calling is not None and not self._calling.finished:
                self._queued.append(state)  # (one block streams at a time: this one's arguments wait)
            else:
                self._open_call(state, out)

    def _text(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if not isinstance(text, str) or not text:
            return
        state = self._state(data)
        if state is not None:
            state.streamed = True
        if self._fence is not None:
            text = self._fence.feed(text)
        self._emit_text(self._stops.feed(text), out)
        if self._stops.matched is not None:
            self._end(out)  # (the answer stops here; the upstream's goes no further)

    def _text_done(self, data: dict[str, Any], out: list[bytes]) -> None:
        """Text that came whole, with no delta before it."""
        state = self._state(data)
        if state is not None and not state.streamed and isinstance(data.get("text"), str):
            self._text({**data, "delta": data["text"]}, out)

    def _refusal(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        if state is not None:
            state.streamed = True
        if isinstance(data.get("delta"), str) and data["delta"]:
            self._refused = True
            self._emit_text(data["delta"], out)

    def _summary_part(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        if state is not None and state.summaries and self._is_open(state, "thinking"):
            self.writer.thinking("\n\n", out)
        if state is not None:
            state.summaries += 1

    def _summary_text(self, data: dict[str, Any], out: list[bytes]) -> None:
        self._reasoning(data, out, raw=False)

    def _reasoning_text(self, data: dict[str, Any], out: list[bytes]) -> None:
        self._reasoning(data, out, raw=True)

    def _reasoning(self, data: dict[str, Any], out: list[bytes], *, raw: bool) -> None:
        text, state = data.get("delta"), self._state(data)
        if not isinstance(text, str) or not text or (state is not None and state.opened_at >= 0
                                                     and not self._is_open(state, "thinking")):
            return  # (nothing, or more of a block that had to close)
        if state is None:  # (no id nor index: one block for all of it)
            if self.writer.open != "thinking":
                self._before_block(out)
        elif not self._is_open(state, "thinking"):
            self._before_block(out)
            self.writer.block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            state.opened_at = self.writer.index
            # Signed with what is known now, should the block close before its item is done (llama.cpp).
            self.writer.signature = ReasoningItem(state.id, state.encrypted, raw, self._origin).signature()
        self.writer.thinking(text, out)

    def _arguments(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        fragment = data.get("delta")
        if not isinstance(fragment, str) or not fragment or state is None or state.call is None:
            return
        state.streamed = True
        state.json.feed(fragment)
        if self._is_open(state, "tool_use"):
            self.writer.arguments(fragment, out)
        elif state.opened_at < 0:
            state.waiting.append(fragment)
        else:
            self.dropped_fragments += 1

    def _arguments_done(self, data: dict[str, Any], out: list[bytes]) -> None:
        state = self._state(data)
        arguments = data.get("arguments")
        if state is not None and not state.streamed and isinstance(arguments, str) and arguments:
            self._arguments({**data, "delta": arguments}, out)

    def _item_done(self, data: dict[str, Any], out: list[bytes]) -> None:
        item = dict_of(data.get("item"))
        state = self._items.get(self._key(data, item)) or Item(str(item.get("type")), _id(item.get("id")))
        state.done = True
        if state.kind == "reasoning":
            self._reasoning_done(state, item, out)
        elif state.kind == "function_call":
            self._arguments_done({**data, "item_id": self._key(data, item), "arguments": item.get("arguments")}, out)
            if self._is_open(state, "tool_use"):
                self.writer.close(out)
            if self._calling is state:
                self._next_call(out)
        elif state.kind == "message":
            if not state.streamed:  # (text that came only whole)
                for part in list_of(item.get("content")):
                    kind = dict_of(part).get("type")
                    if kind in ("output_text", "refusal") and isinstance(part.get(_PART_TEXT[kind]), str):
                        handler = self._text if kind == "output_text" else self._refusal
                        handler({"delta": part[_PART_TEXT[kind]]}, out)
                        if self.done:
                            return
            self._flush_text(out)
            if self.writer.open == "text":
                self.writer.close(out)

    def _reasoning_done(self, state: Item, item: dict[str, Any], out: list[bytes]) -> None:
        text, carried = from_item(item, self._origin)
        if self._is_open(state, "thinking"):
            self.writer.close(out, signature=carried.signature())
        elif state.opened_at >= 0:
            return  # (its block closed when the next began, signed with what was known then)
        elif text:
            self._before_block(out)
            self.writer.block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self.writer.thinking(text, out)
            self.writer.close(out, signature=carried.signature())
        elif carried.encrypted:
            self._reasoning_held = carried  # (a block of nothing: it goes out before the next, if one comes)

    def _completed(self, data: dict[str, Any], out: list[bytes]) -> None:
        response = dict_of(data.get("response"))
        if isinstance(response.get("usage"), dict):
            self._usage = anthropic_usage(response["usage"])
        why = dict_of(response.get("incomplete_details")).get("reason")
        if data.get("type") == "response.incomplete" or response.get("status") == "incomplete":
            self._incomplete = why if isinstance(why, str) else "max_output_tokens"
        self._end(out)

    def _failed(self, data: dict[str, Any], out: list[bytes]) -> None:
        response = dict_of(data.get("response"))
        raise failure(response.get("error") or data.get("error"))

    # ---- blocks

    def _is_open(self, state: Item, kind: str) -> bool:
        return self.writer.open == kind and self.writer.index == state.opened_at

    def _before_block(self, out: list[bytes]) -> None:
        """Before a block opens: a held empty reasoning item goes first; held whitespace is dropped."""
        self._space = ""
        held, self._reasoning_held = self._reasoning_held, None
        if held is not None:
            self.writer.block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self.writer.close(out, signature=held.signature())

    def _emit_text(self, text: str, out: list[bytes]) -> None:
        if not text:
            return
        if self.writer.open != "text":
            if not text.strip():
                self._space += text
                return
            text = self._space + text
            self._before_block(out)
        self.writer.text(text, out)

    def _open_call(self, state: Item, out: list[bytes]) -> None:
        assert state.call is not None
        self._before_block(out)
        self.writer.block("tool_use", state.call, out)
        state.opened_at = self.writer.index
        self._calling = state
        if state.waiting:
            self.writer.arguments("".join(state.waiting), out)
            state.waiting.clear()

    def _next_call(self, out: list[bytes]) -> None:
        """The open call finished: the calls that waited go out, in the order they came."""
        self._calling = None
        while self._queued:
            state = self._queued.pop(0)
            self._open_call(state, out)
            if not state.done:
                return
            self.writer.close(out)
            self._calling = None

    # ---- the end

    def _end(self, out: list[bytes]) -> None:
        self._flush_text(out)
        for state in self._queued:  # (calls still waiting: their arguments went no further)
            self._open_call(state, out)
        self._queued.clear()
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
            require_some_content("length" if reason in ("max_tokens", "refusal", "stop_sequence") else None)
        self.stop_reason = reason
        self.writer.end(reason, self.usage, out, stop_sequence=self._stops.matched)
        self.done = True

    def _flush_text(self, out: list[bytes]) -> None:
        held = self._stops.flush() + (self._fence.flush() if self._fence is not None else "")
        self._emit_text(held, out)

    def _estimate(self) -> dict[str, int]:
        return {"input_tokens": self.writer.input_tokens, "output_tokens": estimate_tokens(self.writer.output_chars),
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def _fault(self, error: ProxyError) -> None:
        self.error = error
        self.done = True

    @staticmethod
    def _key(data: dict[str, Any], item: dict[str, Any]) -> Any:
        return _id(item.get("id")) or _id(data.get("item_id")) or _index(data.get("output_index"))

    def _state(self, data: dict[str, Any]) -> Item | None:
        return self._items.get(_id(data.get("item_id"))) or self._items.get(_index(data.get("output_index")))


_PART_TEXT = {"output_text": "text", "refusal": "refusal"}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_HANDLERS = {
    "response.created": ResponsesRelay._begun,
    "response.in_progress": ResponsesRelay._begun,
    "response.output_item.added": ResponsesRelay._item_added,
    "response.output_text.delta": ResponsesRelay._text,
    "response.output_text.done": ResponsesRelay._text_done,
    "response.refusal.delta": ResponsesRelay._refusal,
    "response.reasoning_summary_part.added": ResponsesRelay._summary_part,
    "response.reasoning_summary_text.delta": ResponsesRelay._summary_text,
    "response.reasoning_text.delta": ResponsesRelay._reasoning_text,
    "response.function_call_arguments.delta": ResponsesRelay._arguments,
    "response.function_call_arguments.done": ResponsesRelay._arguments_done,
    "response.output_item.done": ResponsesRelay._item_done,
    "response.completed": ResponsesRelay._completed,
    "response.incomplete": ResponsesRelay._completed,
    "response.failed": ResponsesRelay._failed,
}
