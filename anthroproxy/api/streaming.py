"""Streaming /v1/messages: the upstream's answer, through its protocol's relay, to the client.

A stream runs in the handler's task, beside the connection's watcher (which
cancels everything when the client leaves):

    the handler's task   tries the route's candidates (dispatch.py) and, for the
                         one that answers, reads, translates and writes each
                         upstream read as it comes (``pipe``)
    KeepAlive            a timer the watcher runs (server/connection.py: one
                         task for both): while the upstream is silent, writes a
                         ``ping`` event every ping_interval (first committing the
                         response, if the upstream has not answered yet); once
                         the silence outlasts upstream_read_timeout, cuts the
                         wait with a timeout_error

A candidate that fails before any content block went out gives way to the next
(the client may already have message_start and pings: the next candidate's
relay goes on from there). Each candidate's answer is read and turned into
Anthropic events by its protocol's relay (upstream/protocols/): nothing here
asks which protocol that is. Once content went out, a failure is an
``event: error``: an answer is never replayed elsewhere. Before the response
head is sent, a failure is raised and becomes an HTTP error with its status.
Leaving an attempt closes its upstream response, which drops the connection if
it was not read to the end: the upstream stops generating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from ..core import ids
from ..core.errors import ProxyError, UpstreamError, UpstreamTimeout, redact
from ..observe.logs import log
from ..upstream.answer import Answer
from ..upstream.failover import Candidate
from ..upstream.protocols import Prepared, Relay, SwitchProtocol, UpstreamProtocol
from .context import DrainMapped, RequestContext
from .dispatch import Dispatch

# After [DONE], how long to wait for the upstream's response to end, so its
# connection can be reused. Servers end it at once; the client's next request on
# this connection waits meanwhile, so the bound is short.
UPSTREAM_DRAIN_S = 0.25
# Closing the upstream response on the way out, even when cancelled.
CLOSE_S = 5.0


@dataclass(eq=False)
class Attempt:
    """One candidate's stream: the request in its protocol, and what must be
    closed when it is over."""

    candidate: Candidate
    protocol: UpstreamProtocol
    prepared: Prepared
    relay: Relay
    answer: Answer | None = None
    switched: bool = False  # its model turned out to be served in another protocol: it goes again in that one


async def stream_message(ctx: RequestContext, body: dict[str, Any], dispatch: Dispatch) -> None:
    keepalive = KeepAlive(ctx)
    message_id = ids.message_id()
    attempt: Attempt | None = None
    error: ProxyError | None = None
    ctx.metrics.active_streams.inc()
    ctx.board.fleet.live.active_streams += 1
    try:
        try:
            for candidate in dispatch:
                started = attempt is not None and attempt.relay.started  # (what the last one began is not resent)
                if attempt is not None:
                    await close_attempt(attempt)
                protocol, prepared = dispatch.prepared(candidate)
                await dispatch.admitted()
                attempt = Attempt(candidate, protocol, prepared,
                                  protocol.relay(prepared, message_id=message_id, started=started))
                keepalive.watch(attempt.relay, dispatch.read_timeout(candidate))
                error = await run_attempt(ctx, dispatch, attempt, keepalive)
                if attempt.switched:
                    continue
                if not moves_on(error, attempt):
                    if isinstance(error, UpstreamError):  # (content went out: the client gets the error)
                        dispatch.failed_after_content(candidate, error)
                    break
                ctx.interrupter.forgive()  # (a silence that cut this candidate is not the next one's)
                dispatch.failed(candidate, error)  # (raises when the request must stop)
        except ProxyError as exc:
            error = exc
        finally:
            await ctx.responder.clear_timer()  # (a ping being written goes out before the end, not after)
        await end_stream(ctx, keepalive.relay, error)
        if error is None and attempt.relay.done and attempt.answer is not None:
            await attempt.answer.finish(UPSTREAM_DRAIN_S)
    finally:
        ctx.metrics.active_streams.dec()
        ctx.board.fleet.live.active_streams -= 1
        if attempt is not None:
            await close_attempt(attempt)


async def run_attempt(ctx: RequestContext, dispatch: Dispatch, attempt: Attempt,
                      keepalive: KeepAlive) -> ProxyError | None:
    """Send to the attempt's candidate and relay its answer; the error it ended
    with, if any."""
    try:
        attempt.answer = await attempt.protocol.open(dispatch.call(attempt.candidate), attempt.prepared)
    except UpstreamError as exc:
        return exc
    except SwitchProtocol as switch:
        dispatch.switched(attempt.candidate, switch)
        attempt.switched = True
        return None
    attempt.relay.answered()
    keepalive.answered = True
    keepalive.heard()
    error = await pipe(ctx, attempt.answer, attempt.relay, keepalive)
    if error is None:
        dispatch.succeeded(attempt.candidate)
    return error


def moves_on(error: ProxyError | None, attempt: Attempt) -> bool:
    """Whether the next candidate may take over: the upstream failed, and no
    content block reached the client (the commit point)."""
    return isinstance(error, UpstreamError) and not attempt.relay.committed


async def close_attempt(attempt: Attempt) -> None:
    """Close an attempt's upstream answer, even when cancelled (its pool gets
    its client back even if closing failed or ran out of time)."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_S):
        if attempt.answer is not None:
            await attempt.answer.aclose()
    attempt.answer = None


async def end_stream(ctx: RequestContext, relay: Relay, error: ProxyError | None) -> None:
    if error is not None:
        redact(error, ctx.secrets)
        ctx.access.error = error.error_type
        if isinstance(error, UpstreamError):
            ctx.access.upstream_failed(error.kind)
        if not ctx.responder.started:
            raise error  # nothing sent yet: the client gets a real HTTP status
        what = f"the upstream {error.what}" if isinstance(error, UpstreamError) else "it was cut short"
        log.warning("stream %s ended with an error event, %s: %s", ctx.access.request_id, what, error.message)
        await ctx.responder.write(relay.fail(error))
    for warning in relay.warnings():
        log.warning("stream %s: %s", ctx.access.request_id, warning)
    ctx.access.stop_reason, ctx.access.usage = relay.stop_reason, relay.usage
    ctx.access.usage_estimated = relay.usage_estimated
    log.debug("response %s: streamed %d blocks, stop %s", ctx.access.request_id, relay.blocks, relay.stop_reason)
    await ctx.responder.end()


async def pipe(ctx: RequestContext, answer: Answer, relay: Relay, keepalive: KeepAlive) -> ProxyError | None:
    """Relay upstream bytes to the client until the upstream's end, or a fault.

    Only the upstream read is interruptible: the drain or the silence limit may
    cut a wait for the upstream, never a write to the client mid-chunk.
    """
    write, receive, feed, heard = ctx.responder.write, answer.receive, relay.feed, keepalive.heard
    access = ctx.access
    try:
        with DrainMapped(ctx.interrupter.relay()) as guard:
            while guard.reason is None:
                guard.waiting = True
                raw = await receive()
                guard.waiting = False
                heard()  # (one clock read a chunk: a write the client is slow to take counts in KeepAlive.fire)
                if not raw:
                    break
                events = feed(raw)
                if events and access.first_event_s is None:
                    access.first_event_s = trio.current_time() - access.started_at
                await write(events)
                if relay.done:
                    break
            else:
                raise guard.reason
    except ProxyError as exc:
        return exc
    access.upstream_open = False  # the upstream's answer is over
    await write(relay.finish())
    return relay.error


class KeepAlive:
    """Pings while the upstream is silent; cuts the wait when the silence has
    gone on too long. Pings alone would keep a client waiting forever on a dead
    upstream, so the silence is bounded (upstream_read_timeout).

    The relay notes when it last heard from the upstream (a clock read per
    chunk; a read timeout would set and clear a trio deadline per read); the
    connection's watcher calls ``fire`` at the next ping or the limit, whichever
    is first. A cut leaves the timer set: the next candidate, if any, is watched too.
    """

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.relay: Relay | None = None
        self.interval = ctx.config.ping_interval
        self.limit = ctx.config.upstream_read_timeout
        self.answered = False  # the upstream sent its response head
        self.quiet_since = self.last_ping = trio.current_time()

    def watch(self, relay: Relay, limit: float) -> None:
        """A new candidate's relay: its silence counts from now, up to its
        upstream's read timeout."""
        self.relay, self.answered, self.limit = relay, False, limit
        self.heard()
        self.ctx.responder.set_timer(self)  # (the watcher runs it; this limit may come sooner than the last)

    def heard(self) -> None:
        self.quiet_since = trio.current_time()

    def due(self) -> float:
        return min(max(self.quiet_since, self.last_ping) + self.interval, self.quiet_since + self.limit)

    async def fire(self) -> None:
        now = trio.current_time()
        if self.ctx.responder.writing:  # a slow client is not a silent upstream; its bytes are traffic
            self.quiet_since = self.last_ping = now
        elif now >= self.quiet_since + self.limit:
            self.ctx.interrupter.interrupt(UpstreamTimeout(self._silence()))
            self.quiet_since = now
        elif now >= max(self.quiet_since, self.last_ping) + self.interval:
            self.last_ping = now  # (even with no relay yet: due() moves on either way)
            if self.relay is not None:
                await self.ctx.responder.write(self.relay.keepalive())

    def _silence(self) -> str:
        if self.answered:
            return f"the upstream sent nothing for {self.limit:g} s mid-stream"
        return f"the upstream sent no answer within {self.limit:g} s"
