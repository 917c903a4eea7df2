"""The application the HTTP shell (server/) calls for every request: route,
check the proxy's token, run the handler; render every failure in
Anthropic's error shape; then the access record and the counts."""

from __future__ import annotations

import time
from typing import Awaitable

import trio

from .. import server
from ..config.clients import Clients, ClientSpec
from ..config.models import RouteCache
from ..config.settings import Config
from ..core import errors
from ..core.credentials import client_key
from ..core.errors import ProxyError, Unauthorized, UpstreamError, UpstreamHTTPError, error_body, redact
from ..core.ids import request_id
from ..observe.live import Live, session_key
from ..observe.logs import AccessRecord, log, log_access
from ..observe.metrics import Metrics
from ..state import ClientState
from ..state.fleet import Fleet
from ..upstream.balancer import SESSION_HEADER
from ..upstream.upstreams import Upstreams
from .context import RequestContext, is_authorized, request_secrets
from .dashboard import Board
from .handlers import HANDLERS
from .router import route

# Routes answered without the proxy's auth token: probes and the scraper.
# (The dashboard's page, its files and whether it needs a key are open; its figures are not.)
OPEN_ROUTES = ("health", "root", "metrics", "dashboard", "dashboard_access")
# Claude Code's session ids are UUIDs: a longer one is not kept (10,000 huge ones would fill memory).
MAX_SESSION_ID = 128
# What a client's token limits count: the tokens the upstream reported (or the estimate).
COUNTED_TOKENS = ("input_tokens", "cache_creation_input_tokens", "output_tokens")  # (cache reads not: as Anthropic counts)

# What the shell refuses on its own, as the proxy's Anthropic errors (529 where Anthropic says overloaded).
SERVER_ERRORS: dict[type[server.HTTPError], type[ProxyError]] = {
    server.BadRequest: errors.InvalidRequest,
    server.RequestTimeout: errors.RequestTimeout,
    server.ContentTooLarge: errors.RequestTooLarge,
    server.HeadersTooLarge: errors.HeadersTooLarge,
    server.Overloaded: errors.Overloaded,
    server.ShuttingDown: errors.ShuttingDown,
}


class ProxyApp:
    def __init__(self, config: Config, upstreams: Upstreams, metrics: Metrics | None = None,
                 fleet: Fleet | None = None) -> None:
        self.config = config
        self.upstreams = upstreams
        self.metrics = metrics or Metrics()
        self.board = Board(fleet or Fleet(Live()))
        self.live = self.board.fleet.live
        self.routes = RouteCache(config.model_mapping, config.default_model)
        self.started_at = trio.current_time()
        self.clients = ClientState(Clients(config.clients))

    def handle(self, request: server.Request) -> Awaitable[None]:
        """The handler's coroutine, for the server to await (returned, not
        awaited here: one frame fewer for every resumption of the request)."""
        access = self._record(request)
        access.route = route(request.method, request.path)
        client = None
        if access.route not in OPEN_ROUTES:
            client = identify(self.config, self.clients.clients, request.headers)
            access.client = client.name if client is not None else None
            session = request.headers.get(SESSION_HEADER)
            access.session = session if session and len(session) <= MAX_SESSION_ID else None
        ctx = RequestContext(
            config=self.config,
            upstreams=self.upstreams,
            metrics=self.metrics,
            routes=self.routes,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            responder=request.responder,
            access=access,
            server_started_at=self.started_at,
            interrupter=request.interrupter,
            client=client,
            clients=self.clients,
            board=self.board,
        )
        return HANDLERS[access.route](ctx)

    def failed(self, request: server.Request, error: Exception) -> server.ErrorResponse:
        """Log the failure, and render it as Anthropic does (its secrets removed)."""
        access = self._record(request)
        failure = as_proxy_error(error, access.request_id)
        redact(failure, request_secrets(self.config, request.headers, self.upstreams))
        access.error = failure.error_type
        if request.method == "-":
            log.debug("request %s refused before routing: %s", access.request_id, failure.message)
        elif isinstance(failure, UpstreamError):
            access.upstream_failed(failure.kind)
            log.warning("request %s: the upstream %s: %s", access.request_id, failure.what, failure.message)
        else:
            log.debug("request %s failed: %s %s", access.request_id, failure.status, failure.message)
        if isinstance(failure, UpstreamHTTPError) and failure.verbatim is not None:
            return self._as_it_came(request, failure, access)
        return server.ErrorResponse(failure.status, error_body(failure.error_type, failure.message, access.request_id),
                                    headers=failure.headers)

    def _as_it_came(self, request: server.Request, failure: UpstreamHTTPError,
                    access: AccessRecord) -> server.ErrorResponse:
        """An upstream's error in Anthropic's shape, as it came: its status, its
        body (less any secret it quotes), its request-id and retry-after."""
        body, headers = failure.verbatim  # type: ignore[misc]
        for secret in request_secrets(self.config, request.headers, self.upstreams):
            body = body.replace(secret.encode(), b"[redacted]")
        theirs = dict(headers).get("request-id")
        if theirs is not None:  # (the client gets the upstream's id; the log keeps both)
            request.responder.headers[:] = [h for h in request.responder.headers if h[0] != "request-id"]
            log.info("request %s: the upstream's error passed on as it came (its request-id %s)", access.request_id,
                     theirs)
        return server.ErrorResponse(failure.upstream_status or failure.status, body, headers=headers)

    def finished(self, request: server.Request) -> None:
        access = self._record(request)
        access.status = request.responder.status
        access.client_gone = request.client_gone and not request.responder.ended
        duration = trio.current_time() - access.started_at
        self.metrics.record(access, duration)
        if access.route == "messages" and access.model is not None:
            session = access.session and session_key(access.client, access.session)
            self.live.record(access, duration, time.time(), session)
        if access.route == "messages" and access.status == 200:
            self._count_usage(access)
        log_access(access, duration)

    def _count_usage(self, access: AccessRecord) -> None:
        """A message answered: the client's usage, and its token limits."""
        state = self.clients
        state.record(access.client or "-", access.model or "-", access.upstream or "-", access.usage)
        client = state.clients.by_name.get(access.client) if access.client else None
        if client is not None:
            usage = access.usage
            state.spent(client, sum(usage.get(key, 0) for key in COUNTED_TOKENS))

    @staticmethod
    def _record(request: server.Request) -> AccessRecord:
        """The request's record, made when the application first sees it; its
        id goes on every response head."""
        if request.state is None:
            rid = request_id()
            request.state = AccessRecord(method=request.method, path=request.path, request_id=rid,
                                         started_at=request.started_at)
            request.responder.headers.append(("request-id", rid))
        return request.state


def as_proxy_error(error: Exception, request_id: str) -> ProxyError:
    """Any failure as the ProxyError the client gets: the proxy's own as they
    are, the shell's mapped (SERVER_ERRORS), anything else a 500 worth a
    traceback in the log."""
    if isinstance(error, ProxyError):
        return error
    if isinstance(error, server.HTTPError):
        kind = next((SERVER_ERRORS[cls] for cls in type(error).__mro__ if cls in SERVER_ERRORS), None)
        if kind is None:  # (a refusal of the shell's this table does not know yet: its status, as a client error)
            kind = errors.InvalidRequest if error.status < 500 else errors.Overloaded
        return kind(error.message)
    log.error("request %s: unexpected error", request_id, exc_info=error)
    return ProxyError("internal error in the proxy")


def authorize(config: Config, headers: dict[str, str]) -> None:
    """With --auth-token set, the client must present it (x-api-key or Bearer)."""
    if not is_authorized(config, headers):
        raise Unauthorized("invalid or missing proxy token: send it in x-api-key or Authorization: Bearer")


def identify(config: Config, clients: Clients, headers: dict[str, str]) -> ClientSpec | None:
    """The client the request's key names; None for the --auth-token holder
    (and, with no client keys configured, for anyone --auth-token lets in)."""
    if not clients:
        authorize(config, headers)
        return None
    if config.auth_token is not None and is_authorized(config, headers):
        return None
    found = clients.find(client_key(headers))
    if found is None:
        raise Unauthorized("invalid or missing client key: send it in x-api-key or Authorization: Bearer")
    return found
