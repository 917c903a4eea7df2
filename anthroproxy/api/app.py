"""The application the HTTP shell (server/serve.py) calls for every request:
route, check the proxy's token, run the handler; then the access record and
the counts."""

from __future__ import annotations

from typing import Awaitable

import trio

from ..config import Config
from ..errors import ProxyError, Unauthorized, UpstreamError, redact
from ..logs import AccessRecord, log, log_access
from ..metrics import Metrics
from ..router import route
from ..server.serve import Request
from ..upstream.upstreams import Upstreams
from .context import RequestContext, is_authorized, request_secrets
from .handlers import HANDLERS

# Routes answered without the proxy's auth token: probes and the scraper.
OPEN_ROUTES = ("health", "root", "metrics")


class ProxyApp:
    def __init__(self, config: Config, upstreams: Upstreams, metrics: Metrics | None = None) -> None:
        self.config = config
        self.upstreams = upstreams
        self.metrics = metrics or Metrics()
        self.started_at = trio.current_time()

    def handle(self, request: Request) -> Awaitable[None]:
        """The handler's coroutine, for the server to await (returned, not
        awaited here: one frame fewer for every resumption of the request)."""
        access = self._record(request)
        access.route = route(request.method, request.path)
        if access.route not in OPEN_ROUTES:
            authorize(self.config, request.headers)
        ctx = RequestContext(
            config=self.config,
            upstreams=self.upstreams,
            metrics=self.metrics,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            responder=request.responder,
            access=access,
            server_started_at=self.started_at,
            interrupter=request.interrupter,
        )
        return HANDLERS[access.route](ctx)

    def failed(self, request: Request, error: ProxyError) -> ProxyError:
        access = self._record(request)
        redact(error, request_secrets(self.config, request.headers, self.upstreams))
        access.error = error.error_type
        if request.method == "-":
            log.debug("request %s refused before routing: %s", access.request_id, error.message)
        elif isinstance(error, UpstreamError):
            access.upstream_failed(error.kind)
            log.warning("request %s: the upstream %s: %s", access.request_id, error.what, error.message)
        else:
            log.debug("request %s failed: %s %s", access.request_id, error.status, error.message)
        return error

    def finished(self, request: Request) -> None:
        access = self._record(request)
        access.status = request.responder.status
        access.client_gone = request.client_gone and not request.responder.ended
        duration = trio.current_time() - access.started_at
        self.metrics.record(access, duration)
        log_access(access, duration)

    @staticmethod
    def _record(request: Request) -> AccessRecord:
        if request.state is None:
            request.state = AccessRecord(method=request.method, path=request.path, request_id=request.request_id,
                                         started_at=request.started_at)
        return request.state


def authorize(config: Config, headers: dict[str, str]) -> None:
    """With --auth-token set, the client must present it (x-api-key or Bearer)."""
    if not is_authorized(config, headers):
        raise Unauthorized("invalid or missing proxy token: send it in x-api-key or Authorization: Bearer")
