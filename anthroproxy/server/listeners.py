"""Listening sockets: trio's own, or SO_REUSEPORT ones that several worker
processes bind to the same port (the kernel spreads new connections across them).
"""

from __future__ import annotations

import socket

import trio

# What trio.open_tcp_listeners asks for; the kernel caps it at net.core.somaxconn.
BACKLOG = 0xFFFF


def reuse_port_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not listening) sockets for every address ``host`` resolves to,
    all on one port: ``port``, or the one the first bind picked when it is 0."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def open_listeners(host: str, port: int, *, reuse_port: bool) -> list[trio.SocketListener]:
    if not reuse_port:
        return await trio.open_tcp_listeners(port, host=host)
    listeners = []
    for sock in reuse_port_sockets(host, port):
        sock.listen(BACKLOG)
        listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
    return listeners
