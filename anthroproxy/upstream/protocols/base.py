"""The seam between the dispatcher and an upstream's wire format.

An upstream protocol is one module behind one small interface
(UpstreamProtocol): it builds the request a candidate gets (``prepare``),
sends it (``open``: any retry of its own is its business), and turns the
answer into Anthropic's, a stream (``relay``) or a message (``message``); it
also counts a request's tokens (``count_tokens``). What it needs of the I/O,
the dispatcher hands it as a Call: where the request goes, with which
credential, how to wait so that a drain can cut the wait.

Everything else is protocol-blind and stays with the dispatcher (api/) and
this package: which candidates in which order, failover, cooling, keys,
affinity, the commit point (``Relay.committed``), metrics and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ContextManager, Mapping, Protocol, Sequence

from ...core.errors import ProxyError
from ..answer import Answer
from ..failover import Candidate
from ..pool import Pool, request_headers


class Origin(Protocol):
    """The client's request a call serves, as a protocol sees it (api/ gives it)."""

    @property
    def request_id(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The client's headers (names in lower case)."""

    @property
    def query(self) -> str:
        """The client's query string, without its "?"."""

    @property
    def body(self) -> bytes:
        """The client's body, as it came."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must not show in an error (errors.redact)."""

    def guard(self) -> ContextManager[None]:
        """One wait for the upstream, which a drain (or a silence) may cut."""

    def sending(self) -> None:
        """A request goes out; it is under way until its answer is read to the end."""

    def retrying(self, kind: str) -> None:
        """An attempt failed (its kind, as UpstreamError.kind), and the protocol goes on without it."""


@dataclass(slots=True, eq=False)
class Call:
    """One request to one candidate, as the dispatcher hands it to a protocol."""

    candidate: Candidate
    pool: Pool  # the candidate's replica
    credential: str | None  # the key to send: the candidate's, the client's passed on, or none
    auth: str  # how: "x-api-key" or "bearer"
    extra_headers: tuple[tuple[str, str], ...]  # the upstream's configured headers
    origin: Origin

    @property
    def request_id(self) -> str:
        return self.origin.request_id

    def headers(self, *, stream: bool) -> dict[str, str]:
        """The usual headers: the credential as the upstream takes it, the
        configured headers, the request's id."""
        return request_headers(key=self.credential, auth=self.auth, extra=self.extra_headers, stream=stream,
                               request_id=self.origin.request_id)

    async def send(self, endpoint: str, content: bytes, headers: Mapping[str, str], *, stream: bool) -> Answer:
        """The request the client waits on: under way from now, and a wait a drain may cut."""
        self.origin.sending()
        with self.origin.guard():
            return await self.pool.send(endpoint, content, headers, stream=stream)


class SwitchProtocol(Exception):
    """A protocol found that the candidate's model is served in another (a
    chat upstream's model that is only on /responses): the dispatcher tries
    the candidate again in that one, and it is remembered for the next request."""

    def __init__(self, protocol: str, reason: str) -> None:
        super().__init__(reason)
        self.protocol, self.reason = protocol, reason


class Prepared(Protocol):
    """A request as one protocol sends it to one target; opaque to the
    dispatcher but for ``notes``."""

    @property
    def notes(self) -> Sequence[str]:
        """What the request lost on the way (server tools left out...), for one WARN line."""


class Relay(Protocol):
    """One stream's answer, upstream bytes in, Anthropic SSE bytes out (pure).

    ``feed`` and ``finish`` never raise for what the upstream sent: a fault
    sets ``error`` and ``done``. ``committed`` is the commit point: once content
    went out, no other candidate may take over."""

    done: bool
    error: ProxyError | None

    @property
    def started(self) -> bool: ...  # message_start went out

    @property
    def committed(self) -> bool: ...

    @property
    def blocks(self) -> int: ...

    @property
    def stop_reason(self) -> str | None: ...

    @property
    def usage(self) -> dict[str, int]: ...

    @property
    def usage_estimated(self) -> bool: ...

    def answered(self) -> None:
        """The upstream's answer began: what was sent is final."""

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """The upstream's body ended."""

    def fail(self, error: ProxyError) -> bytes:
        """The error event that ends the stream."""

    def keepalive(self) -> bytes:
        """A ping (message_start first, if nothing went out yet)."""

    def warnings(self) -> list[str]: ...


class UpstreamProtocol(Protocol):
    name: str

    def prepare(self, body: Mapping[str, Any], candidate: Candidate, *, counting: bool = False) -> Prepared:
        """The validated Anthropic request as ``candidate``'s target gets it
        (the same for its replicas and keys); ``counting``: for count_tokens."""

    async def open(self, call: Call, prepared: Prepared) -> Answer:
        """Send it; the 2xx answer, its body unread. Raises UpstreamError."""

    def relay(self, prepared: Prepared, *, message_id: str, started: bool) -> Relay:
        """The relay for a stream's answer; ``started``: an earlier
        candidate's message_start already went out."""

    async def message(self, call: Call, answer: Answer, prepared: Prepared, *,
                      message_id: str) -> tuple[dict[str, Any], bytes | None]:
        """The Anthropic message for a non-streaming answer (closes it), and
        the bytes to send for it as they came (None: the message, as JSON)."""

    async def count_tokens(self, call: Call, prepared: Prepared) -> int:
        """The input tokens of a request prepared with ``counting``; never fails."""
