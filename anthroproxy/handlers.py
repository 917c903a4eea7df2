"""Per-route glue: parse the body, translate, call the upstream, write the answer.

Before a response head is sent, any ProxyError propagates and the server turns
it into a JSON error with the right status. Once a stream has started, the
status cannot change: a failure becomes an Anthropic ``event: error`` and the
stream ends.
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

import trio

from . import ids
from .context import RequestContext, send_upstream
from .counting import count_input_tokens
from .errors import InvalidRequest, NotFound
from .logs import log
from .models import model_info, model_page, page_params
from .streaming import stream_message
from .translate.fallback import leave_out_remembered
from .translate.request import Translation, to_openai
from .translate.response import from_openai
from .translate.validate import parse_body, validate_request


async def health(ctx: RequestContext) -> None:
    uptime = round(trio.current_time() - ctx.server_started_at, 3)
    await ctx.responder.send_json(200, {"status": "ok", "uptime": uptime, "pid": os.getpid()})


async def root(ctx: RequestContext) -> None:
    """Probes of the base URL: Claude Code sends HEAD /api/hello when it starts."""
    await ctx.responder.send_json(200, {"name": "anthroproxy", "messages": "/v1/messages"})


async def metrics(ctx: RequestContext) -> None:
    body, content_type = ctx.metrics.render(ctx.headers.get("accept", ""))
    await ctx.responder.send_body(200, body, content_type)


async def count_tokens(ctx: RequestContext) -> None:
    """``{"input_tokens": N}`` for a /v1/messages body, counted on the
    request the upstream would get (counting.py)."""
    _, translation = translated_request(ctx, counting=True)
    await ctx.responder.send_json(200, {"input_tokens": await count_input_tokens(ctx, translation.payload)})


def describe_model(ctx: RequestContext, name: str, target: str, label: str | None) -> dict[str, object]:
    """A /v1/models entry, with what the capability table knows of its target."""
    caps = ctx.config.capabilities(target)
    return model_info(name, target, label, max_input_tokens=caps.max_input_tokens, max_tokens=caps.max_output_tokens)


async def list_models(ctx: RequestContext) -> None:
    """The Anthropic-side names the mapping lists, in the order configured."""
    after_id, before_id, limit = page_params(ctx.query)
    models = [describe_model(ctx, *entry) for entry in ctx.config.model_mapping.listed()]
    await ctx.responder.send_json(200, model_page(models, after_id=after_id, before_id=before_id, limit=limit))


async def get_model(ctx: RequestContext) -> None:
    """A listed name, or any name a key of the mapping catches (a prefix or a glob)."""
    name = unquote(ctx.path.removeprefix("/v1/models/"))
    listed = next((entry for entry in ctx.config.model_mapping.listed() if entry[0] == name), None)
    target = ctx.config.model_mapping.lookup(name)
    if listed is None and target is None:
        raise NotFound(f"model: {name!r} is not a name the proxy's model mapping serves")
    await ctx.responder.send_json(200, describe_model(ctx, *(listed or (name, target, None))))


def translated_request(ctx: RequestContext, *, counting: bool = False) -> tuple[dict[str, Any], Translation]:
    """The request body, checked, and what the upstream gets for it: its
    translation for the target model, less what that model refused before.
    For counting, ``max_tokens`` is optional and nothing streams."""
    check_content_type(ctx.headers)
    body = parse_body(ctx.body)
    validate_request(body, counting=counting)
    target = ctx.config.resolve_model(body["model"])
    ctx.access.model, ctx.access.target = body["model"], target
    source = {**body, "max_tokens": body.get("max_tokens", 1), "stream": False} if counting else body
    translation = to_openai(source, target, ctx.config.capabilities(target),
                            keep_attribution=ctx.config.attribution_block == "keep")
    for refused in ctx.upstream.refused.get(target, ()):
        leave_out_remembered(translation.payload, refused)
    return body, translation


async def messages(ctx: RequestContext) -> None:
    body, translation = translated_request(ctx)
    requested, target = ctx.access.model, ctx.access.target
    if translation.dropped_tools:
        log.warning("request %s: left out Anthropic server tools an OpenAI backend cannot run: %s",
                    ctx.access.request_id, ", ".join(translation.dropped_tools))
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


async def complete_message(ctx: RequestContext, body: dict[str, Any], translation: Translation) -> None:
    response = await send_upstream(ctx, translation)
    with ctx.guard():
        completion = await ctx.upstream.read_json(response)
    ctx.access.upstream_open = False
    message = from_openai(
        completion,
        model=body["model"],
        message_id=ids.message_id(),
        stop_sequences=body.get("stop_sequences"),
        names=translation.names,
        unfence=translation.unfence,
    )
    ctx.access.stop_reason, ctx.access.usage = message["stop_reason"], message["usage"]
    log.debug("response %s: %s, stop %s", ctx.access.request_id,
              ", ".join(block["type"] for block in message["content"]) or "no blocks", message["stop_reason"])
    await ctx.responder.send_json(200, message)


def check_content_type(headers: dict[str, str]) -> None:
    """JSON, or no content-type at all; anything else (a form, plain text) is a
    client mistake worth naming rather than a body to guess at."""
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise InvalidRequest(f"content-type: expected application/json, got {kind!r}")


Handler = Callable[[RequestContext], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "messages": messages,
    "count_tokens": count_tokens,
    "list_models": list_models,
    "get_model": get_model,
    "root": root,
    "health": health,
    "metrics": metrics,
}
