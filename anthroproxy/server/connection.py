"""One h11 connection over one trio stream, and the responder handlers write to.

The only code that touches the socket for a connection. ``send_failed`` is
called whenever a send breaks, so h11's state stays truthful (h11's own trio
example does the same).
"""

from __future__ import annotations

import math
import os
from typing import Callable, Iterator, Protocol
from contextlib import contextmanager

import h11
import trio

from .. import jsonbytes
from ..rawio import Reader
from ..errors import ProxyError, ShuttingDown, error_body

# Bytes of pipelined requests buffered while a response is being produced. Past
# this the connection is closed after the current response, and the watcher
# discards what arrives (still watching for the client leaving).
MAX_PIPELINED_BYTES = 1024 * 1024

JSON_TYPE = ("content-type", "application/json")
SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


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
        self._fd = stream.socket.fileno()
        self._reader = Reader(self._fd)  # (reads straight off the socket: rawio.py)
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
        """Write at once what the socket takes, await only for the rest.

        Most writes fit the socket buffer, and a direct non-blocking write then
        costs one syscall instead of a pass through trio's scheduler (measured:
        bench/README.md). A client too slow to take the bytes still gets
        backpressure: the remainder waits in send_all.
        """
        while self._writing is not None:  # another task's write is still going out: wait for it
            await self._writing.wait()
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:  # reset, broken pipe
            self.h11.send_failed()
            raise trio.BrokenResourceError(str(exc)) from exc
        if written < len(data):
            self._writing = trio.Event()
            try:
                await self.stream.send_all(memoryview(data)[written:])
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


class Responder:
    """What a handler uses to answer: a JSON body, or a stream of SSE bytes.

    A stream's head goes out together with its first bytes, so a handler can
    still choose an error status until it has something to send. Whether the
    connection closes afterwards is decided when the head is sent (a drain may
    have begun meanwhile). A HEAD request gets the head alone.
    """

    def __init__(self, conn: Connection, request_id: str, *, method: str = "GET",
                 close: Callable[[], bool] = lambda: False) -> None:
        self.conn = conn
        self.request_id = request_id
        self.head_only = method == "HEAD"
        self.close = close
        self.status: int | None = None
        self.started = False
        self.ended = False

    def _head(self, status: int, headers: tuple[tuple[str, str], ...]) -> h11.Response:
        self.status = status
        self.started = True
        all_headers = [*headers, ("request-id", self.request_id)]
        unread = self.conn.h11.their_state is not h11.DONE  # answering before the whole request arrived
        if self.close() or self.conn.overflowed or unread:
            all_headers.append(("connection", "close"))
        return h11.Response(status_code=status, headers=all_headers)

    async def send_json(self, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = payload if isinstance(payload, bytes) else jsonbytes.dump(payload)
        await self.send_body(status, body, JSON_TYPE[1], headers)

    async def send_body(self, status: int, body: bytes, content_type: str,
                        headers: tuple[tuple[str, str], ...] = ()) -> None:
        head = self._head(status, (("content-type", content_type), ("content-length", str(len(body))), *headers))
        self.ended = True
        if self.head_only:
            await self.conn.send(head, h11.EndOfMessage())
        else:
            await self.conn.send(head, h11.Data(data=body), h11.EndOfMessage())

    async def send_error(self, error: ProxyError) -> None:
        body = error_body(error.error_type, error.message, self.request_id)
        await self.send_json(error.status, body, error.headers)

    async def write(self, data: bytes) -> None:
        """Stream bytes, sending the 200 event-stream head first if needed.

        After the head, chunks are framed here rather than by h11 (which only
        needs to see the EndOfMessage): the same bytes, less work per event.
        """
        if not data:
            return
        if not self.started:
            await self.conn.send(self._head(200, SSE_HEADERS), h11.Data(data=data))
        else:
            await self.conn.send_bytes(b"%x\r\n%b\r\n" % (len(data), data))

    async def end(self) -> None:
        if not self.started:
            await self.conn.send(self._head(200, SSE_HEADERS))
        self.ended = True
        await self.conn.send(h11.EndOfMessage())


class Interrupter:
    """Cuts a request's wait for the upstream, and only that: a cancel landing
    in a client write would leave a half-sent chunk. The server's drain cuts
    with ShuttingDown (529 overloaded_error); a stream's silence watchdog with
    UpstreamTimeout. The reason then takes the place of the upstream's answer.

    ``guard()`` wraps one wait (sending the request, reading a JSON answer). A
    stream relay keeps one ``relay()`` scope for its whole loop and sets
    ``waiting`` around each read, which is cheaper than a scope per read: a cut
    cancels the scope only while a read waits, and otherwise leaves ``reason``
    for the loop to see after its write.
    """

    __slots__ = ("reason", "waiting", "_scope")

    def __init__(self) -> None:
        self.reason: ProxyError | None = None
        self.waiting = False
        self._scope: trio.CancelScope | None = None

    def interrupt(self, reason: ProxyError | None = None) -> None:
        if self.reason is None:
            self.reason = reason or ShuttingDown("the proxy is shutting down; retry the request")
        if self._scope is not None and self.waiting:
            self._scope.cancel()

    def forgive(self) -> None:
        """Forget a cut that was not the drain's (the silence of one upstream,
        before another is tried)."""
        if not isinstance(self.reason, ShuttingDown):
            self.reason = None

    @contextmanager
    def guard(self) -> Iterator[None]:
        with self.relay():
            self.waiting = True
            try:
                yield
            finally:
                self.waiting = False

    @contextmanager
    def relay(self) -> Iterator[Interrupter]:
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.reason is not None:
                scope.cancel()
            try:
                yield self
            finally:
                self._scope = None
        if scope.cancelled_caught and self.reason is not None:
            raise self.reason
