"""A fast fake upstream for the benchmark (its own process), in three APIs.

Every answer's shape comes from the request body's ``user`` field (which the
proxy fills from Anthropic's ``metadata.user_id``), so one server serves every
scenario, direct or through a proxy:

    "user": "chunks=200;bytes=24;delay=0.01;first=0.05;kind=text"

or, for a relay that drops the user id (claude-code-router does), from
``shape[...]`` in the prompt, which the driver also writes.

The path picks the API: ``.../chat/completions`` (and anything else) answers
as OpenAI's Chat Completions, ``.../v1/messages`` as Anthropic's Messages API
(message_start, ping, content_block_start, ``chunks`` text deltas,
content_block_stop, message_delta with the usage, message_stop) and
``.../responses`` as OpenAI's Responses API (response.created, the message
item added, ``chunks`` output_text deltas, the item done, response.completed
with the usage; named events, no [DONE]).

kind is text, tools (one call, arguments in ``chunks`` fragments) or reasoning
(half reasoning deltas, half text); the Anthropic and Responses answers are
text whatever the kind. Each answer is written as its opening, one write per
content chunk, its closing events, and the end at once with the last of them,
with ``delay`` after every write but the last. Frames are encoded once per
shape and written with their chunked framing, so the upstream costs little
beside the proxy. A non-streaming request gets the whole answer as one JSON body.

    python bench/upstream.py --port 0      # prints "listening <port>"
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import resource

import h11
import trio

DONE = b"data: [DONE]\n\n"
USER = re.compile(rb'"user"\s*:\s*"([^"]*)"')
# The same shape written in the prompt, for relays that drop the user id (claude-code-router does).
MARK = re.compile(rb"shape\[([^\]]*)\]")
STREAM = re.compile(rb'"stream"\s*:\s*true')


def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "bench-model",
            "choices": choices, "usage": usage}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


@functools.lru_cache(maxsize=64)
def frames(api: str, kind: str, chunks: int, size: int) -> tuple[bytes, ...]:
    """The writes of one answer, each one HTTP chunk already framed."""
    writes = {"anthropic": anthropic_writes, "responses": responses_writes}.get(api, chat_writes)(kind, chunks, size)
    return tuple(b"%x\r\n%s\r\n" % (len(write), write) for write in writes)


def chat_writes(kind: str, chunks: int, size: int) -> list[bytes]:
    """Chat Completions: one write per chunk, then [DONE]."""
    piece = piece_of(size)
    if kind == "tools":
        arguments = json.dumps({"text": piece * chunks})
        step = max(1, len(arguments) // chunks)
        parts = [arguments[i:i + step] for i in range(0, len(arguments), step)]
        events = [chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_bench", "type": "function", "function": {"name": "write", "arguments": ""}}]})]
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in parts]
        finish = "tool_calls"
    elif kind == "reasoning":
        events = [chunk({"role": "assistant", "content": None})]
        events += [chunk({"reasoning_content": piece}) for _ in range(chunks // 2)]
        events += [chunk({"content": piece}) for _ in range(chunks - chunks // 2)]
        finish = "stop"
    else:
        events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": piece}) for _ in range(chunks)]
        finish = "stop"
    events += [chunk({}, finish), chunk(None, usage={"prompt_tokens": 100, "completion_tokens": chunks,
                                                     "total_tokens": 100 + chunks}), DONE]
    return events


def named(event: str, payload: dict) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), json.dumps(payload, separators=(",", ":")).encode())


def anthropic_writes(kind: str, chunks: int, size: int) -> list[bytes]:
    """Anthropic's Messages stream: the opening in one write, a write per text delta, the end in two."""
    piece = piece_of(size)
    start = {"type": "message_start", "message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "bench-model", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 1}}}
    opening = (named("message_start", start) + named("ping", {"type": "ping"})
               + named("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
    delta = named("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": piece}})
    closing = (named("content_block_stop", {"type": "content_block_stop", "index": 0})
               + named("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                         "usage": {"output_tokens": chunks}}))
    return [opening] + [delta] * chunks + [closing, named("message_stop", {"type": "message_stop"})]


def anthropic_message(shape: dict) -> bytes:
    chunks, size = int(shape["chunks"]), int(shape["bytes"])
    return json.dumps({"id": "msg_bench", "type": "message", "role": "assistant", "model": "bench-model",
                       "content": [{"type": "text", "text": piece_of(size) * chunks}], "stop_reason": "end_turn",
                       "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": chunks}}).encode()


def responses_response(chunks: int, size: int, status: str = "completed") -> dict:
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": piece_of(size) * chunks, "annotations": []}]}
    return {"id": "resp_bench", "object": "response", "created_at": 1, "model": "bench-model", "status": status,
            "output": [item], "incomplete_details": None, "error": None,
            "usage": {"input_tokens": 100, "output_tokens": chunks, "total_tokens": 100 + chunks,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


def responses_writes(kind: str, chunks: int, size: int) -> list[bytes]:
    """OpenAI's Responses stream: the opening in one write, a write per text delta, the item done, the end."""
    piece, final = piece_of(size), responses_response(chunks, size)
    item = final["output"][0]
    numbers = iter(range(chunks + 4))

    def event(name: str, **payload) -> bytes:
        return named(name, {"type": name, "sequence_number": next(numbers), **payload})

    opening = (event("response.created", response={**final, "status": "in_progress", "output": [], "usage": None})
               + event("response.output_item.added", output_index=0,
                       item={**item, "status": "in_progress", "content": []}))
    deltas = [event("response.output_text.delta", item_id="msg_bench", output_index=0, content_index=0, delta=piece)
              for _ in range(chunks)]
    return [opening, *deltas, event("response.output_item.done", output_index=0, item=item),
            event("response.completed", response=final)]


def parse_shape(header: str) -> dict:
    shape = {"chunks": 100, "bytes": 24, "delay": 0.0, "first": 0.0, "kind": "text"}
    for item in filter(None, header.split(";")):
        key, _, value = item.partition("=")
        shape[key.strip()] = value.strip() if key.strip() == "kind" else float(value)
    return shape


def completion(shape: dict) -> bytes:
    chunks, size = int(shape["chunks"]), int(shape["bytes"])
    text = piece_of(size) * chunks
    return json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench-model",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 100, "completion_tokens": chunks,
                                 "total_tokens": 100 + chunks}}).encode()


def responses_json(shape: dict) -> bytes:
    return json.dumps(responses_response(int(shape["chunks"]), int(shape["bytes"]))).encode()


def piece_of(size: int) -> str:
    return ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]


async def serve_connection(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024 * 1024)
    try:
        while True:
            body, target = [], b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(1 << 16))
                elif isinstance(event, h11.Data):
                    body.append(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.Request):
                    target = event.target
                else:
                    return
            data = b"".join(body)
            path = target.partition(b"?")[0]
            api = "anthropic" if path.endswith(b"/messages") else "responses" if path.endswith(b"/responses") \
                else "chat"
            found = USER.search(data) or MARK.search(data)
            shape = parse_shape(found[1].decode() if found else "")
            streaming = STREAM.search(data) is not None
            if not streaming:
                await trio.sleep(shape["first"])
                body = {"anthropic": anthropic_message, "responses": responses_json}.get(api, completion)(shape)
                head = conn.send(h11.Response(status_code=200, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(body)))]))
                await stream.send_all(head + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            else:
                await stream_answer(stream, conn, api, shape)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return


async def stream_answer(stream: trio.SocketStream, conn: h11.Connection, api: str, shape: dict) -> None:
    head = conn.send(h11.Response(status_code=200, headers=[("content-type", "text/event-stream"),
                                                            ("transfer-encoding", "chunked")]))
    await stream.send_all(head)
    await trio.sleep(shape["first"])
    delay = shape["delay"]
    answer = frames(api, shape["kind"], int(shape["chunks"]), int(shape["bytes"]))
    for frame in answer[:-1]:
        await stream.send_all(frame)
        if delay:
            await trio.sleep(delay)
    await stream.send_all(answer[-1])  # [DONE] (message_stop, response.completed), and the end at once
    # The frames went out in chunked framing written by hand; h11 writes the end.
    await stream.send_all(conn.send(h11.EndOfMessage()))


async def main(port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
    print(f"listening {listeners[0].socket.getsockname()[1]}", flush=True)
    await trio.serve_listeners(serve_connection, listeners)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    raise_fd_limit()
    trio.run(main, parser.parse_args().port)
