"""Reference relays for the benchmark: the simplest Anthropic-to-OpenAI relays
that can be built on the proxy's stack, to set the proxy beside. Text only, no
validation, no errors, no limits, no logs: what is left is the cost of the
stack itself.

    python bench/relays.py httpx|h11 --port P --upstream-port U

Both serve /v1/messages with a trio + h11 server and turn each upstream text
chunk into a content_block_delta (json.loads, json.dumps). ``httpx`` reads the
upstream with httpx (``aiter_raw``; each request to the least busy of 16
clients, as the proxy does); ``h11`` with a bare trio socket and an h11 client,
one kept-alive upstream connection per client connection.
"""

from __future__ import annotations

import argparse
import json
from typing import AsyncIterator, Awaitable, Callable

import h11
import httpx
import trio

RECEIVE_BYTES = 65536
START = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_relay","type":"message",'
         b'"role":"assistant","content":[],"model":"relay","stop_reason":null,"stop_sequence":null,'
         b'"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
         b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
         b'"content_block":{"type":"text","text":""}}\n\n')
STOP = (b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":1}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n')

# An upstream request: the OpenAI body in, the response's body bytes out (an async iterator), then a close.
Open = Callable[[bytes], Awaitable[tuple[AsyncIterator[bytes], Callable[[], Awaitable[None]]]]]


def openai_body(anthropic_body: bytes) -> bytes:
    body = json.loads(anthropic_body)
    return json.dumps({"model": body["model"], "max_tokens": body["max_tokens"], "stream": True,
                       "user": body.get("metadata", {}).get("user_id"),
                       "messages": [{"role": m["role"], "content": m["content"]} for m in body["messages"]]}).encode()


def text_deltas(lines: list[bytes]) -> bytes:
    out = []
    for line in lines:
        if line.startswith(b"data: {"):
            choices = json.loads(line[6:])["choices"]
            text = choices[0]["delta"].get("content") if choices else None
            if text:
                out.append(b"event: content_block_delta\ndata: " + json.dumps(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
                ).encode() + b"\n\n")
    return b"".join(out)


async def next_event(conn: h11.Connection, stream: trio.SocketStream):
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(RECEIVE_BYTES))
    return event


async def serve_client(stream: trio.SocketStream, open_upstream: Open) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while isinstance(await next_event(conn, stream), h11.Request):
            body = b""
            while isinstance(event := await next_event(conn, stream), h11.Data):
                body += event.data
            chunks, close = await open_upstream(openai_body(body))
            try:
                head = h11.Response(status_code=200, headers=[("content-type", "text/event-stream")])
                await stream.send_all(conn.send(head) + conn.send(h11.Data(data=START)))
                pending = b""
                async for raw in chunks:
                    *lines, pending = (pending + raw).split(b"\n")
                    if out := text_deltas(lines):
                        await stream.send_all(conn.send(h11.Data(data=out)))
            finally:
                await close()
            await stream.send_all(conn.send(h11.Data(data=STOP)) + conn.send(h11.EndOfMessage()))
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        pass


def httpx_upstream(upstream_port: int) -> Open:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64, keepalive_expiry=30)
    clients = [httpx.AsyncClient(timeout=None, limits=limits) for _ in range(16)]
    in_flight = [0] * len(clients)
    url = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"

    async def open_upstream(body: bytes):
        shard = in_flight.index(min(in_flight))
        client = clients[shard]
        in_flight[shard] += 1
        request = client.build_request("POST", url, content=body, headers={"content-type": "application/json"})
        response = await client.send(request, stream=True)

        async def close() -> None:
            in_flight[shard] -= 1
            await response.aclose()
        return response.aiter_raw(), close
    return open_upstream


class H11Upstream:
    """One kept-alive upstream connection for one client connection."""

    def __init__(self, upstream_port: int) -> None:
        self.port = upstream_port
        self.stream: trio.SocketStream | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def __call__(self, body: bytes):
        if self.stream is None:
            self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
        if self.conn.states != {h11.CLIENT: h11.IDLE, h11.SERVER: h11.IDLE}:
            if self.conn.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                self.conn.start_next_cycle()
            else:  # the last answer was cut or closed the connection: a new one
                await self.stream.aclose()
                self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                self.conn = h11.Connection(h11.CLIENT)
        stream, conn = self.stream, self.conn
        head = h11.Request(method="POST", target="/v1/chat/completions",
                           headers=[("host", "upstream"), ("content-type", "application/json"),
                                    ("content-length", str(len(body)))])
        await stream.send_all(conn.send(head) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await next_event(conn, stream)  # the response head

        async def chunks():
            while isinstance(event := await next_event(conn, stream), h11.Data):
                yield event.data

        async def close():
            pass  # read to the end: the connection stays for the next request
        return chunks(), close

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


async def main(kind: str, port: int, upstream_port: int) -> None:
    shared = httpx_upstream(upstream_port) if kind == "httpx" else None

    async def handle(stream: trio.SocketStream) -> None:
        if shared is not None:
            await serve_client(stream, shared)
            return
        upstream = H11Upstream(upstream_port)
        try:
            await serve_client(stream, upstream)
        finally:
            await upstream.aclose()

    await trio.serve_tcp(handle, port, host="127.0.0.1")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("httpx", "h11"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    trio.run(main, args.kind, args.port, args.upstream_port)
