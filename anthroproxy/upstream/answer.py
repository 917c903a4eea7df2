"""An upstream's answer, its body not yet read: what a protocol reads, through
one small interface, with httpx's errors mapped at the edge (errors.py)."""

from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

import httpx
import trio

from ..core.errors import UpstreamError, UpstreamProtocolError
from .errors import mapped


class Body(Protocol):
    """An upstream body read chunk by chunk: ``receive()`` gives b"" at the end."""

    async def receive(self) -> bytes: ...

    async def aclose(self) -> None: ...


class IteratedBody:
    """A Body over httpx's iterators (a response through a proxy from the
    environment, or a compressed one)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def receive(self) -> bytes:
        return await anext(self._chunks, b"")

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]


class Answer:
    """A 2xx answer from ``Pool.send``. Read it (``receive``, ``read_json``),
    then close it (``aclose``): closing before the end drops the connection,
    which is how the upstream learns to stop. Every httpx error is raised as
    an UpstreamError."""

    __slots__ = ("status", "headers", "_response", "_release", "_body", "_receive")

    def __init__(self, response: httpx.Response, release: Callable[[httpx.Response], Awaitable[None]]) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self._response = response
        self._release = release  # (the pool's: one request fewer in flight)
        self._body: Body | None = None
        self._receive: Callable[[], Awaitable[bytes]] | None = None

    async def receive(self) -> bytes:
        """The body's next bytes as they come off the wire; b"" at the end."""
        receive = self._receive
        if receive is None:
            receive = self._open_body()
        try:
            return await receive()
        except httpx.HTTPError as exc:
            raise mapped(exc) from exc

    def _open_body(self) -> Callable[[], Awaitable[bytes]]:
        """The lean transport's own reader (transport.py: no generator per
        chunk), read directly. Streams are requested with ``accept-encoding:
        identity``, so decoding is needed only if a server compresses anyway."""
        response = self._response
        body = response.extensions.get("body")
        if response.headers.get("content-encoding", "identity") != "identity" or body is None \
                or response.is_stream_consumed:
            body = IteratedBody(response.aiter_bytes())
        else:
            response.is_stream_consumed = True  # (read here, not through httpx's iterators)
        self._body, self._receive = body, body.receive
        return body.receive

    async def read(self, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes (UpstreamProtocolError past it)."""
        chunks: list[bytes] = []
        size = 0
        while chunk := await self.receive():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UpstreamProtocolError(f"the upstream answer is larger than {limit} bytes")
        return b"".join(chunks)

    async def read_json(self, limit: int) -> Any:
        """The parsed body of a JSON answer; closes it."""
        try:
            body = await self.read(limit)
        finally:
            await self.aclose()
        try:
            return json.loads(body)
        except ValueError:
            raise UpstreamProtocolError(
                f"the upstream answered HTTP {self.status} with a body that is not JSON: "
                f"{body[:200].decode('utf-8', 'replace')!r}"
            ) from None

    async def finish(self, seconds: float) -> None:
        """Read what is left of a body whose content is over (after a stream's
        [DONE]: the end of its chunked body), within ``seconds``, so its
        connection goes back to the pool instead of being closed."""
        with trio.move_on_after(seconds), contextlib.suppress(UpstreamError):
            while await self.receive():
                pass

    async def aclose(self) -> None:
        """Close the answer (again: nothing), even if its body is unread."""
        try:
            if self._body is not None:
                await self._body.aclose()  # (now, not when a generator is collected)
        finally:
            await self._release(self._response)
