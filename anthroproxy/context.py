"""What a handler works with: the request's context, and sending it upstream
with the refused-field fallback (translate/fallback.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ContextManager

import httpx

from .config import Config
from .errors import UpstreamHTTPError, redact
from .logs import AccessRecord, log
from .metrics import Metrics
from .server.connection import Interrupter, Responder
from .translate.fallback import describe_refusal, leave_out, refused_field
from .translate.request import Translation
from .upstream import Upstream, client_key


@dataclass(slots=True)
class RequestContext:
    config: Config
    upstream: Upstream
    metrics: Metrics
    path: str
    query: str
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
        return request_secrets(self.config, self.headers)


def request_secrets(config: Config, headers: dict[str, str]) -> tuple[str, ...]:
    """Credentials of a request, to be redacted from any error text."""
    return tuple(key for key in (config.api_key, client_key(headers)) if key)


async def send_upstream(ctx: RequestContext, translation: Translation) -> httpx.Response:
    """Send the request. An error that refuses something the proxy may leave
    out (fallback.py: an optional field it added, the reasoning history, the
    images) is retried without it, once for each such thing; if that works,
    the target model is not sent them again while the proxy runs."""
    payload = translation.payload
    left_out: list[str] = []
    while True:
        try:
            response = await _send(ctx, payload)
            break
        except UpstreamHTTPError as error:
            field = refused_field(error.upstream_status or error.status, error.message, payload)
            if field is None or field in left_out:
                raise
            left_out.append(field)
            redact(error, ctx.secrets)
            log.info("request %s: %s refused %s (%s); retrying without it", ctx.access.request_id,
                     payload["model"], field, error.message)
        leave_out(payload, field)
    for field in left_out:
        ctx.upstream.refused.setdefault(payload["model"], set()).add(field)
        log.warning("%s refused %s: left out of requests to that model from now on", payload["model"],
                    describe_refusal(field))
    return response


async def _send(ctx: RequestContext, payload: dict[str, Any]) -> httpx.Response:
    ctx.access.upstream_open = True  # until its answer has been read to the end
    with ctx.guard():
        return await ctx.upstream.send(payload, ctx.headers, stream=bool(payload.get("stream")),
                                       request_id=ctx.access.request_id)
