"""What the server knows across connections: the Server handle given to
embedders, and the state the drain works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from .interrupter import Interrupter
from .settings import HTTPSettings


@dataclass(eq=False)
class Server:
    """What ``serve`` reports through ``task_status.started``."""

    host: str
    ports: tuple[int, ...]
    _shutdown: trio.Event = field(default_factory=trio.Event, repr=False)
    closed: trio.Event = field(default_factory=trio.Event, repr=False)

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def shutting_down(self) -> bool:
        return self._shutdown.is_set()

    def shutdown(self) -> None:
        """Begin a graceful drain; ``serve`` returns when it is over."""
        self._shutdown.set()


class ServerState:
    def __init__(self, settings: HTTPSettings) -> None:
        self.settings = settings
        self.draining = False
        self.draining_over = False  # the grace period has run out
        self.active_connections = 0
        self.idle_scopes: dict[trio.CancelScope, None] = {}  # oldest first
        self.interrupters: set[Interrupter] = set()  # one per request in a handler
        self._all_closed = trio.Event()

    def connection_opened(self) -> bool:
        """Count a new connection; False if it is over the limit and no idle
        keep-alive connection could be closed to make room for it."""
        self.active_connections += 1
        if self.active_connections <= self.settings.max_connections:
            return True
        if self.idle_scopes:
            next(iter(self.idle_scopes)).cancel()  # the longest idle: its client will simply reconnect
            return True
        return False

    def connection_closed(self) -> None:
        self.active_connections -= 1
        if self.active_connections == 0:
            self._all_closed.set()

    async def wait_all_closed(self) -> None:
        if self.active_connections:
            self._all_closed = trio.Event()
            await self._all_closed.wait()

    def idle(self, seconds: float) -> trio.CancelScope:
        """A wait of at most ``seconds`` for the next request on a keep-alive
        connection, which a drain ends: enter the scope, and ``not_idle`` it after.
        (A plain scope with a deadline, not a generator: one per request.)"""
        scope = trio.CancelScope(deadline=trio.current_time() + seconds)
        if self.draining:
            scope.cancel()
        self.idle_scopes[scope] = None
        return scope

    def not_idle(self, scope: trio.CancelScope) -> None:
        self.idle_scopes.pop(scope, None)

    def request_began(self) -> Interrupter:
        """A request in a handler: the drain's grace period running out interrupts it
        (``request_ended`` after)."""
        interrupter = Interrupter()
        if self.draining_over:
            interrupter.interrupt()
        self.interrupters.add(interrupter)
        return interrupter

    def request_ended(self, interrupter: Interrupter) -> None:
        self.interrupters.discard(interrupter)

    def begin_drain(self) -> None:
        self.draining = True
        for scope in list(self.idle_scopes):
            scope.cancel()

    def interrupt_requests(self) -> None:
        self.draining_over = True
        for interrupter in list(self.interrupters):
            interrupter.interrupt()
