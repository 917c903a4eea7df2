"""httpx's exceptions mapped to the proxy's UpstreamErrors, at the edge of
the upstream layer (httpcore's map_exceptions idiom): nothing above it sees
an httpx exception."""

from __future__ import annotations

import contextlib
from typing import Iterator

import httpx

from ..core.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable


def mapped(exc: httpx.HTTPError) -> UpstreamError:
    """The UpstreamError for an httpx exception."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"the upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnreachable(f"cannot connect to the upstream: {describe(exc)}")
    if isinstance(exc, httpx.DecodingError):
        return UpstreamProtocolError(f"the upstream sent a body that cannot be decoded: {describe(exc)}")
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnreachable(f"the upstream connection failed: {describe(exc)}")
    return UpstreamProtocolError(f"the upstream exchange failed: {describe(exc)}")


@contextlib.contextmanager
def upstream_errors() -> Iterator[None]:
    """Raise httpx's exceptions as UpstreamErrors."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise mapped(exc) from exc


def describe(exc: BaseException) -> str:
    """The first non-empty message down the exception's causes (httpx and trio
    wrap a TLS or socket error, a certificate that does not verify, say, in an
    exception with no text of its own)."""
    seen: BaseException | None = exc
    while seen is not None:
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
