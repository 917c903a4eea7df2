"""Reading a non-blocking socket directly, under trio (the server's client
connections and the upstream transport share it).

trio's ``receive_some`` passes through the scheduler after every read, even
one that found its bytes waiting. Here a read tries the socket first and waits
only when it is empty: a read costs one wake-up at most, and under load every
pass through the scheduler saved is a pass every waiting request is spared. So
that one busy peer cannot starve the others (nor keep a cancel from landing),
every READS_PER_CHECKPOINT-th read in a row that did not wait yields anyway
(shielded: the bytes are read by then, and a cancel must not drop them).
"""

from __future__ import annotations

import os

import trio

RECEIVE_BYTES = 64 * 1024
READS_PER_CHECKPOINT = 16


class Reader:
    __slots__ = ("fd", "_unwaited")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._unwaited = 0

    async def receive(self, size: int = RECEIVE_BYTES) -> bytes:
        """The next bytes (b"" at the end); OSError as the socket raises it."""
        while True:
            try:
                data = os.read(self.fd, size)
            except BlockingIOError:
                self._unwaited = 0
                await trio.lowlevel.wait_readable(self.fd)
                continue
            self._unwaited += 1
            if self._unwaited >= READS_PER_CHECKPOINT:
                self._unwaited = 0
                await trio.lowlevel.cancel_shielded_checkpoint()  # (a cancel here would lose what was read)
            return data
