"""What the shell and its application agree on: the Request the application
gets, the Application the shell calls, and the ErrorResponse the application
renders for a failure. The shell knows nothing else of the application (as
hypercorn's trio worker and h11's example server take theirs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Protocol

from .connection import Connection
from .interrupter import Interrupter
from .responder import Responder


@dataclass(slots=True, eq=False)
class Request:
    """One request, as the application gets it. A request refused before it
    could be read (a bad head, the connection limit) has method and path "-"."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names in lower case (h11's); a repeated header keeps its last value
    started_at: float  # trio's clock
    responder: Responder
    body: bytes = b""
    interrupter: Interrupter = field(default_factory=Interrupter)
    state: Any = None  # the application's own, for this request
    _conn: Connection | None = None

    @property
    def client_gone(self) -> bool:
        return self._conn is not None and self._conn.client_gone


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class Application(Protocol):
    """What the shell calls, for every request (``failed`` and ``finished``
    for requests refused before ``handle`` too)."""

    def handle(self, request: Request) -> Awaitable[None]:
        """An awaitable that answers through ``request.responder``. An
        exception it raises (the call or the await) is passed to ``failed``;
        if nothing was sent yet, what ``failed`` renders is the answer."""

    def failed(self, request: Request, error: Exception) -> ErrorResponse:
        """The answer for ``error``: one the shell raised (errors.py), or one
        from ``handle``, expected or not. Called once per failed request."""

    def finished(self, request: Request) -> None:
        """The request is over, answered or not."""
