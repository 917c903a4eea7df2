"""The OpenAI-compatible upstream: pooled httpx clients, errors mapped at the edge.

Everything httpx can raise is turned into an UpstreamError here (see
``upstream_errors``), so handlers deal in ProxyErrors only.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import ssl
import urllib.request
from typing import Any, Iterator, Mapping

import httpx
import trio

from .. import __version__, jsonbytes
from ..config import Config
from ..errors import (
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
    upstream_http_error,
)
from .transport import UNANSWERED, LeanTransport, describe

# An error body or a JSON completion larger than this is not read whole.
MAX_ERROR_BODY_BYTES = 1024 * 1024
MAX_COMPLETION_BYTES = 64 * 1024 * 1024
WRITE_TIMEOUT_S = 60.0
UNANSWERED_RETRY_S = 0.1  # only a connection found closed at once is retried (Pool._send)
KEEPALIVE_EXPIRY_S = 30.0
MAX_IDLE = 512  # idle upstream connections kept per origin


@contextlib.contextmanager
def upstream_errors() -> Iterator[None]:
    """Map httpx exceptions to UpstreamErrors (httpcore's map_exceptions idiom)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"the upstream timed out ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise UpstreamUnreachable(f"cannot connect to the upstream: {describe(exc)}") from exc
    except httpx.DecodingError as exc:
        raise UpstreamProtocolError(f"the upstream sent a body that cannot be decoded: {describe(exc)}") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnreachable(f"the upstream connection failed: {describe(exc)}") from exc


class Pool:
    """The httpx client for one base URL (one replica of an upstream).

    Direct connections go through the lean transport (transport.py), whose
    pool is a list of idle connections per origin: no walk, no lock, and every
    connection a finished stream gives back is there for the next request.
    (httpcore's pool, which this replaced, walks its whole pool on every
    request and close, and closes every idle connection once it holds more
    than max_keepalive_connections: at 128 streams it spent about a third of
    the proxy's CPU there, so requests used to be spread over 16 clients.)
    ``busy`` counts requests from ``send`` until their response is closed.
    """

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float,
                 tls: ssl.SSLContext) -> None:
        self.base_url = base_url
        self.url = httpx.URL(base_url + "/chat/completions")  # parsed once, not per request
        self.tokenize_url = httpx.URL(tokenize_url(base_url))
        # Target models the upstream's /tokenize cannot count (counting.py): their counts are local.
        self.tokenize_missing: set[str] = set()
        # Which /tokenize form the upstream understands: None until known, then "chat" (vLLM) or "text" (llama.cpp).
        self.tokenize_form: str | None = None
        timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=WRITE_TIMEOUT_S,
                                pool=connect_timeout)
        # Streams: no per-read timeout (it would set and clear a trio deadline on
        # every read); the wait for the response head is bounded here, and
        # silence mid-stream by the relay's watchdog (streaming.KeepAlive).
        self._stream_timeout = httpx.Timeout(connect=timeout.connect, read=None, write=timeout.write,
                                             pool=timeout.pool)
        self.read_timeout = read_timeout  # before the answer's head, and (streaming.KeepAlive) mid-stream
        # Through a proxy the environment names (HTTPS_PROXY, ALL_PROXY, not bypassed by NO_PROXY),
        # httpx's own transport, with these limits.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=MAX_IDLE,
                              keepalive_expiry=KEEPALIVE_EXPIRY_S)
        lean = None if proxied(self.url) else LeanTransport(ssl_context=tls, keepalive_expiry=KEEPALIVE_EXPIRY_S,
                                                            max_idle=MAX_IDLE)
        self.client = httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls, follow_redirects=False,
                                        cookies=no_cookies(), transport=lean)
        self.busy = 0
        self._open: set[httpx.Response] = set()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, payload: dict[str, Any], headers: Mapping[str, str], *, stream: bool,
                   url: httpx.URL | None = None) -> httpx.Response:
        """Send a completion request (or, given its ``url``, another) with
        ``headers`` (request_headers); returns the 2xx response with its body
        unread, which the caller must pass to ``close``. Closing it before the
        end drops the connection: that is how the upstream learns to stop.

        A non-2xx answer raises the mapped UpstreamHTTPError.
        """
        self.busy += 1
        try:
            response = await self._send(self.client, payload, headers, stream=stream, url=url)
        except BaseException:
            self.busy -= 1
            raise
        self._open.add(response)
        return response

    async def close(self, response: httpx.Response) -> None:
        """Close a response from ``send``: one request fewer in flight."""
        try:
            await response.aclose()
        finally:
            if response in self._open:
                self._open.discard(response)
                self.busy -= 1

    async def _send(self, client: httpx.AsyncClient, payload: dict[str, Any], headers: Mapping[str, str], *,
                    stream: bool, url: httpx.URL | None) -> httpx.Response:
        request = client.build_request("POST", url or self.url, content=jsonbytes.dump(payload), headers=headers,
                                       timeout=self._stream_timeout if stream else httpx.USE_CLIENT_DEFAULT)
        with upstream_errors(), trio.move_on_after(self.read_timeout) as waited:
            sent_at = trio.current_time()
            try:
                response = await client.send(request, stream=True)
            except httpx.RemoteProtocolError as exc:
                if UNANSWERED not in str(exc) or trio.current_time() - sent_at > UNANSWERED_RETRY_S:
                    raise
                # A kept-alive connection the server had closed as the request went out (llama.cpp's server
                # closes one after each stream, Keep-Alive header or not): the request was never read, so it
                # goes once more, on a new connection. (A server that took the request and then closed
                # took longer than that: it is not sent the request twice.)
                response = await client.send(request, stream=True)
        if waited.cancelled_caught:
            raise UpstreamTimeout(f"the upstream sent no answer within {self.read_timeout:g} s")
        if response.status_code < 300:
            return response
        try:
            if response.status_code < 400:
                raise UpstreamProtocolError(
                    f"the upstream answered HTTP {response.status_code} (a redirect to "
                    f"{response.headers.get('location', 'nowhere')!r}); set the target URL to the final address"
                )
            raise await _error_from(response)
        finally:
            await response.aclose()

    async def read_json(self, response: httpx.Response) -> Any:
        """The parsed body of a non-streaming answer from ``send``; closes it."""
        try:
            body = await _read_bounded(response, MAX_COMPLETION_BYTES)
        finally:
            await self.close(response)
        try:
            return json.loads(body)
        except ValueError:
            raise UpstreamProtocolError(
                f"the upstream answered HTTP {response.status_code} with a body that is not JSON: "
                f"{body[:200].decode('utf-8', 'replace')!r}"
            ) from None


def proxied(url: httpx.URL) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy
    (httpx reads the same variables, when it is given no transport)."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(url.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(url.host)


class _RefuseAll(http.cookiejar.CookiePolicy):
    """Keeps no cookie (``set_ok`` refuses each one), so the jar has none to
    send. (httpx copies the jar into a fresh one for every request, so only
    ``set_ok`` is ever asked.)"""

    netscape, rfc2965, hide_cookie2 = True, False, False

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: object) -> bool:
        return False

    def path_return_ok(self, path: str, request: object) -> bool:
        return False


def no_cookies() -> http.cookiejar.CookieJar:
    """A jar that stays empty. The upstream clients are shared by every user of
    the proxy: a cookie the upstream set in answer to one user's request (a
    CDN's session cookie, say) would go back with everyone's requests, other
    users' keys included. (httpx keeps a CookieJar given as it is; an
    httpx.Cookies it would copy into a jar of its own.)"""
    return http.cookiejar.CookieJar(policy=_RefuseAll())


def request_headers(*, key: str | None, extra: tuple[tuple[str, str], ...] = (), stream: bool,
                    request_id: str | None) -> dict[str, str]:
    """The headers of a request to an upstream: its key as a bearer token, the
    headers its configuration adds, and the request's id."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "user-agent": f"anthroproxy/{__version__}",
    }
    if request_id:
        headers["x-request-id"] = request_id  # the id the client got: one id for both sides' logs
    if stream:
        headers["accept-encoding"] = "identity"  # an event stream is not worth compressing
    if key:
        headers["authorization"] = f"Bearer {key}"
    headers.update((name.lower(), value) for name, value in extra)  # (a configured Authorization wins)
    return headers


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One context for every client (loading a CA bundle is slow): --ca-bundle,
    else certifi's or SSL_CERT_FILE."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else httpx.create_ssl_context()


class Upstream:
    """One pool for ``target_url``, with its key or the client's: the proxy
    with a single upstream, as its first versions were (and the tests of the
    pool use it)."""

    def __init__(self, config: Config) -> None:
        self.pool = Pool(config.target_url, connect_timeout=config.upstream_connect_timeout,
                         read_timeout=config.upstream_read_timeout, tls=tls_context(config.ca_bundle))
        self.api_key = config.api_key
        self.pass_client_key = config.auth_token is None  # with a proxy token, what clients present is that token

    @property
    def busy(self) -> int:
        return self.pool.busy

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.pool.aclose()

    async def send(self, payload: dict[str, Any], client_headers: Mapping[str, str], *, stream: bool,
                   request_id: str | None = None, url: httpx.URL | None = None) -> httpx.Response:
        key = self.api_key or (client_key(client_headers) if self.pass_client_key else None)
        headers = request_headers(key=key, stream=stream, request_id=request_id)
        return await self.pool.send(payload, headers, stream=stream, url=url)

    async def close(self, response: httpx.Response) -> None:
        await self.pool.close(response)

    async def read_json(self, response: httpx.Response) -> Any:
        return await self.pool.read_json(response)


def tokenize_url(target_url: str) -> str:
    """vLLM and llama.cpp serve /tokenize beside /v1, at the server's root."""
    base = target_url.rstrip("/")
    return (base[:-3] if base.endswith("/v1") else base) + "/tokenize"


def client_key(headers: Mapping[str, str]) -> str | None:
    """The client's own credential: x-api-key, or an Authorization bearer token."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with upstream_errors():
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UpstreamProtocolError(f"the upstream answer is larger than {limit} bytes")
    return b"".join(chunks)


async def _error_from(response: httpx.Response) -> Exception:
    try:
        body = await _read_bounded(response, MAX_ERROR_BODY_BYTES)
    except UpstreamProtocolError:
        body = b""
    return upstream_http_error(response.status_code, body, dict(response.headers))
