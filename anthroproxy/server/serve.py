"""The HTTP/1.1 server: listeners, the per-connection keep-alive loop, limits,
timeouts, and a graceful drain. It knows no route: it reads each request and
hands it to the application it was given (api/app.py; app.py wires the two),
as hypercorn's trio worker and h11's example server take theirs.

Structure (one nursery per concern, as hypercorn's trio runner does):

    serve_http()
    └── handler nursery: one task per connection (handle_connection)
        │   └── per request: a nursery with the application and a disconnect watcher
        └── accept nursery: listeners.serve_listeners, cancelled to stop accepting

Drain (``Server.shutdown()``, or SIGINT/SIGTERM in the CLI): stop accepting,
close idle keep-alive connections, let requests in flight finish for
``shutdown_grace`` seconds, then cut their waits for the upstream (a 529, or an
error event in a stream already begun) and close everything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Awaitable, Callable, Protocol

import h11
import trio

from ..config import Config
from ..errors import HeadersTooLarge, InvalidRequest, Overloaded, ProxyError, RequestTimeout, RequestTooLarge
from ..ids import request_id
from ..logs import log
from ..router import split_target
from .connection import ClientGone, Connection, Interrupter, Responder
from .listeners import open_listeners, serve_listeners
from .state import Server, ServerState

# After the grace period, interrupted streams get this long to write their error event.
FINAL_WRITE_S = 2.0


@dataclass(slots=True, eq=False)
class Request:
    """One request, as the application gets it. A request refused before it
    could be read (a bad head, the connection limit) has method and path "-"."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    request_id: str
    started_at: float  # trio's clock
    responder: Responder
    body: bytes = b""
    interrupter: Interrupter = field(default_factory=Interrupter)
    state: Any = None  # the application's own, for this request
    _conn: Connection | None = None

    @property
    def client_gone(self) -> bool:
        return self._conn is not None and self._conn.client_gone


class Application(Protocol):
    """What the server calls, for every request (``failed`` and ``finished``
    for requests refused before ``handle`` too)."""

    def handle(self, request: Request) -> Awaitable[None]:
        """An awaitable that answers through ``request.responder``; a ProxyError
        raised (by the call or the await) before the head was sent becomes the
        error answer."""

    def failed(self, request: Request, error: ProxyError) -> ProxyError:
        """The error to answer with (its secrets removed), once it is logged."""

    def finished(self, request: Request) -> None:
        """The request is over: its record and its counts."""


async def serve_http(config: Config, app: Application, *, reuse_port: bool = False,
                     on_listening: Callable[[list[str]], None] | None = None,
                     task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` until ``Server.shutdown()`` is called (graceful) or the
    caller's scope is cancelled (immediate). Reports a ``Server`` with the
    bound port(s), so ``config.port`` may be 0; ``on_listening`` gets the bound
    addresses first. With ``reuse_port``, other processes may listen on the
    same port (workers.py)."""
    listeners = await open_listeners(config.host, config.port, reuse_port=reuse_port)
    server = Server(config.host, tuple(listener.socket.getsockname()[1] for listener in listeners))
    if on_listening is not None:
        on_listening([listener.socket.getsockname()[0] for listener in listeners])
    try:
        state = ServerState(config)
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


def is_loopback(address: str) -> bool:
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


async def handle_connection(stream: trio.SocketStream, *, state: ServerState, app: Application) -> None:
    conn = Connection(stream, max_header_bytes=state.config.max_header_bytes)
    admitted = state.connection_opened()
    try:
        if not admitted:
            request = await read_request_head(conn, state, app, first=True)
            if request is not None:
                log.warning("connection limit (%d) reached and no idle connection to close: answering 529",
                            state.config.max_connections)
                overloaded = Overloaded("the proxy has too many open connections; retry shortly")
                await send_early_error(conn, app, overloaded, request)
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
        await send_early_error(conn, app, error)
        return None
    if scope.cancelled_caught:
        await send_early_error(conn, app, RequestTimeout("request headers took too long to arrive"))
        return None
    if isinstance(event, h11.Request):
        if _head_size(event) > config.max_header_bytes:
            # h11 only bounds a head still arriving; one that came in a single read is checked here.
            await send_early_error(conn, app, HeadersTooLarge("request headers are too large"))
            return None
        return event
    return None  # ConnectionClosed


async def send_early_error(conn: Connection, app: Application, error: ProxyError,
                           request: h11.Request | None = None) -> None:
    """Answer a request that never reached the application's handle (a bad head,
    the connection limit); the application still logs and counts it."""
    method, path = "-", "-"
    if request is not None:
        method, path = request.method.decode("ascii", "replace"), split_target(request.target.decode("latin-1"))[0]
    rid = request_id()
    early = Request(method, path, "", {}, rid, trio.current_time(), Responder(conn, rid, close=lambda: True),
                    _conn=conn)
    error = app.failed(early, error)
    if conn.can_respond and not conn.client_gone:
        with trio.move_on_after(5):
            await early.responder.send_error(error)
    app.finished(early)


async def handle_request(conn: Connection, head: h11.Request, state: ServerState, app: Application) -> bool:
    """Answer one request. True if the connection can serve another."""
    method = head.method.decode("ascii", "replace")
    path, query = split_target(head.target.decode("latin-1"))
    rid = request_id()
    request = Request(method, path, query, {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}, rid,
                      trio.current_time(), Responder(conn, rid, method=method, close=lambda: state.draining),
                      _conn=conn)
    failure: ProxyError | None = None
    try:
        request.body = await read_body(conn, head, state.config)  # read first: a 404 keeps the connection
        with state.request() as interrupter:
            request.interrupter = interrupter
            failure = await run_app(conn, app, request)
    except ProxyError as error:
        failure = error
    try:
        if failure is not None:
            failure = app.failed(request, failure)
            if not request.responder.started and conn.can_respond and not conn.client_gone:
                await request.responder.send_error(failure)
    finally:
        app.finished(request)
    return (
        not conn.client_gone
        and not conn.overflowed
        and not state.draining
        and conn.h11.our_state is h11.DONE
        and conn.h11.their_state is h11.DONE
    )


async def run_app(conn: Connection, app: Application, request: Request) -> ProxyError | None:
    """Run the application beside a disconnect watcher; return the error to answer with.

    Every exception is dealt with inside the nursery (none leaves it wrapped in an
    ExceptionGroup), and the error response is sent by the caller, after it.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.watch_for_disconnect, nursery.cancel_scope)
        try:
            await app.handle(request)
        except ProxyError as error:
            return error
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            conn.client_gone = True
        except Exception:
            log.exception("request %s: unexpected error", request.request_id)
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

