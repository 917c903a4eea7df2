"""Sockets for tests of the I/O shells."""

from __future__ import annotations

import socket

import trio


async def tcp_pair() -> tuple[trio.SocketStream, socket.socket]:
    """A server-side trio stream and the client's plain socket, on 127.0.0.1."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    client = socket.create_connection(listener.socket.getsockname())
    server = await listener.accept()
    await listener.aclose()
    return server, client
