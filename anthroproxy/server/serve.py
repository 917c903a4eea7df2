"""The HTTP/1.1 server: listeners, the per-connection keep-alive loop, limits,
timeouts, and a graceful drain.

Structure (one nursery per concern, as hypercorn's trio runner does):

    serve()
    └── handler nursery: one task per connection (handle_connection)
        │   └── per request: a nursery with the handler and a disconnect watcher
        └── accept nursery: trio.serve_listeners, cancelled to stop accepting

Drain (``Server.shutdown()``, or SIGINT/SIGTERM in the CLI): stop accepting,
close idle keep-alive connections, let requests in flight finish for
``shutdown_grace`` seconds, then cut their waits for the upstream (a 529, or an
error event in a stream already begun) and close everything.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import partial

import h11
import trio

from ..config import Config
from ..errors import (
    HeadersTooLarge,
    InvalidRequest,
    Overloaded,
    ProxyError,
    RequestTimeout,
    RequestTooLarge,
    Unauthorized,
    UpstreamError,
    redact,
)
from ..context import RequestContext, request_secrets
from ..handlers import HANDLERS
from ..ids import request_id
from ..logs import AccessRecord, log, log_access
from ..router import route, split_target
from ..upstream import Upstream, client_key
from .connection import ClientGone, Connection, Responder
from .listeners import open_listeners
from .state import Server, ServerState

# After the grace period, interrupted streams get this long to write their error event.
FINAL_WRITE_S = 2.0


async def serve(config: Config, *, reuse_port: bool = False,
                task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until ``Server.shutdown()`` is called (graceful) or the caller's scope
    is cancelled (immediate). Reports a ``Server`` with the bound port(s), so
    ``config.port`` may be 0. With ``reuse_port``, other processes may listen on
    the same port (workers.py)."""
    listeners = await open_listeners(config.host, config.port, reuse_port=reuse_port)
    server = Server(config.host, tuple(listener.socket.getsockname()[1] for listener in listeners))
    if config.auth_token is None and not all(_is_loopback(listener.socket.getsockname()[0]) for listener in listeners):
        log.warning("listening on %s without --auth-token: anyone who can reach it can use the upstream%s",
                    config.host, " key" if config.api_key else "")
    try:
        async with Upstream(config) as upstream:
            state = ServerState(config, upstream)
            async with trio.open_nursery() as handlers:
                async with trio.open_nursery() as accepting:
                    await accepting.start(
                        partial(trio.serve_listeners, handler_nursery=handlers),
                        partial(handle_connection, state=state),
                        listeners,
                    )
                    task_status.started(server)
                    await server._shutdown.wait()
                    accepting.cancel_scope.cancel()
                await drain(state, handlers)
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        server.closed.set()


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


async def drain(state: ServerState, handlers: trio.Nursery) -> None:
    log.info("shutting down: %d open connection(s), grace %gs", state.active_connections, state.config.shutdown_grace)
    state.begin_drain()
    with trio.move_on_after(state.config.shutdown_grace):
        await state.wait_all_closed()
    if state.active_connections:
        log.warning("grace period over: cutting %d request(s) short with overloaded_error", len(state.interrupters))
        state.interrupt_requests()
        with trio.move_on_after(FINAL_WRITE_S):
            await state.wait_all_closed()
    handlers.cancel_scope.cancel()


async def handle_connection(stream: trio.SocketStream, *, state: ServerState) -> None:
    conn = Connection(stream, max_header_bytes=state.config.max_header_bytes)
    admitted = state.connection_opened()
    try:
        if not admitted:
            request = await read_request_head(conn, state, first=True)
            if request is not None:
                log.warning("connection limit (%d) reached and no idle connection to close: answering 529",
                            state.config.max_connections)
                overloaded = Overloaded("the proxy has too many open connections; retry shortly")
                await send_early_error(conn, state, overloaded, request)
            return
        first = True
        while True:
            request = await read_request_head(conn, state, first=first)
            first = False
            if request is None:
                return
            if not await handle_request(conn, request, state):
                return
            conn.h11.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, ClientGone):
        return
    except Exception:
        # Whatever one connection does, it must not reach the handler nursery and stop the server.
        log.exception("connection error; closing the connection")
    finally:
        state.connection_closed()


async def read_request_head(conn: Connection, state: ServerState, *, first: bool) -> h11.Request | None:
    """The next request's head, or None when the connection should close.

    Waiting for the first byte of a keep-alive request uses the idle timeout
    (and ends at once when draining); from the first byte on, the whole head
    must arrive within the header timeout.
    """
    config = state.config
    if not conn.has_buffered_bytes:
        wait = config.header_timeout if first else config.keepalive_timeout
        with state.idle():
            with trio.move_on_after(wait):
                await conn.receive()
        if not conn.has_buffered_bytes and not conn.client_gone:
            return None  # idle timeout, or draining
    try:
        with trio.move_on_after(config.header_timeout) as scope:
            event = await conn.next_event()
    except h11.RemoteProtocolError as exc:
        # h11's message may quote the offending header line, credentials included: not repeated.
        error: ProxyError = (
            HeadersTooLarge("request headers are too large")
            if exc.error_status_hint == 431
            else InvalidRequest("malformed HTTP request head")
        )
        await send_early_error(conn, state, error)
        return None
    if scope.cancelled_caught:
        await send_early_error(conn, state, RequestTimeout("request headers took too long to arrive"))
        return None
    if isinstance(event, h11.Request):
        if _head_size(event) > config.max_header_bytes:
            # h11 only bounds a head still arriving; one that came in a single read is checked here.
            await send_early_error(conn, state, HeadersTooLarge("request headers are too large"))
            return None
        return event
    return None  # ConnectionClosed


async def send_early_error(conn: Connection, state: ServerState, error: ProxyError,
                           request: h11.Request | None = None) -> None:
    """Answer a request that never reached a handler (a bad head, the connection
    limit); it is logged and counted as any other, its method and path "-" when
    its head could not be read."""
    method, path = "-", "-"
    if request is not None:
        method, path = request.method.decode("ascii", "replace"), split_target(request.target.decode("latin-1"))[0]
    access = AccessRecord(method=method, path=path, request_id=request_id(), started_at=trio.current_time(),
                          error=error.error_type)
    if conn.can_respond and not conn.client_gone:
        responder = Responder(conn, access.request_id, close=lambda: True)
        with trio.move_on_after(5):
            await responder.send_error(error)
        access.status = responder.status
    log.debug("request %s refused before routing: %s", access.request_id, error.message)
    duration = trio.current_time() - access.started_at
    state.metrics.record(access, duration)
    log_access(access, duration)


async def handle_request(conn: Connection, request: h11.Request, state: ServerState) -> bool:
    """Answer one request. True if the connection can serve another."""
    method = request.method.decode("ascii", "replace")
    path, query = split_target(request.target.decode("latin-1"))
    access = AccessRecord(method=method, path=path, request_id=request_id(), started_at=trio.current_time())
    responder = Responder(conn, access.request_id, method=method, close=lambda: state.draining)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
    failure: ProxyError | None = None
    try:
        body = await read_body(conn, request, state.config)  # read first: a 404 keeps the connection
        access.route = route(method, path)
        if access.route not in OPEN_ROUTES:
            authorize(state.config, headers)
        handler = HANDLERS[access.route]
        with state.request() as interrupter:
            ctx = RequestContext(
                config=state.config,
                upstream=state.upstream,
                metrics=state.metrics,
                path=path,
                query=query,
                headers=headers,
                body=body,
                responder=responder,
                access=access,
                server_started_at=state.started_at,
                interrupter=interrupter,
            )
            failure = await run_handler(conn, handler, ctx)
    except ProxyError as error:
        failure = error
    try:
        if failure is not None:
            redact(failure, request_secrets(state.config, headers))
            access.error = failure.error_type
            if isinstance(failure, UpstreamError):
                access.upstream_failed(failure.kind)
                log.warning("request %s: the upstream %s: %s", access.request_id, failure.what, failure.message)
            else:
                log.debug("request %s failed: %s %s", access.request_id, failure.status, failure.message)
            if not responder.started and conn.can_respond and not conn.client_gone:
                await responder.send_error(failure)
    finally:
        access.status = responder.status
        access.client_gone = conn.client_gone and not responder.ended
        duration = trio.current_time() - access.started_at
        state.metrics.record(access, duration)
        log_access(access, duration)
    return (
        not conn.client_gone
        and not conn.overflowed
        and not state.draining
        and conn.h11.our_state is h11.DONE
        and conn.h11.their_state is h11.DONE
    )


# Routes answered without the proxy's auth token: probes and the scraper.
OPEN_ROUTES = ("health", "root", "metrics")


def authorize(config: Config, headers: dict[str, str]) -> None:
    """With --auth-token set, the client must present it (x-api-key or Bearer);
    compared in constant time."""
    if config.auth_token is None:
        return
    presented = client_key(headers) or ""
    if not hmac.compare_digest(presented.encode(), config.auth_token.encode()):
        raise Unauthorized("invalid or missing proxy token: send it in x-api-key or Authorization: Bearer")


async def run_handler(conn: Connection, handler, ctx: RequestContext) -> ProxyError | None:
    """Run a handler beside a disconnect watcher; return the error to answer with.

    Every exception is dealt with inside the nursery (none leaves it wrapped in an
    ExceptionGroup), and the error response is sent by the caller, after it.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.watch_for_disconnect, nursery.cancel_scope)
        try:
            await handler(ctx)
        except ProxyError as error:
            return error
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            conn.client_gone = True
        except Exception:
            log.exception("request %s: unexpected error", ctx.access.request_id)
            return ProxyError("internal error in the proxy")
        finally:
            nursery.cancel_scope.cancel()
    return None


async def read_body(conn: Connection, request: h11.Request, config: Config) -> bytes:
    limit = config.max_body_bytes
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise RequestTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    if conn.h11.they_are_waiting_for_100_continue:
        await conn.send(h11.InformationalResponse(status_code=100, headers=[]))
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            with trio.move_on_after(config.body_timeout) as scope:
                event = await conn.next_event()
        except h11.RemoteProtocolError:
            raise InvalidRequest("malformed request body framing") from None
        if scope.cancelled_caught:
            raise RequestTimeout(f"no request body bytes arrived for {config.body_timeout:g}s")
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise RequestTooLarge(f"request body is larger than the limit of {limit} bytes")
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise ClientGone()


def _head_size(request: h11.Request) -> int:
    return len(request.method) + len(request.target) + sum(len(k) + len(v) + 4 for k, v in request.headers)


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has validated it
    return None

