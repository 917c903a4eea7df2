"""OpenAI chat-completion chunks -> Anthropic stream events (pure).

The Anthropic stream is a strict grammar:

    message_start  ping?  (content_block_start  content_block_delta*  content_block_stop)*
    message_delta  message_stop

with block indexes 0, 1, 2... and exactly one block open at a time. OpenAI
chunks carry loose deltas of three kinds (reasoning, text, tool-call fragments),
so ``StreamTranslator`` keeps the state:

    delta arriving   block open          action
    reasoning        thinking            thinking_delta
    reasoning        none, text, tool    close it; open a thinking block; thinking_delta
    text             text                text_delta
    text             none, thinking, tool close it; open a text block; text_delta
                                         (whitespace alone opens no block: it is held
                                         and prepended to the next text)
    tool fragment    its own tool block  input_json_delta, at once
    tool fragment    another block       see below

Tool calls. A call's block opens as soon as its name is known (its id too, or
one is made up), every argument fragment is sent on as it arrives, and the
block closes as soon as the arguments form complete JSON (clients may start the
tool then). Only one block can be open, so while one call streams, fragments
of the next wait until the current call is complete, or the end; text or
reasoning arriving mid-call waits too (closing the call would cut its
arguments). Arguments that are not a JSON object (encoded twice, ``null``) are
held and sent decoded when the call closes, as the JSON path does. Backends send calls one
after another, so in practice nothing waits. Calls are told apart by ``index``;
without one (Gemini), by ``id``, or else a fragment with a name starts a new
call and one without continues the last; an index reused without ids starts a
new call when a name follows a finished one. A repeated id or name is not
appended; an id arriving after the block opened does not change it.
A thinking block is closed with a ``signature_delta``: the signature
OpenRouter passed along, or reasoning.UNSIGNED.

The first chunk that is not an error commits the response (message_start);
an error before that is raised so the handler can still answer with an HTTP
status. ``StreamRelay`` (relay.py) puts the SSE decoder and JSON parsing in front.

Usage arrives, if at all, in a chunk after the finish_reason (``include_usage``),
so message_delta is only written at the end ([DONE] or end of input). A backend
that reports no usage gets estimates rather than zeros.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..core import ids, sse
from ..core.errors import ProxyError, UpstreamProtocolError, upstream_error_from_payload
from .reasoning import UNSIGNED, ThinkTagSplitter, reasoning_of
from .response import message_text, parse_arguments, require_some_content
from .structured import FenceStripper
from .toolcalls import ToolCall
from .tools import ToolNames
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
        names: ToolNames | None = None,
        new_tool_id: Callable[[], str] = ids.tool_use_id,
        unfence: bool = False,
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.started = False
        self.finished = False
        self.stop_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self.dropped_fragments = 0  # tool arguments that came after their block had to close
        self._names = names or ToolNames()
        self._new_tool_id = new_tool_id  # for calls the backend sent without an id
        self._input_estimate = input_tokens_estimate
        self._stop_sequences = stop_sequences
        self._finish_reason: str | None = None
        self._matched_stop: str | None = None
        self._refused = False
        self._upstream_usage: dict[str, Any] | None = None
        self._index = -1
        self._open: str | None = None  # kind of the open block: thinking, text or tool_use
        self._output_chars = 0
        self._held_space = ""
        self._splitter = ThinkTagSplitter()
        self._fence = FenceStripper() if unfence else None  # JSON asked for in words: a code fence comes off
        self._signature: str | None = None
        self._reasoning_field = False  # reasoning came in its own field: a <think> section repeats it
        self._held_content: list[tuple[str, str]] = []  # text or reasoning that came while a call was incomplete
        self._calls: list[ToolCall] = []
        self._by_index: dict[int, ToolCall] = {}
        self._by_id: dict[str, ToolCall] = {}
        self._active: ToolCall | None = None  # the call whose block is open

    def estimate_input(self, tokens: int) -> None:
        """A new estimate of the prompt (what was sent changed: refusals.py),
        for message_start if it has not gone out yet."""
        if not self.started:
            self._input_estimate = tokens

    def strip_fences(self) -> None:
        """From now on, take a code fence off the text (the request's JSON
        schema ended up stated in words only: refusals.py)."""
        if self._fence is None:
            self._fence = FenceStripper()

    @property
    def blocks(self) -> int:
        return self._index + 1

    @property
    def saw_finish(self) -> bool:
        return self._finish_reason is not None

    def feed(self, chunk: Any) -> bytes:
        out: list[bytes] = []
        self.feed_into(chunk, out)
        return b"".join(out)

    def feed_into(self, chunk: Any, out: list[bytes]) -> None:
        """Like ``feed``, appending to ``out``: when the chunk also reports an
        error, what came before the error in it is already there, not lost."""
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError("the upstream sent a stream chunk that is not a JSON object")
        if chunk.get("error"):
            raise upstream_error_from_payload(chunk)
        if not self.started:
            out.append(self._start())
        if isinstance(chunk.get("usage"), dict):
            self._upstream_usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        self.finish_into(out)
        return b"".join(out)

    def finish_into(self, out: list[bytes]) -> None:
        """Like ``finish``, appending to ``out``, so what precedes a fault found
        at the end (an empty answer) is kept."""
        if not self.started:  # not a single chunk came: nothing to show, and nothing sent yet
            require_some_content(self._finish_reason)
            out.append(self._start())
        for kind, piece in self._splitter.flush():
            self._content_piece(kind, piece, out)
        if self._fence is not None:
            self._content("text", self._fence.flush(), out)
        for call in self._calls:
            if call.state == "waiting":
                self._open_call(call, out)
        while self._open is not None:
            self._close_block(out)
        if self._index < 0 and not self._refused:
            require_some_content(self._finish_reason)
        if self._matched_stop is not None:
            self.stop_reason = "stop_sequence"
        elif self._refused:
            self.stop_reason = "refusal"
        else:
            self.stop_reason = stop_reason(self._finish_reason, tool_calls=bool(self._calls))
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

    def keepalive(self) -> bytes:
        """A ping; the stream's opening events first if it has not begun (a ping
        belongs after message_start)."""
        return PING if self.started else self._start()

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
            reasoning, signature = reasoning_of(delta)
            if signature:
                self._signature = signature
            if reasoning:
                self._reasoning_field = True
                self._content("thinking", reasoning, out)
            text = message_text(delta.get("content"))
            if text:
                for kind, piece in self._splitter.feed(text):
                    if not (kind == "thinking" and self._reasoning_field):  # llama.cpp deepseek-legacy sends both
                        self._content_piece(kind, piece, out)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._refused = True
                self._content("text", refusal, out)
            for fragment in delta.get("tool_calls") or ():
                if isinstance(fragment, dict):
                    self._tool_fragment(fragment, out)
        finish = choice.get("finish_reason")
        if finish:
            if finish == "error":  # OpenRouter: generation failed after the 200
                raise upstream_error_from_payload(choice if choice.get("error") else {"error": {}})
            self._finish_reason = finish
            matched = choice.get("stop_reason")
            if isinstance(matched, str) and self._stop_sequences and matched in self._stop_sequences:
                self._matched_stop = matched

    def _content_piece(self, kind: str, text: str, out: list[bytes]) -> None:
        """Content from the ``content`` field: text passes the fence stripper, if any."""
        if kind == "text" and self._fence is not None:
            text = self._fence.feed(text)
        if text:
            self._content(kind, text, out)

    def _content(self, kind: str, text: str, out: list[bytes]) -> None:
        if not text:
            return
        if self._active is not None and not self._active.json.complete:
            self._held_content.append((kind, text))  # closing the call now would cut its arguments
            return
        if self._open != kind:
            if kind == "text" and not text.strip():
                self._held_space += text  # no block for whitespace alone
                return
            self._close_block(out)
            block = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": "", "signature": ""}
            self._open_block(kind, block, out)
            if kind == "text":
                text, self._held_space = self._held_space + text, ""
        self._output_chars += len(text)
        if kind == "text":
            out.append(_text_delta(self._index, text))
        else:
            out.append(self._delta({"type": "thinking_delta", "thinking": text}))

    def _tool_fragment(self, fragment: dict[str, Any], out: list[bytes]) -> None:
        function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
        call_id = fragment.get("id") if isinstance(fragment.get("id"), str) and fragment.get("id") else None
        name = function.get("name") if isinstance(function.get("name"), str) and function.get("name") else None
        call = self._call_for(fragment.get("index"), call_id, name)
        if call_id and call.upstream_id is None:
            call.upstream_id = call_id
            self._by_id[call_id] = call
            if call.state == "waiting":  # once the block is open, its id is settled
                call.id = call_id
        if name and call.name is None:
            call.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # sent as an object by a few servers
            arguments = json.dumps(arguments)
        if isinstance(arguments, str) and arguments:
            if call.state == "closed":
                self.dropped_fragments += bool(arguments.strip())  # whitespace after the JSON is nothing lost
            else:
                call.waiting.append(arguments)
                call.json.feed(arguments)
        self._advance_calls(out)

    def _call_for(self, index: Any, call_id: str | None, name: str | None) -> ToolCall:
        if isinstance(index, int) and not isinstance(index, bool):
            call = self._by_index.get(index)
            if call is None or call.starts_new_call(call_id, name):
                call = self._new_call()
                self._by_index[index] = call
            return call
        last = self._calls[-1] if self._calls else None
        if call_id:
            if call_id in self._by_id:
                return self._by_id[call_id]
            if last is not None and last.upstream_id is None and not (name and last.name):
                return last  # the id came after the name
            return self._new_call()
        if last is None or (name and last.name):
            return self._new_call()
        return last

    def _new_call(self) -> ToolCall:
        call = ToolCall()
        self._calls.append(call)
        return call

    def _advance_calls(self, out: list[bytes]) -> None:
        """Stream the open call and close it once its JSON is complete; then let
        the next waiting call take over."""
        while True:
            active = self._active
            if active is not None:
                self._send_arguments(active, out)
                if not active.json.complete:
                    return
                self._close_block(out)
            following = next((c for c in self._calls if c.state == "waiting"), None)
            if following is None or following.name is None:
                return
            self._open_call(following, out)

    def _open_call(self, call: ToolCall, out: list[bytes]) -> None:
        while self._open is not None:  # (closing a call may release held text, which opens a block)
            self._close_block(out)
        self._held_space = ""
        call.id = call.id or self._new_tool_id()
        block = {"type": "tool_use", "id": call.id, "name": self._names.client(call.name or ""), "input": {}}
        self._open_block("tool_use", block, out)
        call.state = "open"
        self._active = call
        self._send_arguments(call, out)

    def _send_arguments(self, call: ToolCall, out: list[bytes]) -> None:
        if call.shape is None:
            head = "".join(call.waiting).lstrip()
            if not head:
                return
            call.shape = "object" if head[0] == "{" else "other"
        if call.shape == "other":
            return
        for fragment in call.waiting:
            self._output_chars += len(fragment)
            out.append(self._delta({"type": "input_json_delta", "partial_json": fragment}))
        call.waiting.clear()

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse.encode("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _open_block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._index += 1
        self._open = kind
        out.append(
            sse.encode("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block})
        )

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            out.append(self._delta({"type": "signature_delta", "signature": self._signature or UNSIGNED}))
            self._signature = None
        elif self._open == "tool_use" and self._active is not None:
            call, self._active = self._active, None
            if call.shape == "other":
                decoded = parse_arguments("".join(call.waiting))
                if decoded:
                    out.append(self._delta({"type": "input_json_delta", "partial_json": json.dumps(decoded)}))
            call.state = "closed"
        out.append(sse.encode("content_block_stop", {"type": "content_block_stop", "index": self._index}))
        self._open = None
        held, self._held_content = self._held_content, []
        for kind, text in held:
            self._content(kind, text, out)

    @property
    def usage_reported(self) -> bool:
        """Whether the upstream reported usage (else the final usage is an estimate)."""
        if self._upstream_usage is None:
            return False
        usage = anthropic_usage(self._upstream_usage)
        return bool(usage["input_tokens"] or usage["output_tokens"] or usage["cache_read_input_tokens"])

    def _final_usage(self) -> dict[str, int]:
        if self.usage_reported:
            return anthropic_usage(self._upstream_usage)
        return {
            "input_tokens": self._input_estimate,
            "output_tokens": estimate_tokens(self._output_chars),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }


_TEXT_DELTA = '{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}'


def _text_delta(index: int, text: str) -> bytes:
    # The hottest event: formatted directly rather than through a dict.
    data = _TEXT_DELTA % (index, json.dumps(text, ensure_ascii=False))
    return sse.utf8(f"event: content_block_delta\ndata: {data}\n\n",
                    lambda: _TEXT_DELTA % (index, json.dumps(text)), "content_block_delta")
