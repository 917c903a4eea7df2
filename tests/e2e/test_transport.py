"""The lean httpx transport over real sockets: framings, reuse, and the faults
of servers that close, cut or garble."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, completion, text_chunks
from anthroproxy.upstream.transport import LeanTransport


def client(**kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(ssl_context=ssl.create_default_context(), **kwargs), timeout=5)


class RawServer:
    """Answers each connection's first request with ``answer`` bytes, then
    closes (or, with ``keep``, waits for the client to)."""

    def __init__(self, answer: bytes, *, keep: bool = False) -> None:
        self.answer, self.keep = answer, keep
        self.connections = 0

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        received = b""
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(65536)
        await stream.send_all(self.answer)
        if self.keep:
            await stream.receive_some(65536)
        await stream.aclose()


async def raw(nursery, answer: bytes, **kwargs) -> str:
    server = RawServer(answer, **kwargs)
    await nursery.start(server.serve)
    return f"http://127.0.0.1:{server.port}/v1/x"


async def test_json_and_streams_on_one_kept_alive_connection(fake):
    fake.queue(Reply.json(completion("one")), Reply.stream(text_chunks(["a", "b"])), Reply.json(completion("two")))
    async with client() as http:
        assert (await http.post(fake.url + "/chat/completions", json={})).json()["choices"][0]["message"]["content"] \
            == "one"
        async with http.stream("POST", fake.url + "/chat/completions", json={"stream": True}) as response:
            body = response.extensions["body"]
            received = b""
            while data := await body.receive():
                received += data
        assert received.count(b"data: ") == len(text_chunks(["a", "b"])) + 1 and received.endswith(b"[DONE]\n\n")
        assert (await http.post(fake.url + "/chat/completions", json={})).status_code == 200
    assert fake.connections == 1 and len(fake.requests) == 3


async def test_a_body_closed_before_its_end_drops_the_connection(fake):
    fake.queue(Reply.stream(text_chunks(["a"] * 50), delay=0.02))
    async with client() as http:
        async with http.stream("POST", fake.url + "/chat/completions", json={}) as response:
            assert await response.extensions["body"].receive()
        with trio.fail_after(5):
            while not fake.disconnects:  # the server learns the client left: it stops generating
                await trio.sleep(0.01)
        await http.post(fake.url + "/chat/completions", json={})
    assert fake.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_reused(nursery):
    url = await raw(nursery, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")  # closes after answering
    async with client() as http:
        for _ in range(3):
            await trio.sleep(0.05)  # (the close arrives while the connection is idle)
            assert (await http.get(url)).text == "ok"


async def test_a_body_that_runs_to_the_close(nursery):
    url = await raw(nursery, b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    async with client() as http:
        assert (await http.get(url)).text == "until the end"


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",  # cut inside a chunk
    b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf",  # cut before its length
])
async def test_a_cut_body_is_a_protocol_error(nursery, answer):
    url = await raw(nursery, answer)
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await http.get(url)


async def test_garbled_chunk_framing_is_a_protocol_error(nursery):
    url = await raw(nursery, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", keep=True)
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="not hexadecimal"):
            await http.get(url)


async def test_a_server_that_closes_without_answering(nursery):
    url = await raw(nursery, b"")
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get(url)


async def test_timeouts_and_refusals_are_httpx_errors(nursery):
    url = await raw(nursery, b"", keep=True)  # reads the request, never answers
    async with client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url, timeout=httpx.Timeout(5, read=0.2))
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")


async def test_the_pool_keeps_at_most_max_idle_connections(fake):
    for _ in range(4):
        fake.queue(Reply.stream(text_chunks(["x"]), delay=0.05))
    async with client(max_idle=2) as http:
        async def one() -> None:
            await http.post(fake.url + "/chat/completions", json={})

        async with trio.open_nursery() as requests:
            for _ in range(4):
                requests.start_soon(one)
        assert fake.connections == 4
        async with trio.open_nursery() as requests:
            for _ in range(4):
                requests.start_soon(one)
    assert fake.connections == 6  # two were kept, two had to be opened again


async def test_a_proxy_from_the_environment_is_still_used(fake, monkeypatch):
    """httpx mounts its own transport for HTTP_PROXY; the lean one serves the rest."""
    from anthroproxy.upstream.pool import Pool, tls_context

    monkeypatch.setenv("HTTP_PROXY", fake.url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fake.queue(Reply.json(completion("through the proxy")))
    pool = Pool("http://upstream.invalid/v1", connect_timeout=5, read_timeout=30, tls=tls_context(None))
    try:
        answer = await (await pool.send("/chat/completions", b'{"model": "m", "messages": []}', {},
                                        stream=False)).read_json(1 << 20)
    finally:
        await pool.aclose()
    assert answer["choices"][0]["message"]["content"] == "through the proxy"
    assert fake.requests[0].path == "http://upstream.invalid/v1/chat/completions"  # the absolute form a proxy gets


async def test_a_request_larger_than_the_socket_buffer_goes_out_whole(fake):
    body = b'{"pad": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    fake.queue(Reply.json(completion("ok")))
    async with client() as http:
        response = await http.post(fake.url + "/chat/completions", content=body,
                                   headers={"content-type": "application/json"})
    assert response.status_code == 200 and fake.requests[0].body == body


@pytest.mark.parametrize("head", [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"])
async def test_bytes_after_an_empty_body_keep_the_connection_out_of_the_pool(nursery, head):
    server = RawServer(head + b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nWRONG", keep=True)
    await nursery.start(server.serve)
    url = f"http://127.0.0.1:{server.port}/"
    async with client() as http:
        assert (await http.get(url)).content == b""
        await http.get(url)  # (the next request must not read the stray answer as its own)
    assert server.connections == 2
