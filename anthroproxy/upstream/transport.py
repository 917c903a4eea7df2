"""A lean HTTP/1.1 transport for httpx on trio: its own pool, its own body reader.

httpx stays the client's model (URLs, headers, responses; requests through a
proxy the environment names, which it mounts on transports of its own); this
replaces httpcore under it for direct connections, and pool.py calls
``exchange`` straight, without httpx's client around it. What it saves, per request and per
chunk (bench/README.md, issue 14):

- no pool walk and no lock: an idle connection is popped from its origin's list;
- the request goes out as one write (head and body), its head written here
  and the response's parsed here (bodies.py), not by h11's state machine;
- a read tries the socket first and waits only when it is empty (netio/), so
  a chunk costs one wake-up and one ``read``, where trio's ``receive_some``
  adds a second pass through the scheduler after every read;
- the chunked body is parsed here (``ChunkedBody``), and no context manager
  or generator is entered per read: the relay reads ``ResponseBody.receive()`` through ``Answer.receive`` (answer.py, via
  ``response.extensions["body"]``), whose one frame and httpx error mapping cost
  0.09 us a chunk, measured.

TLS upstreams read through trio's SSLStream (same pool, same body reader).
"""

from __future__ import annotations

import select
import ssl
import time
from typing import AsyncIterator

import httpx
import trio

from ..netio.reader import RECEIVE_BYTES, Reader
from ..netio.writer import Writer
from .bodies import ChunkedBody, FramingError, LengthBody, ResponseHead, request_head
from .errors import describe

MAX_HEAD_BYTES = 64 * 1024
# A connection closed before any answer (httpcore's words, so through a proxy from the environment too):
# pool.py sends the request once more when it came at once.
UNANSWERED = "Server disconnected without sending a response"
EARLY_ANSWER_S = 1.0  # after a failed write, how long to wait for an answer the server may have sent first
_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class Wire:
    """One upstream connection: a plain socket read and written directly, or
    a TLS stream through trio (``tls``)."""

    __slots__ = ("socket_stream", "tls", "fd", "idle_since", "_reader", "_writer")

    def __init__(self, socket_stream: trio.SocketStream, tls: trio.SSLStream | None) -> None:
        self.socket_stream, self.tls = socket_stream, tls
        self.fd = socket_stream.socket.fileno()
        self.idle_since = 0.0
        self._reader = Reader(self.fd)
        self._writer = Writer(self.fd)

    async def receive(self) -> bytes:
        if self.tls is not None:
            try:
                return await self.tls.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError) as exc:
                raise httpx.ReadError(describe(exc)) from exc
        try:
            return await self._reader.receive()
        except (OSError, trio.ClosedResourceError, trio.BusyResourceError) as exc:
            raise httpx.ReadError(describe(exc)) from exc

    async def send_all(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; ``timeout`` bounds the wait for a full socket (a
        request that fits the socket's buffer, as most do, sets no deadline)."""
        if self.tls is not None:
            await _bounded(self._send_tls(data), timeout, httpx.WriteTimeout)
            return
        try:
            rest = self._writer.write_now(data)
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc
        if rest is not None:
            await _bounded(self._send_rest(rest), timeout, httpx.WriteTimeout)

    async def _send_tls(self, data: bytes) -> None:
        try:
            await self.tls.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError) as exc:
            raise httpx.WriteError(describe(exc)) from exc

    async def _send_rest(self, view: memoryview) -> None:
        try:
            await self._writer.send_rest(view)
        except (OSError, trio.ClosedResourceError) as exc:
            raise httpx.WriteError(describe(exc)) from exc

    def looks_closed(self) -> bool:
        """An idle connection with something to read has been closed by the
        server (or sent what nobody asked for): either way, not reusable."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        """At once, TLS or not (a forceful close: no TLS goodbye, as httpcore's)."""
        self.socket_stream.socket.close()


class ResponseBody(httpx.AsyncByteStream):
    """A response's body. ``receive()`` gives the next bytes of the payload, b""
    at the end; the relay calls it directly. At its end (and ``aclose``) the
    connection goes back to the pool if it can be reused, and is closed if not:
    closing a body before its end is how the upstream learns to stop."""

    def __init__(self, transport: LeanTransport, origin: tuple, wire: Wire, decoder: ChunkedBody | LengthBody,
                 leftover: bytes, *, read_timeout: float | None, keep_alive: bool) -> None:
        self._transport, self._origin, self._wire = transport, origin, wire
        self._decoder, self._leftover = decoder, leftover
        self._read_timeout = read_timeout
        self._finished = decoder.done
        # (bytes after a body that was over at once, a 204's say: the connection is in no known state)
        self._keep_alive = keep_alive and not (self._finished and leftover)

    async def receive(self) -> bytes:
        decoder = self._decoder
        while not self._finished:
            if self._leftover:
                data, self._leftover = self._leftover, b""
            else:
                data = await self._read()
                if not data:
                    if isinstance(decoder, LengthBody) and decoder.remaining is None:
                        self._keep_alive, self._finished = False, True
                        break
                    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            try:
                payload = decoder.feed(data)
            except FramingError as exc:
                self._keep_alive = False
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if decoder.done:
                self._finished = True
                if decoder.rest:  # bytes nobody asked for: the connection is not in a known state
                    self._keep_alive = False
            if payload:
                return payload
        await self.aclose()
        return b""

    async def _read(self) -> bytes:
        if self._read_timeout is None:
            return await self._wire.receive()
        try:
            with trio.fail_after(self._read_timeout):
                return await self._wire.receive()
        except trio.TooSlowError:
            raise httpx.ReadTimeout(f"no data within {self._read_timeout:g} s") from None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while data := await self.receive():
            yield data

    async def aclose(self) -> None:
        wire, self._wire = self._wire, None
        if wire is None:
            return
        if self._finished and self._keep_alive:
            self._transport.put_back(self._origin, wire)
        else:
            wire.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """httpx's transport for direct HTTP/1.1 connections, with one pool of idle
    connections per origin (newest first: the warmest), kept ``keepalive_expiry``
    seconds, at most ``max_idle`` per origin."""

    def __init__(self, *, ssl_context: ssl.SSLContext, keepalive_expiry: float = 30.0, max_idle: int = 256) -> None:
        self.ssl_context = ssl_context
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max_idle
        self._idle: dict[tuple, list[Wire]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()  # (already read: the proxy's bodies are bytes)
        return await self.exchange(request.method, request.url, request.headers.raw, body,
                                   request.extensions.get("timeout", {}))

    async def exchange(self, method: str, url: httpx.URL, headers: list[tuple[bytes, bytes]], body: bytes,
                       timeouts: dict) -> httpx.Response:
        """Send a request whose headers are complete (Host and Content-Length
        included), and read the answer's head. Pool.send calls this directly:
        httpx's client around it costs about a tenth of a millisecond per request."""
        origin = (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 80))
        wire = self._take_idle(origin)
        reused = wire is not None
        if wire is None:
            wire = await self._connect(origin, timeouts.get("connect"))
        try:
            try:
                message = request_head(method.encode("ascii"), url.raw_path, headers) + body
            except FramingError as exc:
                raise httpx.LocalProtocolError(str(exc)) from exc
            try:
                await wire.send_all(message, timeouts.get("write"))
            except httpx.WriteError:
                if reused:  # a kept-alive connection the server had closed: the request never went out
                    raise httpx.RemoteProtocolError(UNANSWERED) from None
                # The server may have answered and stopped reading (a 413 for a large body): its answer, if any.
                with trio.move_on_after(EARLY_ANSWER_S):
                    response, leftover = await _read_head(wire, reused)
                    return self._response(method, headers, origin, wire, response, leftover, timeouts,
                                          reusable=False)
                raise
            response, leftover = await _bounded(_read_head(wire, reused), timeouts.get("read"), httpx.ReadTimeout)
        except BaseException:
            wire.close()
            raise
        return self._response(method, headers, origin, wire, response, leftover, timeouts)

    def _response(self, method: str, headers: list[tuple[bytes, bytes]], origin: tuple, wire: Wire,
                  response: ResponseHead, leftover: bytes, timeouts: dict, *, reusable: bool = True) -> httpx.Response:
        """The httpx response for a head; ``reusable``: the whole request went out."""
        decoder = _body_decoder(method, response.status, response.headers)
        keep_alive = (reusable and response.http_version == b"1.1"
                      and not _says_close(response.headers) and not _says_close(headers)
                      and (isinstance(decoder, ChunkedBody) or decoder.remaining is not None))
        stream = ResponseBody(self, origin, wire, decoder, leftover,
                              read_timeout=timeouts.get("read"), keep_alive=keep_alive)
        return httpx.Response(response.status, headers=response.headers, stream=stream,
                              extensions={"http_version": b"HTTP/" + response.http_version,
                                          "reason_phrase": response.reason, "body": stream})

    def _take_idle(self, origin: tuple) -> Wire | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            wire = idle.pop()
            if now - wire.idle_since < self.keepalive_expiry and not wire.looks_closed():
                return wire
            wire.close()
        return None

    def put_back(self, origin: tuple, wire: Wire) -> None:
        idle = self._idle.setdefault(origin, [])
        if self._closed or len(idle) >= self.max_idle:
            wire.close()
            return
        wire.idle_since = time.monotonic()
        idle.append(wire)

    async def _connect(self, origin: tuple, timeout: float | None) -> Wire:
        scheme, host, port = origin
        name = host.decode("ascii")
        socket_stream: trio.SocketStream | None = None
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                socket_stream = await trio.open_tcp_stream(name, port)
                tls = None
                if scheme == b"https":
                    tls = trio.SSLStream(socket_stream, self.ssl_context, server_hostname=name,
                                         https_compatible=True)
                    await tls.do_handshake()
        except BaseException as exc:
            if socket_stream is not None:
                socket_stream.socket.close()
            if isinstance(exc, trio.TooSlowError):
                raise httpx.ConnectTimeout(f"no connection to {name}:{port} within {timeout:g} s") from None
            if isinstance(exc, (OSError, trio.BrokenResourceError, ssl.SSLError)):
                raise httpx.ConnectError(describe(exc)) from exc
            raise
        return Wire(socket_stream, tls)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for wires in idle.values():
            for wire in wires:
                wire.close()


async def _bounded(awaitable, timeout: float | None, error: type[httpx.TimeoutException]):
    if timeout is None:
        return await awaitable
    try:
        with trio.fail_after(timeout):
            return await awaitable
    except trio.TooSlowError:
        raise error(f"timed out after {timeout:g} s") from None


async def _read_head(wire: Wire, reused: bool) -> tuple[ResponseHead, bytes]:
    """The response head (1xx answers skipped), and the bytes after it. A
    reused connection the server closed before answering raises UNANSWERED:
    the request was not read."""
    buffer = b""
    while True:
        try:
            data = await wire.receive()
        except httpx.ReadError as exc:
            if reused and not buffer:
                raise httpx.RemoteProtocolError(UNANSWERED) from exc
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        if not data:
            raise httpx.RemoteProtocolError(UNANSWERED if not buffer else "the server closed the connection")
        buffer += data
        try:
            found = ResponseHead.parse(buffer, MAX_HEAD_BYTES)
        except FramingError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        if found is not None:
            head, end = found
            return head, buffer[end:]


def _body_decoder(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> ChunkedBody | LengthBody:
    if method == "HEAD" or status in (204, 304) or status < 200:
        return LengthBody(0)
    length = None
    for name, value in headers:
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return ChunkedBody()
        if name == b"content-length":
            length = int(value.split(b",")[0])  # (ResponseHead.parse has checked it)
    return LengthBody(length)


def _says_close(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers)
