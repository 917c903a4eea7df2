"""The HTTP/1.1 server: listeners, the per-connection keep-alive loop, limits,
timeouts, and a graceful drain. It knows no route: it reads each request and
hands it to the application it was given (app.py says how; proxy.py wires the
proxy's), as hypercorn's trio worker and h11's example server take theirs.

Structure (one nursery per concern, as hypercorn's trio runner does):

    serve_http()
    └── handler nursery: one task per connection (handle_connection)
        │   └── per request: a nursery with the application and a disconnect watcher
        └── accept nursery: listeners.serve_listeners, cancelled to stop accepting

Drain (``Server.shutdown()``): stop accepting, close idle keep-alive
connections, let requests in flight finish for ``shutdown_grace`` seconds,
then cut their waits for the upstream (errors.ShuttingDown, raised where each
waits) and close everything.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import h11
import trio

from ..observe.logs import log
from .app import Application, ErrorResponse, Request
from .connection import ClientGone, Connection
from .errors import BadRequest, ContentTooLarge, HeadersTooLarge, HTTPError, Overloaded, RequestTimeout
from .listeners import open_listeners, serve_listeners
from .responder import Responder
from .settings import HTTPSettings
from .state import Server, ServerState

# After the grace period, interrupted streams get this long to write their error event.
FINAL_WRITE_S = 2.0
# An answer to a request refused before the application saw it gets this long to go out.
EARLY_ANSWER_S = 5.0


async def serve_http(settings: HTTPSettings, app: Application, *, reuse_port: bool = False,
                     on_listening: Callable[[list[str]], None] | None = None,
                     task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` until ``Server.shutdown()`` is called (graceful) or the
    caller's scope is cancelled (immediate). Reports a ``Server`` with the
    bound port(s), so ``settings.port`` may be 0; ``on_listening`` gets the
    bound addresses first. With ``reuse_port``, other processes may listen on
    the same port (process/workers.py)."""
    listeners = await open_listeners(settings.host, settings.port, reuse_port=reuse_port)
    server = Server(settings.host, tuple(listener.socket.getsockname()[1] for listener in listeners))
    if on_listening is not None:
        on_listening([listener.socket.getsockname()[0] for listener in listeners])
    try:
        state = ServerState(settings)
        async with trio.open_nursery() as handlers:
            async with trio.open_nursery() as accepting:
                await accepting.start(
                    partial(serve_listeners, handler_nursery=handlers),
                    partial(handle_connection, state=state, app=app),
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


async def drain(state: ServerState, handlers: trio.Nursery) -> None:
    grace = state.settings.shutdown_grace
    log.info("shutting down: %d open connection(s), grace %gs", state.active_connections, grace)
    state.begin_drain()
    with trio.move_on_after(grace):
        await state.wait_all_closed()
    if state.active_connections:
        log.warning("grace period over: cutting %d request(s) short", len(state.interrupters))
        state.interrupt_requests()
        with trio.move_on_after(FINAL_WRITE_S):
            await state.wait_all_closed()
    handlers.cancel_scope.cancel()


async def handle_connection(stream: trio.SocketStream, *, state: ServerState, app: Application) -> None:
    conn = Connection(stream, max_header_bytes=state.settings.max_header_bytes)
    admitted = state.connection_opened()
    try:
        if not admitted:
            request = await read_request_head(conn, state, app, first=True)
            if request is not None:
                log.warning("connection limit (%d) reached and no idle connection to close: refusing a request",
                            state.settings.max_connections)
                overloaded = Overloaded("the server has too many open connections; retry shortly")
                await answer_early(conn, app, overloaded, request)
            return
        first = True
        while True:
            request = await read_request_head(conn, state, app, first=first)
            first = False
            if request is None:
                return
            if not await handle_request(conn, request, state, app):
                return
            conn.h11.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, ClientGone):
        return
    except Exception:
        # Whatever one connection does, it must not reach the handler nursery and stop the server.
        log.exception("connection error; closing the connection")
    finally:
        state.connection_closed()


async def read_request_head(conn: Connection, state: ServerState, app: Application, *,
                            first: bool) -> h11.Request | None:
    """The next request's head, or None when the connection should close.

    Waiting for the first byte of a keep-alive request uses the idle timeout
    (and ends at once when draining); from the first byte on, the whole head
    must arrive within the header timeout.
    """
    settings = state.settings
    if not conn.has_buffered_bytes:
        idle = state.idle(settings.header_timeout if first else settings.keepalive_timeout)
        try:
            with idle:
                await conn.receive()
        finally:
            state.not_idle(idle)
        if not conn.has_buffered_bytes and not conn.client_gone:
            return None  # idle timeout, or draining
    try:
        event = conn.h11.next_event()  # (a head that came whole, as most do: no timer)
        if event is h11.NEED_DATA:
            with trio.move_on_after(settings.header_timeout) as scope:
                event = await conn.next_event()
            if scope.cancelled_caught:
                await answer_early(conn, app, RequestTimeout("request headers took too long to arrive"))
                return None
    except h11.RemoteProtocolError as exc:
        # h11's message may quote the offending header line, credentials included: not repeated.
        error: HTTPError = (HeadersTooLarge("request headers are too large") if exc.error_status_hint == 431
                            else BadRequest("malformed HTTP request head"))
        await answer_early(conn, app, error)
        return None
    if isinstance(event, h11.Request):
        if _head_size(event) > settings.max_header_bytes:
            # h11 only bounds a head still arriving; one that came in a single read is checked here.
            await answer_early(conn, app, HeadersTooLarge("request headers are too large"))
            return None
        return event
    return None  # ConnectionClosed


async def answer_early(conn: Connection, app: Application, error: HTTPError, head: h11.Request | None = None) -> None:
    """Answer a request that never reached the application's handle (a bad
    head, the connection limit); the application still renders, logs and
    counts it."""
    method, path = "-", "-"
    if head is not None:
        method, path = head.method.decode("ascii", "replace"), split_target(head.target.decode("latin-1"))[0]
    request = Request(method, path, "", {}, trio.current_time(), Responder(conn, close=lambda: True), _conn=conn)
    try:
        response = app.failed(request, error)
        if request.responder.can_send:
            with trio.move_on_after(EARLY_ANSWER_S):
                await send_error(request.responder, response)
    finally:
        app.finished(request)


async def handle_request(conn: Connection, head: h11.Request, state: ServerState, app: Application) -> bool:
    """Answer one request. True if the connection can serve another."""
    method = head.method.decode("ascii", "replace")
    path, query = split_target(head.target.decode("latin-1"))
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
    request = Request(method, path, query, headers, trio.current_time(),
                      Responder(conn, method=method, close=lambda: state.draining), _conn=conn)
    failure: Exception | None = None
    try:
        request.body = await read_body(conn, head, state.settings)  # read first: a 404 keeps the connection
        request.interrupter = state.request_began()
        try:
            failure = await run_app(conn, app, request)
        finally:
            state.request_ended(request.interrupter)
    except HTTPError as error:
        failure = error
    try:
        if failure is not None:
            response = app.failed(request, failure)
            if request.responder.can_send:
                await send_error(request.responder, response)
    finally:
        app.finished(request)
    return (
        not conn.client_gone
        and not conn.overflowed
        and not state.draining
        and conn.h11.our_state is h11.DONE
        and conn.h11.their_state is h11.DONE
    )


async def run_app(conn: Connection, app: Application, request: Request) -> Exception | None:
    """Run the application beside a disconnect watcher; return what it failed
    with, if anything (the caller answers with it, after the nursery).

    Every exception is dealt with inside the nursery: none leaves it wrapped in
    an ExceptionGroup, and none but a cancel gets past this.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.watch_for_disconnect, nursery.cancel_scope)
        try:
            await app.handle(request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            conn.client_gone = True
        except Exception as error:
            return error
        finally:
            nursery.cancel_scope.cancel()
    return None


async def send_error(responder: Responder, response: ErrorResponse) -> None:
    await responder.send_body(response.status, response.body, response.content_type, response.headers)


async def read_body(conn: Connection, request: h11.Request, settings: HTTPSettings) -> bytes:
    limit = settings.max_body_bytes
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise ContentTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    if conn.h11.they_are_waiting_for_100_continue:
        await conn.send(h11.InformationalResponse(status_code=100, headers=[]))
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            event = conn.h11.next_event()  # (the body most often came with the head: no wait, no timer)
            if event is h11.NEED_DATA:
                with trio.move_on_after(settings.body_timeout) as scope:
                    event = await conn.next_event()
                if scope.cancelled_caught:
                    raise RequestTimeout(f"no request body bytes arrived for {settings.body_timeout:g}s")
        except h11.RemoteProtocolError:
            raise BadRequest("malformed request body framing") from None
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise ContentTooLarge(f"request body is larger than the limit of {limit} bytes")
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise ClientGone()


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target; a fragment is dropped."""
    path, _, query = target.split("#", 1)[0].partition("?")
    return path, query


def _head_size(request: h11.Request) -> int:
    return len(request.method) + len(request.target) + sum(len(k) + len(v) + 4 for k, v in request.headers)


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has validated it
    return None
