"""Listening sockets: trio's own, or SO_REUSEPORT ones that several worker
processes bind to the same port (the kernel spreads new connections across
them); and the accept loop, which takes every waiting connection at once.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Awaitable, Callable

import trio

from ..observe.logs import log

# What trio.open_tcp_listeners asks for; the kernel caps it at net.core.somaxconn.
BACKLOG = 0xFFFF
# Out of descriptors or memory: wait a little, as trio.serve_listeners does, and try again.
ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
ACCEPT_CAPACITY_SLEEP_S = 0.1
# A connection that went away between its arrival and the accept: the next one.
ACCEPT_GONE_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}
ACCEPT_BATCH = 256

Handler = Callable[[trio.SocketStream], Awaitable[None]]


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


async def serve_listeners(handler: Handler, listeners: list[trio.SocketListener], *, handler_nursery: trio.Nursery,
                          task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """trio.serve_listeners, with each listener's waiting connections accepted
    in one go (``accept_waiting``)."""
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(accept_waiting, listener, handler, handler_nursery)
        task_status.started()


async def accept_waiting(listener: trio.SocketListener, handler: Handler, handlers: trio.Nursery) -> None:
    """Accept every connection that is waiting, then wait for more.

    trio's accept passes through the scheduler after each connection, so 128
    clients arriving together took 128 passes, each one longer while the
    streams already open ran (bench/README.md: the slowest first events). A
    second descriptor of the listening socket accepts without that.
    """
    listening = listener.socket
    accepting = socket.socket(fileno=os.dup(listening.fileno()))  # (non-blocking: the flag is the socket's)
    try:
        while True:
            await trio.lowlevel.wait_readable(listening)
            for _ in range(ACCEPT_BATCH):  # (then a pass through the scheduler: a backlog cannot starve the rest)
                try:
                    sock, _ = accepting.accept()
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno in ACCEPT_GONE_ERRNOS:
                        continue
                    if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                        raise
                    log.error("cannot accept a connection (%s); trying again in %g s", os.strerror(exc.errno),
                              ACCEPT_CAPACITY_SLEEP_S)
                    await trio.sleep(ACCEPT_CAPACITY_SLEEP_S)
                    break
                try:
                    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
                except OSError as exc:  # (it went away before its options could be set)
                    sock.close()
                    log.debug("dropped a connection as it was accepted: %s", exc)
                    continue
                handlers.start_soon(_run_handler, handler, stream)
    finally:
        accepting.close()
        listening.close()  # (stopping accepting closes the port: new clients are refused, not left waiting)


async def _run_handler(handler: Handler, stream: trio.SocketStream) -> None:
    try:
        await handler(stream)
    finally:
        await trio.aclose_forcefully(stream)
