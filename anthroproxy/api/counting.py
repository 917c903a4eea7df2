"""/v1/messages/count_tokens: the local estimate, or the upstream's /tokenize.

``--count-tokens upstream`` asks the backend (vLLM, llama.cpp) to tokenize the
request the proxy would send. The first answer shows which form it takes
(translate/tokens.py). A target model the upstream answers 404, 405 or 501 for
is not asked about again while the proxy runs: the upstream has no such
endpoint, or (vLLM) does not know that model. Whatever goes wrong, the count
falls back to the local estimate: a client asking for a count must get one.
"""

from __future__ import annotations

from typing import Any

import trio

from ..upstream.failover import Candidate
from .context import RequestContext
from ..errors import UpstreamError, UpstreamHTTPError, redact
from ..logs import log
from ..translate.tokens import chat_tokenize_body, estimate_payload, text_tokenize_body, tokenized_count

# Claude Code sends dozens of counts at start-up; a slow tokenizer must not hold them up for long.
TOKENIZE_TIMEOUT_S = 10.0
NO_ENDPOINT = (404, 405, 501)


async def count_input_tokens(ctx: RequestContext, candidate: Candidate, payload: dict[str, Any]) -> int:
    """The count of what ``candidate`` (the request's route's first) would get."""
    upstream, model = ctx.upstreams.pool(candidate), payload["model"]
    if ctx.config.count_tokens == "local" or model in upstream.tokenize_missing:
        return estimate_payload(payload)
    try:
        with trio.move_on_after(TOKENIZE_TIMEOUT_S) as waited:
            counted = await tokenize(ctx, candidate, payload)
        if waited.cancelled_caught:
            ctx.access.upstream_failed("timeout")  # (and cut short)
            log.warning("request %s: %s sent no count within %gs; estimating", ctx.access.request_id,
                        upstream.tokenize_url, TOKENIZE_TIMEOUT_S)
        elif counted is not None:
            return counted
    except UpstreamError as error:
        redact(error, ctx.secrets)
        ctx.access.upstream_failed(error.kind)
        if isinstance(error, UpstreamHTTPError) and error.upstream_status in NO_ENDPOINT:
            upstream.tokenize_missing.add(model)
            log.warning("%s answered HTTP %s for %s (%s): its token counts are estimated from now on",
                        upstream.tokenize_url, error.upstream_status, model, error.message)
        else:
            log.warning("request %s: counting tokens upstream failed (%s); estimating", ctx.access.request_id,
                        error.message)
    return estimate_payload(payload)


async def tokenize(ctx: RequestContext, candidate: Candidate, payload: dict[str, Any]) -> int | None:
    """The upstream's count, in the form it understands: the chat form first
    (vLLM); if the answer holds no tokens, the text form (llama.cpp)."""
    upstream = ctx.upstreams.pool(candidate)
    headers = ctx.upstreams.headers(candidate, ctx.headers, stream=False, request_id=ctx.access.request_id)
    for form in ("chat", "text") if upstream.tokenize_form is None else (upstream.tokenize_form,):
        body = chat_tokenize_body(payload) if form == "chat" else text_tokenize_body(payload)
        response = await upstream.send(body, headers, stream=False, url=upstream.tokenize_url)
        counted = tokenized_count(await upstream.read_json(response), payload, chat=form == "chat")
        if counted is not None:
            upstream.tokenize_form = form
            return counted
    return None
