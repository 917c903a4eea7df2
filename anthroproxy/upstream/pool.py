"""One replica of an upstream: its httpx client, the request sent, a 2xx
answer handed back (answer.py), any other status raised as an UpstreamError.

Everything httpx can raise is turned into an UpstreamError at this layer's
edge (errors.py), so the layers above deal in ProxyErrors only.
"""

from __future__ import annotations

import http.cookiejar
import ssl
import urllib.request
from typing import Awaitable, Callable, Mapping

import httpx
import trio

from .._version import __version__
from ..core.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout, upstream_http_error
from .answer import Answer
from .errors import mapped
from .transport import UNANSWERED, LeanTransport

# An error body or a JSON completion larger than this is not read whole.
MAX_ERROR_BODY_BYTES = 1024 * 1024
MAX_COMPLETION_BYTES = 64 * 1024 * 1024
WRITE_TIMEOUT_S = 60.0
UNANSWERED_RETRY_S = 0.1  # only a connection found closed at once is retried (Pool._send)
KEEPALIVE_EXPIRY_S = 30.0
MAX_IDLE = 512  # idle upstream connections kept per origin


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
        self._urls: dict[str, httpx.URL] = {}  # parsed once, not per request
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
        lean = None if proxied(httpx.URL(base_url)) else LeanTransport(
            ssl_context=tls, keepalive_expiry=KEEPALIVE_EXPIRY_S, max_idle=MAX_IDLE)
        self.client = httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls, follow_redirects=False,
                                        cookies=no_cookies(), transport=lean)
        self._lean = lean
        self._timeouts = {False: timeout.as_dict(), True: self._stream_timeout.as_dict()}  # (by stream)
        self._defaults = [(name, value, name.decode().lower()) for name, value in self.client.headers.raw]
        self.busy = 0
        self._open: set[httpx.Response] = set()

    async def aclose(self) -> None:
        await self.client.aclose()

    def url(self, endpoint: str) -> httpx.URL:
        """The URL of an endpoint: a path after the base URL ("/chat/completions"),
        or a whole URL of the same server."""
        found = self._urls.get(endpoint)
        if found is None:
            found = httpx.URL(endpoint if "://" in endpoint else self.base_url + endpoint)
            if "?" not in endpoint:  # (a query string comes from a client: not remembered)
                self._urls[endpoint] = found
        return found

    async def send(self, endpoint: str, content: bytes, headers: Mapping[str, str], *, stream: bool) -> Answer:
        """POST ``content`` (JSON) to an endpoint (``url``) with ``headers``;
        the 2xx answer with its body unread, which the caller must close.
        Any other answer raises its UpstreamHTTPError."""
        self.busy += 1
        try:
            response = await self._send(self.url(endpoint), content, headers, stream=stream)
        except BaseException:
            self.busy -= 1
            raise
        self._open.add(response)
        return Answer(response, self._release)

    async def _release(self, response: httpx.Response) -> None:
        """Close a response from ``send``: one request fewer in flight (once)."""
        try:
            await response.aclose()
        finally:
            if response in self._open:
                self._open.discard(response)
                self.busy -= 1

    async def _send(self, url: httpx.URL, content: bytes, headers: Mapping[str, str], *,
                    stream: bool) -> httpx.Response:
        send = self._sender(url, content, headers, stream)
        try:  # (upstream_errors, inline: this runs for every request)
            with trio.move_on_after(self.read_timeout) as waited:
                sent_at = trio.current_time()
                try:
                    response = await send()
                except httpx.RemoteProtocolError as exc:
                    if UNANSWERED not in str(exc) or trio.current_time() - sent_at > UNANSWERED_RETRY_S:
                        raise
                    # A kept-alive connection the server had closed as the request went out (llama.cpp's server
                    # closes one after each stream, Keep-Alive header or not): the request was never read, so it
                    # goes once more, on a new connection. (A server that took the request and then closed
                    # took longer than that: it is not sent the request twice.)
                    response = await send()
        except httpx.HTTPError as exc:
            raise mapped(exc) from exc
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


    def _sender(self, url: httpx.URL, content: bytes, headers: Mapping[str, str],
                stream: bool) -> Callable[[], Awaitable[httpx.Response]]:
        """How the request goes: straight to the lean transport, with the headers
        httpx's client would have sent (``raw_headers``), its cookie jar, auth
        flow, redirect loop and hooks, which the proxy uses none of, left out (a
        tenth of a millisecond per request); through the client when the
        environment names a proxy."""
        lean = self._lean
        if lean is None:
            client = self.client
            request = client.build_request("POST", url, content=content, headers=headers,
                                           timeout=self._stream_timeout if stream else httpx.USE_CLIENT_DEFAULT)
            return lambda: client.send(request, stream=True)
        raw, timeouts = self.raw_headers(url, headers, len(content)), self._timeouts[stream]
        return lambda: lean.exchange("POST", url, raw, content, timeouts)

    def raw_headers(self, url: httpx.URL, headers: Mapping[str, str], length: int) -> list[tuple[bytes, bytes]]:
        """The request's headers as httpx's client writes them: Host, the
        client's defaults the request does not set, the request's own, Content-Length."""
        names = {name.lower() for name in headers}
        raw = [] if "host" in names else [(b"Host", url.netloc)]
        raw += [(name, value) for name, value, lower in self._defaults if lower not in names]
        raw += [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        if "content-length" not in names:
            raw.append((b"Content-Length", b"%d" % length))
        return raw


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


def request_headers(*, key: str | None, auth: str = "bearer", extra: tuple[tuple[str, str], ...] = (), stream: bool,
                    request_id: str | None) -> dict[str, str]:
    """The headers of a request to an upstream: its key (as a bearer token, or
    in ``x-api-key``), the headers its configuration adds, and the request's id."""
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
        if auth == "x-api-key":
            headers["x-api-key"] = key
        else:
            headers["authorization"] = f"Bearer {key}"
    headers.update((name.lower(), value) for name, value in extra)  # (a configured Authorization wins)
    return headers


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One context for every client (loading a CA bundle is slow): --ca-bundle,
    else certifi's or SSL_CERT_FILE."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else httpx.create_ssl_context()


async def _error_from(response: httpx.Response) -> UpstreamError:
    """The error for a non-2xx answer, from its body (at most MAX_ERROR_BODY_BYTES of it; a
    larger one is left unread). A body that cannot be read (a timeout, a reset) is that failure."""
    try:
        body = await Answer(response, _closed).read(MAX_ERROR_BODY_BYTES)
    except UpstreamProtocolError:
        body = b""
    return upstream_http_error(response.status_code, body, dict(response.headers))


async def _closed(response: httpx.Response) -> None:
    """(An error answer is closed by ``_send`` itself.)"""
