"""A request sent again without what the upstream refused (chat and Responses
protocols): an optional field, the reasoning history or the images, as
translate/refusals.py decides; what worked is remembered for the next request
to that (upstream, model), with one WARN line."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ...core.errors import UpstreamHTTPError, redact
from ...observe.logs import log
from ...translate.refusals import RefusalRetry, Refusals, describe_refusal
from ...translate.request import Translation
from ..answer import Answer
from .base import Call


async def send_retrying(call: Call, refusals: Refusals, translation: Translation,
                        send: Callable[[dict[str, Any]], Awaitable[Answer]], *,
                        check: Callable[[UpstreamHTTPError], None] | None = None) -> Answer:
    """``send(payload)`` until it is answered, or refused for something the proxy
    may not leave out. ``check`` sees each error first (it may raise another)."""
    candidate = call.candidate
    retry: RefusalRetry | None = None  # (made at the first refusal: most requests have none)
    while True:
        try:
            answer = await send(translation.payload)
            break
        except UpstreamHTTPError as error:
            redact(error, call.origin.secrets)
            if check is not None:
                check(error)
            retry = retry or refusals.retry((candidate.upstream, candidate.target), translation)
            refusal = retry.after(error.upstream_status or error.status, error.message)
            if refusal is None:
                raise
            call.origin.retrying(error.kind)
            log.info("request %s: %s refused %s (%s); retrying without it", call.request_id, candidate,
                     refusal.key, error.message)
    if retry is not None:
        new = retry.succeeded()
        for refusal in new:
            log.warning("%s refused %s: left out of requests to that model from now on", candidate,
                        describe_refusal(refusal))
        refusals.tell((candidate.upstream, candidate.target), new)
    return answer
