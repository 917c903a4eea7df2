"""Talking HTTP to the proxy by hand: request bodies and raw requests, and a
raw client that can pipeline and read responses one by one."""

from __future__ import annotations

import json

import h11
import trio


def messages_body(text: str = "hi", **fields) -> dict:
    return {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "messages": [{"role": "user", "content": text}], **fields}


def post(path: str, body: bytes | dict, headers: list[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 POST as bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", "host: test", f"content-length: {len(data)}", "content-type: application/json"]
    head += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode()


class RawHTTP:
    """A raw socket client that can pipeline and read responses one by one."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.closed = False

    @classmethod
    async def connect(cls, port: int) -> RawHTTP:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def response(self, method: str = "POST") -> tuple[int, dict[str, str], bytes, list[int]]:
        """(status, headers, body, informational statuses) of the next response."""
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method=method, target="/", headers=[("host", "x"), ("content-length", "0")]))
        conn.send(h11.EndOfMessage())
        if self.buffer:
            conn.receive_data(self.buffer)  # (b"" would mean end of stream)
        informational, status, headers, body = [], None, {}, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await self.stream.receive_some(65536)
                self.closed = self.closed or not data
                conn.receive_data(data)
            elif isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.buffer = conn.trailing_data[0]
                return status, headers, b"".join(body), informational
            else:
                raise AssertionError(f"connection closed before a full response: {event}")

    async def is_closed_by_server(self) -> bool:
        try:
            return await self.stream.receive_some(1) == b""
        except trio.BrokenResourceError:
            return True

    async def aclose(self) -> None:
        await self.stream.aclose()
