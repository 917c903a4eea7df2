"""The server's connection over real sockets: what a handler's writes and the
watcher's timer put on the wire."""

from __future__ import annotations

import socket

import h11
import trio

from anthroproxy.server.connection import Connection
from anthroproxy.server.responder import Responder
from tests.support.sockets import tcp_pair


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
