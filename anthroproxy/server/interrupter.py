"""Cutting a request's waits for the upstream, and only those."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import trio

from .errors import ShuttingDown


class Interrupter:
    """Cuts a request's wait for the upstream, and only that: a cancel landing
    in a client write would leave a half-sent chunk. The server's drain cuts
    with ShuttingDown (errors.py); the application may cut with a reason of its
    own (a stream's silence watchdog: a timeout). The reason is raised where
    the wait was, in place of the upstream's answer.

    ``guard()`` wraps one wait (sending the request, reading a JSON answer). A
    stream relay keeps one ``relay()`` scope for its whole loop and sets
    ``waiting`` around each read, which is cheaper than a scope per read: a cut
    cancels the scope only while a read waits, and otherwise leaves ``reason``
    for the loop to see after its write.
    """

    __slots__ = ("reason", "waiting", "_scope")

    def __init__(self) -> None:
        self.reason: Exception | None = None
        self.waiting = False
        self._scope: trio.CancelScope | None = None

    def interrupt(self, reason: Exception | None = None) -> None:
        if self.reason is None:
            self.reason = reason or ShuttingDown("the server is shutting down; retry the request")
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
