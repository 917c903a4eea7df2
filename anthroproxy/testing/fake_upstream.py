"""A small scripted server on trio + h11 that speaks OpenAI's Chat Completions
and Responses APIs and Anthropic's Messages, for tests, the demo and the
benchmarks.

It answers every ``POST`` with queued ``Reply`` objects (or, when none is
queued, what ``default(request)`` returns: an echo of the last user message,
in the API of the path asked for, unless a test sets its own script), records
every request it receives, and notices when a client goes away in the middle
of a response — which is how tests see that the proxy cancelled an upstream
request.

Run alone: ``python -m anthroproxy.fake_upstream --port 9000 --delay 0.05``.
"""

from __future__ import annotations

import argparse
import json
import ssl
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable

import h11
import trio

FAKE_MODEL = "fake-model"


# ---- building replies ----------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict | None = None) -> dict[str, Any]:
    """One chat.completion.chunk. With neither delta nor finish, choices is empty
    (the shape of OpenAI's trailing usage chunk)."""
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": FAKE_MODEL,
        "choices": choices,
        "usage": usage,
    }


def usage(prompt: int = 10, completion: int = 5, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def text_chunks(pieces: Iterable[str], *, finish: str = "stop", final_usage: dict | None = None) -> list[dict]:
    """A text answer the way OpenAI streams it: role, pieces, finish, usage."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    chunks.append(chunk({}, finish))
    chunks.append(chunk(usage=final_usage if final_usage is not None else usage()))
    return chunks


def tool_call_chunks(index: int, call_id: str, name: str, pieces: Iterable[str]) -> list[dict]:
    """One tool call as OpenAI streams it: id and name first, then the arguments
    in pieces (one piece: the whole call in one chunk after the first)."""
    first = chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]})
    return [first] + [chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]


def reasoning_chunks(pieces: Iterable[str], field: str = "reasoning_content") -> list[dict]:
    """Reasoning deltas, in DeepSeek's field by default (vLLM and Ollama: "reasoning")."""
    return [chunk({field: piece}) for piece in pieces]


def error_chunk(message: str, code: int | str | None = None) -> dict:
    """An error inside a 200 stream, as vLLM, OpenRouter and LiteLLM send it."""
    return {"error": {"message": message, "code": code}}


def compact_json(obj: Any) -> bytes:
    """Compact JSON, as OpenAI, vLLM, Ollama and llama.cpp send it; a lone
    surrogate (an echo of what a client sent) as its \\u escape."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def sse_frames(objects: Iterable[Any], *, done: bool = True) -> list[bytes]:
    frames = [b"data: " + compact_json(obj) + b"\n\n" for obj in objects]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


# ---- Anthropic's Messages API ------------------------------------------------------


def anthropic_usage(input_tokens: int = 10, output_tokens: int = 5, cached: int = 0) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0}


def anthropic_message(content: str | list[dict[str, Any]], *, stop_reason: str = "end_turn",
                      final_usage: dict | None = None) -> dict[str, Any]:
    """A non-streaming Anthropic message (text, or the blocks given)."""
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": FAKE_MODEL, "content": blocks,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": final_usage if final_usage is not None else anthropic_usage()}


def anthropic_events(pieces: Iterable[str], *, stop_reason: str = "end_turn", final_usage: dict | None = None,
                     thinking: Iterable[str] = (), signature: str = "sig-fake") -> list[tuple[str, dict]]:
    """An Anthropic stream, as (event, payload) pairs: an optional thinking
    block, then a text block of ``pieces``, then the end."""
    used = final_usage if final_usage is not None else anthropic_usage()
    start = {**anthropic_message([], stop_reason=None, final_usage={**used, "output_tokens": 1}),  # type: ignore[arg-type]
             "stop_reason": None}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start}),
                                      ("ping", {"type": "ping"})]
    index = 0
    thinking = list(thinking)
    if thinking:
        events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "thinking_delta", "thinking": piece}})
                   for piece in thinking]
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "signature_delta", "signature": signature}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "text", "text": ""}}))
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "text_delta", "text": piece}}) for piece in pieces]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason,
                                                                        "stop_sequence": None},
                                     "usage": {"output_tokens": used["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def anthropic_frames(events: Iterable[tuple[str, Any]]) -> list[bytes]:
    """Named SSE events, as Anthropic frames them."""
    return [b"event: " + name.encode() + b"\ndata: " + compact_json(payload) + b"\n\n" for name, payload in events]


def anthropic_error(status: int, error_type: str, message: str) -> Reply:
    """An error in Anthropic's shape, with a request-id, as the real API answers."""
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_upstream"}
    return Reply.json(body, status, headers=[("request-id", "req_upstream")])


# ---- OpenAI's Responses API --------------------------------------------------------------


def responses_usage(input_tokens: int = 10, output_tokens: int = 5, cached: int = 0) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"cached_tokens": cached}, "output_tokens_details": {"reasoning_tokens": 0}}


def output_message(text: str, item_id: str = "msg_fake") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def output_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": "fc_" + call_id, "type": "function_call", "status": "completed", "call_id": call_id, "name": name,
            "arguments": arguments}


def output_reasoning(summary: str, item_id: str = "rs_fake", encrypted: str | None = "enc-fake") -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": summary}] if summary else []}
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def responses_response(output: list[dict[str, Any]], *, status: str = "completed", final_usage: dict | None = None,
                       incomplete: str | None = None) -> dict[str, Any]:
    """A Responses answer (JSON, and the ``response`` of its terminal event)."""
    return {"id": "resp_fake", "object": "response", "created_at": 0, "model": FAKE_MODEL, "status": status,
            "output": output, "incomplete_details": {"reason": incomplete} if incomplete else None, "error": None,
            "usage": final_usage if final_usage is not None else responses_usage()}


def responses_events(output: list[dict[str, Any]], *, pieces: int = 3, **response: Any) -> list[tuple[str, dict]]:
    """The stream of a Responses answer, as OpenAI sends it: each item added,
    its text, summary or arguments in ``pieces`` deltas, done; then the terminal event."""
    final = responses_response(output, **response)
    events: list[tuple[str, dict]] = [("response.created", {"response": {**final, "status": "in_progress",
                                                                         "output": [], "usage": None}})]
    for index, item in enumerate(output):
        kind, item_id = item["type"], item["id"]
        base = {"item_id": item_id, "output_index": index}
        events.append(("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress",
                                                                                    **_emptied(item)}}))
        if kind == "message":
            for part in item["content"]:
                for piece in _split(part.get("text") or part.get("refusal") or "", pieces):
                    name = "response.output_text.delta" if part["type"] == "output_text" else "response.refusal.delta"
                    events.append((name, {**base, "content_index": 0, "delta": piece}))
        elif kind == "reasoning":
            for number, summary in enumerate(item["summary"]):
                events.append(("response.reasoning_summary_part.added", {**base, "summary_index": number,
                                                                         "part": {"type": "summary_text", "text": ""}}))
                for piece in _split(summary["text"], pieces):
                    events.append(("response.reasoning_summary_text.delta",
                                   {**base, "summary_index": number, "delta": piece}))
        elif kind == "function_call":
            for piece in _split(item["arguments"], pieces):
                events.append(("response.function_call_arguments.delta", {**base, "delta": piece}))
            events.append(("response.function_call_arguments.done", {**base, "arguments": item["arguments"]}))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    terminal = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    events.append((terminal, {"response": final}))
    return [(name, {"type": name, "sequence_number": number, **payload})
            for number, (name, payload) in enumerate(events)]


def _emptied(item: dict[str, Any]) -> dict[str, Any]:
    """What an item holds when it is added: nothing yet."""
    return {"message": {"content": []}, "reasoning": {"summary": []},
            "function_call": {"arguments": ""}}.get(item["type"], {})


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[at:at + size] for at in range(0, len(text), size)]


def completion(text: str | None, *, finish: str = "stop", final_usage: dict | None = None, **message: Any) -> dict:
    """A non-streaming chat.completion."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": FAKE_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, **message}, "finish_reason": finish}],
        "usage": final_usage if final_usage is not None else usage(),
    }


@dataclass
class Reply:
    """What the fake server sends for one request.

    ``body``: a complete body (JSON replies and errors). ``frames``: byte strings
    sent one by one as a chunked stream, ``delay`` seconds apart. ``hang``: after
    the frames, keep the response open until the client leaves. ``cut``: after
    the frames, drop the connection without ending the response. ``head_delay``:
    seconds to wait before sending anything (a backend still processing the prompt).
    ``drop``: after ``head_delay``, close the connection without answering (a
    server that took the request and died). ``close_before_next``: keep the
    connection, but close it when the next
    request arrives on it, unanswered (llama.cpp's server closes a connection
    after each stream: a client that reuses it at that moment sees this).
    """

    status: int = 200
    body: bytes | None = None
    frames: list[bytes] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    hang: bool = False
    cut: bool = False
    head_delay: float = 0.0
    close_before_next: bool = False
    drop: bool = False

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Reply:
        return cls(status=status, body=json.dumps(payload).encode(),
                   headers=[("content-type", "application/json"), *(headers or [])])

    @classmethod
    def error(cls, status: int, message: str, error_type: str = "invalid_request_error", **extra: Any) -> Reply:
        return cls.json({"error": {"message": message, "type": error_type, "param": None, "code": None, **extra}}, status)

    @classmethod
    def stream(cls, objects: Iterable[Any], *, done: bool = True, delay: float = 0.0, **kwargs: Any) -> Reply:
        return cls(frames=sse_frames(objects, done=done), delay=delay,
                   headers=[("content-type", "text/event-stream")], **kwargs)

    @classmethod
    def anthropic_stream(cls, events: Iterable[tuple[str, Any]], *, delay: float = 0.0, **kwargs: Any) -> Reply:
        return cls(frames=anthropic_frames(events), delay=delay, headers=[("content-type", "text/event-stream")],
                   **kwargs)

    @classmethod
    def responses_stream(cls, events: Iterable[tuple[str, Any]], **kwargs: Any) -> Reply:
        """A Responses event stream (framed as Anthropic's: named events)."""
        return cls.anthropic_stream(events, **kwargs)

    @classmethod
    def raw_stream(cls, frames: list[bytes], **kwargs: Any) -> Reply:
        return cls(frames=frames, headers=[("content-type", "text/event-stream")], **kwargs)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def echo_reply(request: RecordedRequest, *, delay: float = 0.0) -> Reply:
    """Default answer: repeat the last user message, word by word when streaming."""
    try:
        body = request.json
        last = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
        said = last.get("content")
        if isinstance(said, list) and all(isinstance(part, dict) and part.get("type") == "text" for part in said):
            said = "".join(part.get("text", "") for part in said)  # (text blocks, as Anthropic's API writes a turn)
        said = said if isinstance(said, str) else json.dumps(said)
    except (ValueError, AttributeError):
        body, said = {}, ""
    text = f"Hello from anthroproxy's fake upstream! You said: {said}"
    path = request.path.partition("?")[0]
    if path.endswith("/responses"):
        if not isinstance(body, dict):
            return Reply.error(400, "no JSON body")
        last = next((item for item in reversed(body.get("input") or []) if item.get("role") == "user"), {})
        said = "".join(part.get("text", "") for part in last.get("content") or () if isinstance(part, dict))
        text = f"Hello from anthroproxy's fake upstream! You said: {said}"
        answer = [output_message(text)]
        used = responses_usage(len(said) // 4 + 1, len(text.split(" ")))
        if body.get("stream"):
            return Reply.responses_stream(responses_events(answer, final_usage=used), delay=delay)
        return Reply.json(responses_response(answer, final_usage=used))
    if path.endswith("/messages/count_tokens"):
        return Reply.json({"input_tokens": len(request.body) // 4 + 1})
    if path.endswith("/messages"):
        words = text.split(" ")
        if isinstance(body, dict) and body.get("stream"):
            pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
            return Reply.anthropic_stream(anthropic_events(pieces, final_usage=anthropic_usage(
                len(said) // 4 + 1, len(words))), delay=delay)
        return Reply.json(anthropic_message(text, final_usage=anthropic_usage(len(said) // 4 + 1, len(words))))
    if isinstance(body, dict) and body.get("stream"):
        words = text.split(" ")
        pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
        return Reply.stream(text_chunks(pieces, final_usage=usage(len(said) // 4 + 1, len(words))), delay=delay)
    return Reply.json(completion(text))


# ---- the server ------------------------------------------------------------------


class FakeUpstream:
    def __init__(self, default: Callable[[RecordedRequest], Reply] | None = None, *, delay: float = 0.0) -> None:
        self.default = default or (lambda request: echo_reply(request, delay=delay))
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.port = 0
        self.disconnects = 0  # clients that left before a response ended
        self.completed = 0  # responses sent to the end
        self.frames_sent = 0  # stream frames handed to the socket, all responses together
        self.connections = 0  # connections accepted
        self.unanswered = 0  # requests dropped unanswered by close_before_next
        self.scheme = "http"
        self._changed = trio.Condition()

    @property
    def url(self) -> str:
        """The base URL to configure as the proxy's target (Chat Completions: the proxy adds /chat/completions)."""
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        """The base URL for an upstream that speaks Anthropic's API (the proxy adds /v1/messages)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until predicate() holds (checked whenever something is recorded)."""
        async with self._changed:
            while not predicate():
                await self._changed.wait()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def serve(self, *, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None,
                    task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve on ``port`` (0: a free one); over TLS when given a server context."""
        listeners: list = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        if tls is not None:
            self.scheme = "https"
            listeners = [trio.SSLListener(listener, tls, https_compatible=True) for listener in listeners]
        await trio.serve_listeners(self._connection, listeners, task_status=task_status)

    async def _connection(self, stream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(stream, conn)
                if request is None:
                    return
                self.requests.append(request)
                await self._notify()
                reply = self.replies.popleft() if self.replies else self.default(request)
                if not await self._respond(stream, conn, reply):
                    return
                conn.start_next_cycle()
                if reply.close_before_next:
                    if await self._read_request(stream, conn) is not None:
                        self.unanswered += 1
                        await self._notify()
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, ssl.SSLError):
            return

    async def _read_request(self, stream: trio.SocketStream, conn: h11.Connection) -> RecordedRequest | None:
        head, body = None, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return RecordedRequest(
                    method=head.method.decode(),
                    path=head.target.decode(),
                    headers={k.decode(): v.decode() for k, v in head.headers},
                    body=b"".join(body),
                )
            else:
                return None

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection, reply: Reply) -> bool:
        """Send a reply; False when the connection is over."""
        if reply.head_delay and not await self._think(stream, conn, reply.head_delay):
            return False
        if reply.drop:
            return False
        headers = list(reply.headers)
        if reply.body is not None:
            headers.append(("content-length", str(len(reply.body))))
        await stream.send_all(conn.send(h11.Response(status_code=reply.status, headers=headers)))
        if reply.body is not None:
            await stream.send_all(conn.send(h11.Data(data=reply.body)) + conn.send(h11.EndOfMessage()))
            self.completed += 1
            await self._notify()
            return conn.our_state is h11.DONE
        watcher = _Watcher(stream, conn)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run, nursery.cancel_scope)
            try:
                for frame in reply.frames:
                    if reply.delay:
                        await trio.sleep(reply.delay)
                    await stream.send_all(conn.send(h11.Data(data=frame)))
                    self.frames_sent += 1
                if reply.hang:
                    await trio.sleep_forever()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                watcher.client_left = True
            finally:
                nursery.cancel_scope.cancel()
        if watcher.client_left:
            self.disconnects += 1
            await self._notify()
            return False
        if reply.cut:
            return False
        await stream.send_all(conn.send(h11.EndOfMessage()))
        self.completed += 1
        await self._notify()
        return conn.our_state is h11.DONE


    async def _think(self, stream: trio.SocketStream, conn: h11.Connection, seconds: float) -> bool:
        """Wait before answering, as a backend processing a prompt does; False
        (and a recorded disconnect) if the client leaves meanwhile."""
        watcher = _Watcher(stream, conn)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run, nursery.cancel_scope)
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
        if watcher.client_left:
            self.disconnects += 1
            await self._notify()
        return not watcher.client_left


class _Watcher:
    """While streaming: the client closing its end means it went away."""

    def __init__(self, stream: trio.SocketStream, conn: h11.Connection) -> None:
        self.stream, self.conn = stream, conn
        self.client_left = False

    async def run(self, scope: trio.CancelScope) -> None:
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.client_left = True
                scope.cancel()
                return
            self.conn.receive_data(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m anthroproxy.fake_upstream",
                                     description="A fake OpenAI-compatible server that echoes the last user message.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between streamed words")
    args = parser.parse_args(argv)
    fake = FakeUpstream(delay=args.delay)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(fake.serve, host=args.host, port=args.port))
            print(f"fake upstream on http://{args.host}:{fake.port}/v1 (use it as --target-url)", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()
