"""One h11 connection over one trio stream: its reads, its writes, and the
watcher that runs beside a request (the client leaving, the request's timer).

The only code that touches the socket for a connection. ``send_failed`` is
called whenever a send breaks, so h11's state stays truthful (h11's own trio
example does the same).
"""

from __future__ import annotations

import math
from typing import Protocol

import h11
import trio

from ..netio.reader import Reader
from ..netio.writer import Writer

# Bytes of pipelined requests buffered while a response is being produced. Past
# this the connection is closed after the current response, and the watcher
# discards what arrives (still watching for the client leaving).
MAX_PIPELINED_BYTES = 1024 * 1024


class ClientGone(Exception):
    """The client closed or reset its connection."""


class Timer(Protocol):
    """Work a request wants done at a time (a stream's pings and its limit on
    upstream silence), run by the connection's watcher: one task per request
    for both, not two."""

    def due(self) -> float:
        """When ``fire`` is next wanted (trio's clock); it may move later meanwhile."""

    async def fire(self) -> None:
        """Called once ``due()`` has passed."""


class Connection:
    def __init__(self, stream: trio.SocketStream, *, max_header_bytes: int) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_header_bytes)
        self.client_gone = False
        self.overflowed = False  # too many pipelined bytes: close after this response
        fd = stream.socket.fileno()
        self._reader = Reader(fd)  # (reads and writes straight off the socket: netio/)
        self._writer = Writer(fd)
        # Set while a write waits for the client: a second task (the stream's
        # keep-alive pings) must not slip bytes into the middle of it.
        self._writing: trio.Event | None = None
        self.timer: Timer | None = None
        self._watching: trio.CancelScope | None = None  # the watcher's wait, while it waits
        self._firing: trio.Event | None = None  # set while the watcher runs the timer

    @property
    def has_buffered_bytes(self) -> bool:
        return bool(self.h11.trailing_data[0])

    @property
    def can_respond(self) -> bool:
        return self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def receive(self) -> None:
        try:
            data = await self._reader.receive()
        except (OSError, trio.ClosedResourceError):  # (reset, or closed while waiting)
            data = b""
        if not data:
            self.client_gone = True
        self.h11.receive_data(data)

    async def next_event(self) -> h11.Event:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            await self.receive()

    async def send(self, *events: h11.Event) -> None:
        """Send events as one write: a JSON response goes out in one segment."""
        await self.send_bytes(b"".join(self.h11.send(event) or b"" for event in events))

    async def send_bytes(self, data: bytes) -> None:
        """Write the bytes (netio/writer.py: at once when the socket takes
        them, which is most of the time). A failed write raises
        trio.BrokenResourceError, and h11 learns of it."""
        while self._writing is not None:  # another task's write is still going out: wait for it
            await self._writing.wait()
        try:
            rest = self._writer.write_now(data)
        except OSError as exc:  # reset, broken pipe
            self.h11.send_failed()
            raise trio.BrokenResourceError(str(exc)) from exc
        if rest is None:
            return
        self._writing = trio.Event()  # (only for a write that waits: the common one costs nothing more)
        try:
            await self._writer.send_rest(rest)
        except OSError as exc:
            self.h11.send_failed()
            raise trio.BrokenResourceError(str(exc)) from exc
        except BaseException:
            self.h11.send_failed()
            raise
        finally:
            self._writing.set()
            self._writing = None

    @property
    def writing(self) -> bool:
        """A write is waiting for the client to take its bytes."""
        return self._writing is not None

    def set_timer(self, timer: Timer | None) -> None:
        """Have the watcher run ``timer`` from now on (again, when its ``due()``
        may have moved earlier)."""
        self.timer = timer
        if self._watching is not None:
            self._watching.deadline = timer.due() if timer is not None else math.inf

    async def clear_timer(self) -> None:
        """No more timer; returns once a run of it already begun is over, so
        nothing it writes can follow what the caller writes next."""
        self.set_timer(None)
        if self._firing is not None:
            await self._firing.wait()

    async def watch_for_disconnect(self, cancel_scope: trio.CancelScope) -> None:
        """Read while a response is produced; cancel it if the client leaves.
        Meanwhile, run the request's timer when it is due.

        Bytes that arrive meanwhile are the client's next (pipelined) requests:
        they wait in h11's buffer, up to MAX_PIPELINED_BYTES.
        """
        try:
            while not self.client_gone:
                timer = self.timer
                with trio.CancelScope(deadline=timer.due() if timer is not None else math.inf) as self._watching:
                    await self._watch_once()
                self._watching = None
                timer = self.timer
                if timer is not None and not self.client_gone and trio.current_time() >= timer.due():
                    self._firing = trio.Event()
                    try:
                        await timer.fire()
                    finally:
                        self._firing.set()
                        self._firing = None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.client_gone = True  # (a timer's write found the client gone)
        finally:
            self._watching = None
        cancel_scope.cancel()

    async def _watch_once(self) -> None:
        if self.overflowed:
            await self._discard_until_eof()
        elif len(self.h11.trailing_data[0]) > MAX_PIPELINED_BYTES:
            self.overflowed = True
        else:
            await self.receive()

    async def _discard_until_eof(self) -> None:
        try:
            data = await self._reader.receive()
        except (OSError, trio.ClosedResourceError):
            data = b""
        self.client_gone = not data
