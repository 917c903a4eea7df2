"""Writing a non-blocking socket directly, under trio (the server's client
connections and the upstream transport share it).

Most writes fit the socket's buffer, and a direct non-blocking write then
costs one syscall instead of a pass through trio's scheduler (bench/README.md,
issue 14). A peer too slow to take the bytes still gets backpressure: the
rest waits until the socket has room.
"""

from __future__ import annotations

import os

import trio


class Writer:
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write_now(self, data: bytes) -> memoryview | None:
        """Write what the socket takes now, without waiting; what is left, if
        any, for ``send_rest``. OSError as the socket raises it (a reset, a
        broken pipe)."""
        try:
            written = os.write(self.fd, data)
        except BlockingIOError:
            written = 0
        return memoryview(data)[written:] if written < len(data) else None

    async def send_rest(self, view: memoryview) -> None:
        """Write the rest as the socket makes room for it; OSError as the
        socket raises it, trio.ClosedResourceError if it is closed meanwhile.
        A cancel leaves part of it written."""
        while view:
            await trio.lowlevel.wait_writable(self.fd)
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
