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
from .translate.fallback import Refusal, describe_refusal, leave_out, refused_field
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


# Retries for refusals, per request: a request may be refused for more than
# one thing (its reasoning history, then its images), but not without end.
MAX_REFUSAL_RETRIES = 2


async def send_upstream(ctx: RequestContext, translation: Translation) -> httpx.Response:
    """Send the request. An error that refuses something the proxy may leave
    out (fallback.py: an optional field it added or one value of it, the
    reasoning history, the images) is retried without it, at most
    MAX_REFUSAL_RETRIES times. If that works, the target model is not sent
    what it refused again while the proxy runs. A retry that fails the same
    way shows the guess was wrong: its error goes to the client."""
    payload = translation.payload
    left_out: list[tuple[Refusal, str]] = []  # and the message that refused it
    while True:
        try:
            response = await _send(ctx, payload)
            break
        except UpstreamHTTPError as error:
            redact(error, ctx.secrets)
            refusal = refused_field(error.upstream_status or error.status, error.message, payload)
            same_again = bool(left_out) and error.message == left_out[-1][1]
            if refusal is None or same_again or len(left_out) == MAX_REFUSAL_RETRIES:
                raise
            ctx.access.upstream_failed(error.kind)
            left_out.append((refusal, error.message))
            log.info("request %s: %s refused %s (%s); retrying without it", ctx.access.request_id,
                     payload["model"], refusal.key, error.message)
        leave_out(payload, refusal.field)
        translation.left_out.append(refusal.key)
    remembered = ctx.upstream.refused.setdefault(payload["model"], set())
    for refusal, _ in left_out:
        if refusal.key not in remembered:
            remembered.add(refusal.key)
            log.warning("%s refused %s: left out of requests to that model from now on", payload["model"],
                        describe_refusal(refusal))
    return response


async def _send(ctx: RequestContext, payload: dict[str, Any]) -> httpx.Response:
    ctx.access.upstream_open = True  # until its answer has been read to the end
    with ctx.guard():
        return await ctx.upstream.send(payload, ctx.headers, stream=bool(payload.get("stream")),
                                       request_id=ctx.access.request_id)
