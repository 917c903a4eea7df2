"""Load driver for the benchmark (its own process): C workers, each on one
keep-alive connection, send N requests in all and time what comes back.

    python bench/driver.py --url http://127.0.0.1:8080 --api anthropic \
        --concurrency 32 --requests 256 --shape "chunks=100;bytes=24;delay=0.005"

``--api anthropic`` posts to /v1/messages (through a proxy, or straight to the
fake upstream's Anthropic stream), ``--api openai`` to /v1/chat/completions
(straight to the fake upstream, or with --model to a real server),
``--api responses`` to /v1/responses (straight to the fake upstream's
Responses stream). Prints one JSON object:
time to first content event per request, gaps between content events, events
counted, and errors. ``--hold`` keeps the streams open: it prints "open" once
every worker has its first event, then waits for the streams to end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sys
import time
from urllib.parse import urlsplit

import h11
import trio

# One content event per upstream content chunk, in each API's stream.
MARKERS = {"anthropic": b"event: content_block_delta", "openai": b'"delta":{"content":"',
           "responses": b"event: response.output_text.delta"}
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions", "responses": "/v1/responses"}


def request_body(api: str, shape: str, stream: bool, body_bytes: int, *, model: str | None = None,
                 max_tokens: int = 4096, prompt: str | None = None) -> bytes:
    """The fake upstream reads the answer's shape from the user id; a real
    server (``model`` given) answers ``prompt`` as it will."""
    if prompt is None:  # (the shape in the prompt too, for relays that drop the user id)
        prompt = f"shape[{shape}] " + "x" * body_bytes
    if api == "anthropic":
        body = {"model": "claude-bench", "max_tokens": max_tokens, "stream": stream, "metadata": {"user_id": shape},
                "messages": [{"role": "user", "content": prompt}]}
    elif api == "responses":
        body = {"model": model or "bench-model", "max_output_tokens": max_tokens, "stream": stream, "store": False,
                "input": [{"role": "user", "content": [{"type": "input_text", "text": prompt}]}]}
    else:
        body = {"model": model or "bench-model", "max_tokens": max_tokens, "stream": stream, "user": shape,
                "messages": [{"role": "user", "content": prompt}]}
        if stream:
            body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


class Results:
    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.gaps: list[float] = []
        self.events = 0
        self.requests = 0
        self.errors: list[str] = []
        self.first_events = 0
        self.all_open = trio.Event()


async def worker(host: str, port: int, api: str, payload: bytes, count: int, results: Results, concurrency: int,
                 stream: bool) -> None:
    marker = MARKERS[api]
    head = [("host", host), ("content-type", "application/json"), ("x-api-key", "bench"),
            ("anthropic-version", "2023-06-01"), ("content-length", str(len(payload)))]
    sock, conn = await connect(host, port)

    async def exchange() -> None:
        started = time.perf_counter()
        await sock.send_all(conn.send(h11.Request(method="POST", target=PATHS[api], headers=head))
                            + conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
        await read_response(sock, conn, marker, started, results, concurrency, stream)

    try:
        for index in range(count):
            # llama.cpp's server closes the connection after each stream, keep-alive header or not.
            if index and await closed_by_server(sock):
                await sock.aclose()
                sock, conn = await connect(host, port)
            try:
                await exchange()
            except ClosedBeforeAnswer:  # (it closed an instant after the peek): once more, on a new one
                await sock.aclose()
                sock, conn = await connect(host, port)
                await exchange()
            results.requests += 1
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                raise RuntimeError("connection not reusable")
            conn.start_next_cycle()
    except Exception as exc:  # a benchmark reports failures, it does not stop on them
        results.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        await sock.aclose()


async def connect(host: str, port: int) -> tuple[trio.SocketStream, h11.Connection]:
    return await trio.open_tcp_stream(host, port), h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 24)


async def closed_by_server(sock: trio.SocketStream) -> bool:
    """Whether the server closed a kept-alive connection after its last
    answer: a peek that does not wait (the timing of the next request is not
    touched when it did not)."""
    with socket.socket(fileno=os.dup(sock.socket.fileno())) as raw:
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False


class ClosedBeforeAnswer(Exception):
    """The server closed the connection before any answer to the request."""


async def read_response(sock, conn, marker, started, results, concurrency, stream) -> None:
    tail, seen, last, answered = b"", 0, None, False
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            if not answered:
                raise ClosedBeforeAnswer() from None
            raise
        if event is h11.NEED_DATA:
            try:
                conn.receive_data(await sock.receive_some(1 << 16))
            except trio.BrokenResourceError:
                conn.receive_data(b"")
            continue
        if isinstance(event, h11.Response):
            answered = True
            if event.status_code != 200:
                results.errors.append(f"HTTP {event.status_code}")
        elif isinstance(event, h11.Data):
            now = time.perf_counter()
            window = tail + bytes(event.data)
            found = window.count(marker) if stream else (1 if b'"text"' in window or b'"content"' in window else 0)
            tail = window[-(len(marker) - 1):]
            if found:
                if seen == 0:
                    results.ttft.append(now - started)
                    results.first_events += 1
                    if results.first_events == concurrency:
                        results.all_open.set()
                elif last is not None:
                    results.gaps.append(now - last)
                results.gaps.extend([0.0] * (found - 1))
                seen += found
                last = now
        elif isinstance(event, h11.EndOfMessage):
            results.events += seen
            return
        else:
            raise RuntimeError(f"unexpected {event!r}")


async def main(args) -> dict:
    url = urlsplit(args.url)
    payload = request_body(args.api, args.shape, not args.no_stream, args.body_bytes, model=args.model,
                           max_tokens=args.max_tokens, prompt=args.prompt)
    results = Results()
    per_worker = [args.requests // args.concurrency + (i < args.requests % args.concurrency)
                  for i in range(args.concurrency)]
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for count in per_worker:
            if count:
                nursery.start_soon(worker, url.hostname, url.port, args.api, payload, count, results,
                                   args.concurrency, not args.no_stream)
        if args.hold:
            with trio.move_on_after(args.hold):
                await results.all_open.wait()
                print("open", flush=True)
    elapsed = time.perf_counter() - started
    return {"requests": results.requests, "events": results.events, "elapsed": elapsed,
            "ttft": results.ttft, "gaps": results.gaps, "errors": results.errors[:20],
            "error_count": len(results.errors)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--api", choices=sorted(PATHS), required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--shape", default="chunks=100;bytes=24")
    parser.add_argument("--body-bytes", type=int, default=200)
    parser.add_argument("--no-stream", action="store_true")
    parser.add_argument("--model", help="a real server's model (--api openai); the fake upstream ignores it")
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--prompt", help="the user message (default: --body-bytes of x)")
    parser.add_argument("--hold", type=float, default=0.0, help="report 'open' when every stream has begun")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out = trio.run(main, parser.parse_args())
    sys.stdout.write(json.dumps(out) + "\n")
