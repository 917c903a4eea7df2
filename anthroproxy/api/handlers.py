"""Per-route glue: parse and check the body, dispatch it to the route's
candidates, write the answer.

Before a response head is sent, any ProxyError propagates, and the application
(app.py ``failed``) renders it as a JSON error with its status. Once a stream has started, the
status cannot change: a failure becomes an Anthropic ``event: error`` and the
stream ends.
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

import trio

from ..core import ids
from ..core.errors import InvalidRequest, NotFound, PermissionDenied, ProxyError, UpstreamError
from ..observe.logs import log
from ..state.admission import Admission
from ..upstream.protocols import SwitchProtocol
from . import dashboard
from .context import RequestContext, is_authorized
from .dispatch import Dispatch
from .models import model_info, model_page, page_params
from .streaming import stream_message
from .validate import parse_body, validate_request


async def health(ctx: RequestContext) -> None:
    """Up, for how long, which process; and each upstream's state as failover
    sees it (none is called)."""
    now = trio.current_time()
    state: dict[str, object] = {"status": "ok", "uptime": round(now - ctx.server_started_at, 3), "pid": os.getpid()}
    store = ctx.clients.store if ctx.clients is not None else None
    if store is not None:
        state["state"] = "ok" if store.available else "unavailable"
    if is_authorized(ctx.config, ctx.headers):  # (the probe stays open; what the upstreams are, not)
        state["upstreams"] = ctx.upstreams.health(now)
    await ctx.send_json(200, state)


async def root(ctx: RequestContext) -> None:
    """Probes of the base URL: Claude Code sends HEAD /api/hello when it starts."""
    await ctx.send_json(200, {"name": "anthroproxy", "messages": "/v1/messages"})


async def metrics(ctx: RequestContext) -> None:
    ctx.metrics.cooling.set(ctx.upstreams.cooling_count(trio.current_time()))
    body, content_type = ctx.metrics.render(ctx.headers.get("accept", ""))
    await ctx.responder.send_body(200, body, content_type)


async def count_tokens(ctx: RequestContext) -> None:
    """``{"input_tokens": N}`` for a /v1/messages body, counted on the request
    the route's first candidate would get, by its protocol."""
    body = checked_body(ctx, counting=True)
    permit(ctx, body["model"])
    dispatch = Dispatch.start(ctx, body, counting=True)
    candidate = dispatch.first
    protocol, prepared = dispatch.prepared(candidate)
    counted = await protocol.count_tokens(dispatch.call(candidate), prepared)
    await ctx.send_json(200, {"input_tokens": counted})


def describe_model(ctx: RequestContext, name: str, target: str, label: str | None) -> dict[str, object]:
    """A /v1/models entry, with what the capability table knows of its target."""
    route = ctx.routes(name).default.primary
    caps = ctx.config.capabilities(route.target, route.upstream)
    return model_info(name, target, label, max_input_tokens=caps.max_input_tokens, max_tokens=caps.max_output_tokens)


async def list_models(ctx: RequestContext) -> None:
    """The Anthropic-side names the mapping lists, in the order configured."""
    after_id, before_id, limit = page_params(ctx.query)
    models = [describe_model(ctx, *entry) for entry in ctx.config.model_mapping.listed()]
    await ctx.send_json(200, model_page(models, after_id=after_id, before_id=before_id, limit=limit))


async def get_model(ctx: RequestContext) -> None:
    """A listed name, or any name a key of the mapping catches (a prefix or a glob)."""
    name = unquote(ctx.path.removeprefix("/v1/models/"))
    listed = next((entry for entry in ctx.config.model_mapping.listed() if entry[0] == name), None)
    target = ctx.config.model_mapping.lookup(name)
    if listed is None and target is None:
        raise NotFound(f"model: {name!r} is not a name the proxy's model mapping serves")
    await ctx.send_json(200, describe_model(ctx, *(listed or (name, target, None))))


def checked_body(ctx: RequestContext, *, counting: bool = False) -> dict[str, Any]:
    """The request body, parsed and checked. For counting, ``max_tokens`` is optional."""
    check_content_type(ctx.headers)
    body = parse_body(ctx.body)
    validate_request(body, counting=counting)
    return body


def permit(ctx: RequestContext, model: str) -> None:
    """A client's key names the models it may ask for."""
    client = ctx.client
    if client is not None and not client.may_use(model):
        raise PermissionDenied(f"client {client.name} may not use model {model!r}")


async def admission(ctx: RequestContext) -> Admission | None:
    """A limited client's request: whether it is within its limits now begins
    to be decided (``Dispatch.admitted`` reads the answer before the upstream
    is called)."""
    client = ctx.client
    if client is None or not client.limited or ctx.clients is None:
        return None
    return await ctx.clients.admission(client)


async def usage(ctx: RequestContext) -> None:
    """Usage per client, model, upstream and UTC day, 31 days: a client's own
    rows, or (the --auth-token holder, or no client keys at all) everyone's."""
    state = ctx.clients
    rows = await state.rows(ctx.client.name if ctx.client is not None else None) if state is not None else []
    await ctx.send_json(200, {"data": rows})


async def messages(ctx: RequestContext) -> None:
    admitting = await admission(ctx)  # (first: the store's round trip runs while the rest is done)
    try:
        body = checked_body(ctx)
        permit(ctx, body["model"])
    except ProxyError:
        if admitting is not None:
            admitting.release()
        raise
    dispatch = Dispatch.start(ctx, body, admission=admitting)
    ctx.access.stream = bool(body.get("stream"))
    log.debug("request %s: model %s, route %s (%s), %d messages, %d tools, max_tokens %s, stream %s",
              ctx.access.request_id, body["model"], dispatch.route_name, dispatch.route, len(body["messages"]),
              len(body.get("tools") or ()), body["max_tokens"], ctx.access.stream)
    if ctx.access.stream:
        await stream_message(ctx, body, dispatch)
    else:
        await complete_message(ctx, body, dispatch)


async def complete_message(ctx: RequestContext, body: dict[str, Any], dispatch: Dispatch) -> None:
    for candidate in dispatch:
        protocol, prepared = dispatch.prepared(candidate)
        call = dispatch.call(candidate)
        try:
            await dispatch.admitted()
            answer = await protocol.open(call, prepared)
            message, as_it_came = await protocol.message(call, answer, prepared, message_id=ids.message_id())
        except SwitchProtocol as switch:
            dispatch.switched(candidate, switch)
            continue
        except UpstreamError as error:
            dispatch.failed(candidate, error)  # (raises when the request must stop)
            continue
        ctx.access.upstream_open = False
        dispatch.succeeded(candidate)
        break
    ctx.access.stop_reason, ctx.access.usage = message.get("stop_reason"), counts(message.get("usage"))
    log.debug("response %s: %s, stop %s", ctx.access.request_id,
              ", ".join(str(block.get("type")) for block in message["content"]) or "no blocks", ctx.access.stop_reason)
    if as_it_came is None:
        await ctx.send_json(200, message)
    else:
        await ctx.responder.send_body(200, as_it_came, "application/json")


def counts(usage: Any) -> dict[str, int]:
    """A message's token counts (an upstream's own usage may hold more than counts)."""
    if not isinstance(usage, dict):
        return {}
    return {key: value for key, value in usage.items() if isinstance(value, int) and not isinstance(value, bool)}


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
    "usage": usage,
    "dashboard": dashboard.page,
    "dashboard_events": dashboard.events,
    "dashboard_access": dashboard.access,
    "session": dashboard.session,
}
