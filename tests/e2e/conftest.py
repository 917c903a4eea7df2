"""End-to-end fixtures: a fake upstream and the proxy, both on 127.0.0.1 port 0,
in the test's own trio run."""

from __future__ import annotations

import json
import logging

import anthropic
import h11
import pytest
import trio

from anthroproxy import Config, serve
from anthroproxy.testing.fake_upstream import FakeUpstream


@pytest.fixture(autouse=True)
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="anthroproxy")


@pytest.fixture
async def fake(nursery) -> FakeUpstream:
    upstream = FakeUpstream()
    await nursery.start(upstream.serve)
    return upstream


async def start_proxy(nursery, fake: FakeUpstream, **overrides):
    options = {"port": 0, "target_url": fake.url, "model_mapping": "claude-3:gpt-4o", "default_model": "fake-default"}
    return await nursery.start(serve, Config(**{**options, **overrides}))


@pytest.fixture
async def proxy(nursery, fake):
    return await start_proxy(nursery, fake)


@pytest.fixture
async def connect():
    """connect(port) -> RawHTTP; every connection is closed after the test."""
    opened: list[RawHTTP] = []

    async def open_one(port: int) -> RawHTTP:
        client = await RawHTTP.connect(port)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


_sdk_clients: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def close_sdk_clients():
    yield
    while _sdk_clients:
        _sdk_clients.pop().close()


def sdk(server, **kwargs) -> anthropic.Anthropic:
    """The official Python SDK pointed at the proxy (closed after the test). Use it from a thread."""
    options = {"base_url": f"http://127.0.0.1:{server.port}", "api_key": "client-key", "max_retries": 0, "timeout": 20}
    client = anthropic.Anthropic(**{**options, **kwargs})
    _sdk_clients.append(client)
    return client


async def in_thread(fn, *args):
    return await trio.to_thread.run_sync(fn, *args)


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
