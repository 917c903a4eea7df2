"""What a handler answers through: a whole body, or a stream of server-sent events."""

from __future__ import annotations

from typing import Callable

import h11

from .connection import Connection, Timer

SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


class Responder:
    """What a handler uses to answer: a body, or a stream of SSE bytes.

    A stream's head goes out together with its first bytes, so a handler can
    still choose an error status until it has something to send. Whether the
    connection closes afterwards is decided when the head is sent (a drain may
    have begun meanwhile). A HEAD request gets the head alone. ``headers`` go
    on every head (the application's request id, say).
    """

    __slots__ = ("_conn", "headers", "head_only", "close", "status", "started", "ended")

    def __init__(self, conn: Connection, *, method: str = "GET", close: Callable[[], bool] = lambda: False) -> None:
        self._conn = conn
        self.headers: list[tuple[str, str]] = []
        self.head_only = method == "HEAD"
        self.close = close
        self.status: int | None = None
        self.started = False
        self.ended = False

    def _head(self, status: int, headers: tuple[tuple[str, str], ...]) -> h11.Response:
        self.status = status
        self.started = True
        all_headers = [*headers, *self.headers]
        unread = self._conn.h11.their_state is not h11.DONE  # answering before the whole request arrived
        if self.close() or self._conn.overflowed or unread:
            all_headers.append(("connection", "close"))
        return h11.Response(status_code=status, headers=all_headers)

    async def send_body(self, status: int, body: bytes, content_type: str,
                        headers: tuple[tuple[str, str], ...] = ()) -> None:
        head = self._head(status, (("content-type", content_type), ("content-length", str(len(body))), *headers))
        self.ended = True
        if self.head_only:
            await self._conn.send(head, h11.EndOfMessage())
        else:
            await self._conn.send(head, h11.Data(data=body), h11.EndOfMessage())

    async def write(self, data: bytes) -> None:
        """Stream bytes, sending the 200 event-stream head first if needed.

        After the head, chunks are framed here rather than by h11 (which only
        needs to see the EndOfMessage): the same bytes, less work per event.
        """
        if not data:
            return
        if not self.started:
            await self._conn.send(self._head(200, SSE_HEADERS), h11.Data(data=data))
        else:
            await self._conn.send_bytes(b"%x\r\n%b\r\n" % (len(data), data))

    async def end(self) -> None:
        if not self.started:
            await self._conn.send(self._head(200, SSE_HEADERS))
        self.ended = True
        await self._conn.send(h11.EndOfMessage())

    @property
    def can_send(self) -> bool:
        """Nothing sent yet, and the client is still there to be answered."""
        return not self.started and self._conn.can_respond and not self._conn.client_gone

    # ---- the request's timer, run by the connection's watcher (one task for both)

    def set_timer(self, timer: Timer | None) -> None:
        """Have ``timer.fire()`` called whenever its ``due()`` time passes."""
        self._conn.set_timer(timer)

    async def clear_timer(self) -> None:
        """No more timer; returns once a run of it already begun is over, so
        nothing it writes can follow what the caller writes next."""
        await self._conn.clear_timer()

    @property
    def writing(self) -> bool:
        """A write is waiting for the client to take its bytes (a slow client)."""
        return self._conn.writing
