"""What a handler works with: the request's context, and sending a request to
one candidate upstream with the refused-field fallback (translate/fallback.py)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import ContextManager

import httpx

from ..config import Config
from ..errors import UpstreamHTTPError, redact
from ..logs import AccessRecord, log
from ..metrics import Metrics
from ..server.connection import Interrupter, Responder
from ..translate.fallback import Refusal, describe_refusal, leave_out, refused_field
from ..translate.request import Translation
from ..upstream.failover import Candidate
from ..upstream.pool import client_key
from ..upstream.upstreams import Upstreams

# Retries for refusals, per candidate: a request may be refused for more than
# one thing (its reasoning history, then its images), but not without end.
MAX_REFUSAL_RETRIES = 2


@dataclass(slots=True)
class RequestContext:
    config: Config
    upstreams: Upstreams
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
        return request_secrets(self.config, self.headers, self.upstreams)


def is_authorized(config: Config, headers: dict[str, str]) -> bool:
    """No --auth-token, or the client presents it (compared in constant time)."""
    if config.auth_token is None:
        return True
    presented = client_key(headers) or ""
    return hmac.compare_digest(presented.encode(), config.auth_token.encode())


def request_secrets(config: Config, headers: dict[str, str], upstreams: Upstreams | None = None) -> tuple[str, ...]:
    """Credentials of a request, to be redacted from any error text: every
    upstream key and credential-like header value, and the client's own key."""
    configured = upstreams.secrets if upstreams else ()
    found = {key for key in (config.api_key, *configured, client_key(headers)) if key}
    return tuple(sorted(found, key=len, reverse=True))  # ("Bearer sk-1" goes before "sk-1")


async def send_to(ctx: RequestContext, candidate: Candidate, translation: Translation) -> httpx.Response:
    """Send the request to one candidate. An error that refuses something the
    proxy may leave out (fallback.py: an optional field it added or one value
    of it, the reasoning history, the images) is retried without it, at most
    MAX_REFUSAL_RETRIES times. If that works, the candidate's (upstream, model)
    is not sent what it refused again while the proxy runs. A retry that fails
    the same way shows the guess was wrong: its error is raised."""
    payload = translation.payload
    left_out: list[tuple[Refusal, str]] = []  # and the message that refused it
    while True:
        try:
            response = await _send(ctx, candidate, payload)
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
                     candidate, refusal.key, error.message)
        leave_out(payload, refusal.field)
        translation.left_out.append(refusal.key)
    remembered = ctx.upstreams.refused_by(candidate)
    for refusal, _ in left_out:
        if refusal.key not in remembered:
            remembered.add(refusal.key)
            log.warning("%s refused %s: left out of requests to that model from now on", candidate,
                        describe_refusal(refusal))
    return response


async def _send(ctx: RequestContext, candidate: Candidate, payload: dict) -> httpx.Response:
    stream = bool(payload.get("stream"))
    headers = ctx.upstreams.headers(candidate, ctx.headers, stream=stream, request_id=ctx.access.request_id)
    ctx.access.upstream_open = True  # until its answer has been read to the end
    with ctx.guard():
        return await ctx.upstreams.pool(candidate).send(payload, headers, stream=stream)
