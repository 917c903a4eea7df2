"""The server's connection over real sockets: what a handler's writes and the
watcher's timer put on the wire, and reads that a cancel must not cut short."""

from __future__ import annotations

import socket

import h11
import trio

from anthroproxy.netio.reader import READS_PER_CHECKPOINT, Reader
from anthroproxy.server.connection import Connection
from anthroproxy.server.responder import Responder


async def tcp_pair() -> tuple[trio.SocketStream, socket.socket]:
    """A server-side trio stream and the client's plain socket, on 127.0.0.1."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    client = socket.create_connection(listener.socket.getsockname())
    server = await listener.accept()
    await listener.aclose()
    return server, client


class PingOnce:
    def __init__(self, responder: Responder, at: float) -> None:
        self.responder, self.at = responder, at

    def due(self) -> float:
        return self.at

    async def fire(self) -> None:
        self.at = float("inf")
        await self.responder.write(b"event: ping\n\n")


async def test_a_ping_due_during_a_blocked_write_never_follows_the_end():
    server, client = await tcp_pair()
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    conn = Connection(server, max_header_bytes=65536)
    conn.h11.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    conn.h11.next_event(), conn.h11.next_event()
    responder = Responder(conn)
    received = bytearray()

    async def slow_client() -> None:
        await trio.sleep(0.2)  # the handler's big write blocks past the ping's time
        client.setblocking(False)
        while True:
            await trio.lowlevel.wait_readable(client)
            data = client.recv(65536)
            if not data:
                return
            received.extend(data)

    async with trio.open_nursery() as outer:
        outer.start_soon(slow_client)
        async with trio.open_nursery() as request:
            request.start_soon(conn.watch_for_disconnect, request.cancel_scope)
            await responder.write(b"data: first\n\n")
            conn.set_timer(PingOnce(responder, trio.current_time() + 0.05))
            await responder.write(b"D" * 4_000_000)  # (more than the socket buffers hold: it blocks)
            await conn.clear_timer()  # as a stream does before its last events
            await responder.write(b"event: final\n\n")
            await responder.end()
            request.cancel_scope.cancel()
        await server.aclose()
    client.close()
    assert bytes(received).endswith(b"event: final\n\n\r\n0\r\n\r\n")  # the terminating chunk is the last thing sent
    assert b"event: ping" in received and conn.h11.our_state is h11.DONE


async def test_a_cancel_at_the_yielding_read_keeps_its_bytes():
    server, client = await tcp_pair()
    reader = Reader(server.socket.fileno())
    for _ in range(READS_PER_CHECKPOINT - 1):  # reads that found bytes waiting, up to the one that yields
        client.send(b"x")
        await trio.sleep(0.01)
        assert await reader.receive() == b"x"
    client.send(b"PIPELINED")
    await trio.sleep(0.01)
    with trio.CancelScope() as scope:
        scope.cancel()
        data = await reader.receive()
    assert data == b"PIPELINED"
    client.close()
    await server.aclose()


async def test_a_slow_client_is_not_a_silent_upstream(nursery):
    """The upstream sends its whole answer at once; the client takes longer
    than the upstream read timeout to read it. The stream must end whole,
    not with a timeout the upstream did nothing to earn."""
    from anthroproxy import Config, serve
    from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, text_chunks
    from tests.helpers import parse_events, text_of

    fake = FakeUpstream()
    await nursery.start(fake.serve)
    proxy = await nursery.start(serve, Config(port=0, target_url=fake.url, upstream_read_timeout=0.3))
    pieces = ["x" * 4000] * 2000  # 8 MB of text: more than the sockets between proxy and client hold
    fake.queue(Reply.stream(text_chunks(pieces)))
    client = socket.create_connection(("127.0.0.1", proxy.port))
    body = b'{"model": "claude-3-5-haiku", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    client.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n"
                   b"content-length: %d\r\n\r\n%b" % (len(body), body))
    await trio.sleep(1.0)  # reading nothing meanwhile: the proxy's writes block
    client.setblocking(False)
    received = bytearray()
    with trio.fail_after(20):
        while True:
            await trio.lowlevel.wait_readable(client)
            data = client.recv(1 << 20)
            if not data:
                break
            received.extend(data)
    client.close()
    head, _, chunked = bytes(received).partition(b"\r\n\r\n")
    decoded = b"".join(chunked.split(b"\r\n")[1::2])  # (the chunk payloads, between their size lines)
    events = parse_events(decoded)
    assert events[-1][0] == "message_stop" and text_of(events) == "".join(pieces)
