"""Reading and writing a socket directly: a read that a cancel must not cut
short, and a write larger than the socket holds that still goes out whole."""

from __future__ import annotations

import socket

import trio

from anthroproxy.netio.reader import READS_PER_CHECKPOINT, Reader
from anthroproxy.netio.writer import Writer
from tests.support.sockets import tcp_pair


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


async def test_a_write_larger_than_the_socket_holds_waits_for_room_and_goes_out_whole():
    server, client = await tcp_pair()
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytes(range(256)) * 16_000  # 4 MB: most of it waits for the client to read
    writer = Writer(server.socket.fileno())
    assert writer.write_now(b"first") is None  # (what fits goes at once: nothing left)
    received = bytearray()

    async def slow_client() -> None:
        client.setblocking(False)
        while len(received) < len(data) + 5:
            await trio.lowlevel.wait_readable(client)
            received.extend(client.recv(65536))
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_client)
        rest = writer.write_now(data)
        assert rest is not None and len(rest) < len(data)  # (what the socket took at once; the rest waits)
        await writer.send_rest(rest)
    assert bytes(received) == b"first" + data
    client.close()
    await server.aclose()
