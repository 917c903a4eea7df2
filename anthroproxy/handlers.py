"""Per-route glue: parse the body, translate, call the upstream, write the answer.

Before a response head is sent, any ProxyError propagates and the server turns
it into a JSON error with the right status. Once a stream has started, the
status cannot change: a failure becomes an Anthropic ``event: error`` and the
stream ends.
"""

from __future__ import annotations

import contextlib
import json
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, ContextManager

import httpx
import trio

from . import ids
from .config import Config
from .errors import InvalidRequest, ProxyError, UpstreamHTTPError, UpstreamTimeout, redact
from .logs import AccessRecord, log
from .server.connection import Interrupter, Responder
from .translate.fallback import leave_out, refused_field
from .translate.request import Translation, to_openai
from .translate.response import from_openai
from .translate.relay import StreamRelay
from .translate.stream import StreamTranslator
from .translate.usage import estimate_prompt_tokens
from .translate.validate import validate_request
from .upstream import Upstream, client_key, upstream_errors


# After [DONE], how long to wait for the upstream's response to end, so its
# connection can be reused. Servers end it at once; the client's next request on
# this connection waits meanwhile, so the bound is short.
UPSTREAM_DRAIN_S = 0.25


@dataclass(slots=True)
class RequestContext:
    config: Config
    upstream: Upstream
    headers: dict[str, str]
    body: bytes
    responder: Responder
    access: AccessRecord
    server_started_at: float
    # Lets a draining server cut this request's waits for the upstream.
    interrupter: Interrupter

    def guard(self) -> ContextManager[None]:
        return self.interrupter.guard()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Credentials of this request, to be redacted from any error text."""
        return tuple(key for key in (self.config.api_key, client_key(self.headers)) if key)


async def health(ctx: RequestContext) -> None:
    uptime = round(trio.current_time() - ctx.server_started_at, 3)
    await ctx.responder.send_json(200, {"status": "ok", "uptime": uptime})


async def messages(ctx: RequestContext) -> None:
    body = parse_json(ctx.body)
    validate_request(body)
    requested = body["model"]
    target = ctx.config.resolve_model(requested)
    ctx.access.model, ctx.access.target = requested, target
    translation = to_openai(body, target, ctx.config.capabilities(target))
    if translation.dropped_tools:
        log.warning("request %s: left out Anthropic server tools an OpenAI backend cannot run: %s",
                    ctx.access.request_id, ", ".join(translation.dropped_tools))
    for field in ctx.upstream.refused.get(target, ()):
        leave_out(translation.payload, field)
    ctx.access.stream = bool(translation.payload.get("stream"))
    log.debug(
        "request %s: model %s -> %s, %d messages, %d tools, max_tokens %s, stream %s",
        ctx.access.request_id, requested, target, len(translation.payload["messages"]),
        len(translation.payload.get("tools", ())), body["max_tokens"], ctx.access.stream,
    )
    if ctx.access.stream:
        await stream_message(ctx, body, translation)
    else:
        await complete_message(ctx, body, translation)


async def send_upstream(ctx: RequestContext, translation: Translation) -> httpx.Response:
    """Send the request. A 400 that refuses an optional field the proxy added
    (fallback.py) is retried once without it; if that works, the target model
    is not sent the field again while the proxy runs."""
    payload = translation.payload
    try:
        return await _send(ctx, payload)
    except UpstreamHTTPError as error:
        field = refused_field(error.status, error.message, payload)
        if field is None:
            raise
    leave_out(payload, field)
    response = await _send(ctx, payload)
    ctx.upstream.refused.setdefault(payload["model"], set()).add(field)
    log.warning("%s refused %s; it is left out of requests to that model from now on", payload["model"], field)
    return response


async def _send(ctx: RequestContext, payload: dict[str, Any]) -> httpx.Response:
    with ctx.guard():
        return await ctx.upstream.send(payload, ctx.headers, stream=bool(payload.get("stream")))


async def complete_message(ctx: RequestContext, body: dict[str, Any], translation: Translation) -> None:
    response = await send_upstream(ctx, translation)
    with ctx.guard():
        completion = await ctx.upstream.read_json(response)
    message = from_openai(
        completion,
        model=body["model"],
        message_id=ids.message_id(),
        stop_sequences=body.get("stop_sequences"),
        names=translation.names,
    )
    ctx.access.stop_reason, ctx.access.usage = message["stop_reason"], message["usage"]
    log.debug("response %s: %s, stop %s", ctx.access.request_id,
              ", ".join(block["type"] for block in message["content"]) or "no blocks", message["stop_reason"])
    await ctx.responder.send_json(200, message)


async def stream_message(ctx: RequestContext, body: dict[str, Any], translation: Translation) -> None:
    translator = StreamTranslator(
        message_id=ids.message_id(),
        model=body["model"],
        input_tokens_estimate=estimate_prompt_tokens(translation.payload["messages"]),
        stop_sequences=body.get("stop_sequences"),
        names=translation.names,
    )
    relay = StreamRelay(translator)
    response = await send_upstream(ctx, translation)
    try:
        # aclosing: a generator left at [DONE] or on an error is closed now, not at GC.
        async with aclosing(upstream_body(response)) as upstream_bytes:
            error = await pipe(ctx, upstream_bytes, relay)
            if error is not None:
                redact(error, ctx.secrets)
                ctx.access.error = error.error_type
                if not ctx.responder.started:
                    raise error  # nothing sent yet: the client gets a real HTTP status
                log.warning("stream %s failed after its first event: %s", ctx.access.request_id, error.message)
                await ctx.responder.write(relay.fail(error))
            if translator.dropped_fragments:
                log.warning("stream %s: %d tool-call argument fragment(s) arrived after their block had to close",
                            ctx.access.request_id, translator.dropped_fragments)
            ctx.access.stop_reason, ctx.access.usage = translator.stop_reason, translator.usage or {}
            log.debug("response %s: streamed %d blocks, stop %s", ctx.access.request_id, translator.blocks,
                      translator.stop_reason)
            await ctx.responder.end()
            if error is None and relay.done:
                await read_to_end(upstream_bytes)
    finally:
        await response.aclose()


async def pipe(ctx: RequestContext, upstream_bytes: AsyncIterator[bytes], relay: StreamRelay) -> ProxyError | None:
    """Relay upstream bytes to the client until [DONE], the end, or a fault.

    Only the upstream read is interruptible: the drain may cut a wait for the
    upstream, never a write to the client in the middle of a chunk.
    """
    write = ctx.responder.write
    silence = Silence(ctx.config.upstream_read_timeout)
    failure: ProxyError | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(silence.watch, ctx.interrupter)
        try:  # (errors are caught here: leaving the nursery would wrap them in an ExceptionGroup)
            with upstream_errors(), ctx.interrupter.relay() as guard:
                while guard.reason is None:
                    guard.waiting = True
                    raw = await anext(upstream_bytes, None)
                    guard.waiting = False
                    silence.heard = trio.current_time()
                    if raw is None:
                        break
                    await write(relay.feed(raw))
                    if relay.done:
                        break
                else:
                    raise guard.reason
        except ProxyError as exc:
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        return failure
    await write(relay.finish())
    return relay.error


class Silence:
    """The longest silence tolerated from a streaming upstream. The relay notes
    when it last heard from it (a clock read per chunk, where httpcore's read
    timeout costs a deadline set and cleared per read); this task wakes once
    per period and cuts the wait when the upstream has been quiet too long."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.heard = trio.current_time()

    async def watch(self, interrupter: Interrupter) -> None:
        while True:
            remaining = self.heard + self.limit - trio.current_time()
            if remaining <= 0:
                interrupter.interrupt(UpstreamTimeout(f"the upstream sent nothing for {self.limit:g} s mid-stream"))
                return
            await trio.sleep(remaining)


def upstream_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it comes off the wire: streams are requested with
    ``accept-encoding: identity``, so decoding is needed only if a server
    compresses anyway."""
    if response.headers.get("content-encoding", "identity") == "identity":
        return response.aiter_raw()
    return response.aiter_bytes()


async def read_to_end(upstream_bytes: AsyncIterator[bytes]) -> None:
    """After [DONE] only the end of the chunked body is left; reading it lets
    httpx put the connection back in its pool instead of closing it."""
    with trio.move_on_after(UPSTREAM_DRAIN_S), contextlib.suppress(httpx.HTTPError):
        async for _ in upstream_bytes:
            pass


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise InvalidRequest("request body: expected a JSON object, got an empty body")
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidRequest("request body: JSON nested too deeply") from None
    except ValueError as exc:  # includes invalid UTF-8
        raise InvalidRequest(f"request body: not valid JSON ({exc})") from None


Handler = Callable[[RequestContext], Awaitable[None]]
HANDLERS: dict[str, Handler] = {"messages": messages, "health": health}
