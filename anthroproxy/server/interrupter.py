"""Cutting a request's waits for the upstream, and only those."""

from __future__ import annotations

from types import TracebackType

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

    def guard(self) -> InterruptScope:
        """A scope around one wait: a cut cancels it at once."""
        return InterruptScope(self, waiting=True)

    def relay(self) -> InterruptScope:
        """A scope around a relay loop, which sets ``waiting`` around each read itself."""
        return InterruptScope(self, waiting=False)


class InterruptScope:
    """An Interrupter's cancel scope (a class, not a generator: a request enters
    a few, and a generator-based context manager costs several times more)."""

    __slots__ = ("_interrupter", "_waiting", "_scope")

    def __init__(self, interrupter: Interrupter, *, waiting: bool) -> None:
        self._interrupter, self._waiting = interrupter, waiting
        self._scope = trio.CancelScope()

    def __enter__(self) -> Interrupter:
        interrupter, scope = self._interrupter, self._scope
        scope.__enter__()
        interrupter._scope = scope
        if interrupter.reason is not None:
            scope.cancel()
        if self._waiting:
            interrupter.waiting = True
        return interrupter

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        interrupter, scope = self._interrupter, self._scope
        if self._waiting:
            interrupter.waiting = False
        interrupter._scope = None
        handled = scope.__exit__(kind, error, traceback)
        if scope.cancelled_caught and interrupter.reason is not None:
            raise interrupter.reason
        return handled
