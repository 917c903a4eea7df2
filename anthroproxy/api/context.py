"""What a handler works with: the request's context, and the mapping of what
the server raises into its waits (httpcore's idiom: each layer's exceptions
mapped at its boundary)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .. import server
from ..config.clients import ClientSpec
from ..config.models import RouteCache
from ..config.settings import Config
from ..core import jsonbytes
from ..core.credentials import client_key
from ..core.errors import ShuttingDown
from ..observe.logs import AccessRecord
from ..observe.metrics import Metrics
from ..state import ClientState
from ..upstream.upstreams import Upstreams

JSON = "application/json"


@dataclass(slots=True)
class RequestContext:
    config: Config
    upstreams: Upstreams
    metrics: Metrics
    routes: RouteCache
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    responder: server.Responder
    access: AccessRecord
    server_started_at: float
    # Lets a draining server, or the stream's silence watchdog, cut this request's waits for the upstream.
    interrupter: server.Interrupter
    # The client its key names ([clients]); None: no client keys, or the --auth-token holder (sees everything).
    client: ClientSpec | None = None
    clients: ClientState | None = None
    board: Any = None  # (dashboard.py's Board, above this module: what the dashboard and the status line read)

    # ---- what a protocol sees of the request (upstream/protocols/base.py: Origin)

    @property
    def request_id(self) -> str:
        return self.access.request_id

    @property
    def secrets(self) -> tuple[str, ...]:
        return request_secrets(self.config, self.headers, self.upstreams)

    def guard(self) -> DrainMapped:
        """One interruptible wait for the upstream."""
        return DrainMapped(self.interrupter.guard())

    def sending(self) -> None:
        self.access.upstream_open = True  # (until the answer has been read to the end)

    def retrying(self, kind: str) -> None:
        self.access.upstream_failed(kind)

    async def send_json(self, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> None:
        await self.responder.send_body(status, jsonbytes.dump(payload), JSON, headers)


class DrainMapped:
    """An interrupter's scope, the server's drain cutting it raised as the
    proxy's 529 overloaded_error. (A class: one per wait for the upstream, and
    a generator-based context manager costs several times more.)"""

    __slots__ = ("_scope",)

    def __init__(self, scope: server.InterruptScope) -> None:
        self._scope = scope

    def __enter__(self) -> server.Interrupter:
        return self._scope.__enter__()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        try:
            handled = self._scope.__exit__(kind, error, traceback)
        except server.ShuttingDown as cut:
            raise drained() from cut
        if not handled and isinstance(error, server.ShuttingDown):  # (raised in the body: a relay's loop)
            raise drained() from error
        return handled


def drained() -> ShuttingDown:
    return ShuttingDown("the proxy is shutting down; retry the request")


def is_authorized(config: Config, headers: dict[str, str]) -> bool:
    """No --auth-token, or the client presents it (compared in constant time)."""
    if config.auth_token is None:
        return True
    presented = client_key(headers) or ""
    return hmac.compare_digest(presented.encode(), config.auth_token.encode())


def request_secrets(config: Config, headers: dict[str, str], upstreams: Upstreams | None = None) -> tuple[str, ...]:
    """Credentials of a request, to be redacted from any error text: every
    upstream key and credential-like header value, and the client's own key."""
    configured = upstreams.secrets if upstreams else ()
    found = {key for key in (config.api_key, *configured, client_key(headers)) if key}
    return tuple(sorted(found, key=len, reverse=True))  # ("Bearer sk-1" goes before "sk-1")
