"""Anthropic's Messages API (``POST <base>/v1/messages``), passed through: the
real Anthropic API, and the servers that speak it themselves (DeepSeek's
``/anthropic``, Moonshot, z.ai, vLLM, llama.cpp, LM Studio, Ollama).

The request goes as the client sent it, byte for byte unless the candidate
names another model or the attribution line comes off (translate/passthrough.py);
the client's ``anthropic-*`` headers (version, betas) and query string
(``?beta=true``) go with it, and the upstream's credential replaces the
client's. The answer's events are relayed as they come, read only for the
commit point, the usage and the stop reason. An error the upstream words in
Anthropic's shape reaches the client as it came (status, body, request-id,
retry-after); one in another shape (llama.cpp's are OpenAI's) is rendered in
Anthropic's, with the type for its status.

count_tokens goes to the upstream's ``/v1/messages/count_tokens``; a replica
that answers 404 (405, 501) there is not asked again while the proxy runs,
and any failure gives the local estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import trio

from ...core import jsonbytes
from ...core.errors import UpstreamError, UpstreamHTTPError, UpstreamProtocolError, redact
from ...observe.logs import log
from ...translate.passthrough import PassthroughRelay, is_anthropic_error, outgoing_body
from ...translate.request import to_openai
from ...translate.tokens import estimate_payload
from ..answer import Answer
from ..failover import Candidate
from ..pool import MAX_COMPLETION_BYTES
from .base import Call

ENDPOINT = "/v1/messages"
COUNT_ENDPOINT = "/v1/messages/count_tokens"
ANTHROPIC_VERSION = "2023-06-01"  # what the SDKs send, when a client sends none
COUNT_TIMEOUT_S = 10.0  # (as the chat protocol's /tokenize)
NO_ENDPOINT = (404, 405, 501)
# What goes with an Anthropic-shaped error to the client.
ERROR_HEADERS = ("request-id", "retry-after", "retry-after-ms", "x-should-retry", "anthropic-organization-id")
ERROR_HEADER_PREFIXES = ("anthropic-ratelimit-",)


@dataclass(slots=True, eq=False)
class AnthropicRequest:
    body: Mapping[str, Any]  # the client's request, checked
    outgoing: dict[str, Any] | None  # what goes instead of the client's bytes, if anything changed
    notes: list[str] = field(default_factory=list)


class AnthropicProtocol:
    name = "anthropic"

    def __init__(self, keep_attribution: Callable[[str], bool]) -> None:
        self._keep_attribution = keep_attribution  # upstream name -> whether the attribution line stays
        self._no_count: set[tuple[str, str]] = set()  # (upstream, replica) without a count_tokens endpoint

    def prepare(self, body: Mapping[str, Any], candidate: Candidate, *, counting: bool = False) -> AnthropicRequest:
        keep = self._keep_attribution(candidate.upstream)
        return AnthropicRequest(body, outgoing_body(dict(body), candidate.target, keep_attribution=keep))

    async def open(self, call: Call, prepared: AnthropicRequest) -> Answer:
        stream = bool(prepared.body.get("stream"))
        try:
            return await call.send(self._endpoint(call, ENDPOINT), self._content(call, prepared),
                                   self._headers(call, stream=stream), stream=stream)
        except UpstreamHTTPError as error:
            verbatim(error)
            raise

    def relay(self, prepared: AnthropicRequest, *, message_id: str, started: bool) -> PassthroughRelay:
        return PassthroughRelay(message_id=message_id, model=prepared.body["model"], started=started)

    async def message(self, call: Call, answer: Answer, prepared: AnthropicRequest, *,
                      message_id: str) -> tuple[dict[str, Any], bytes | None]:
        """The upstream's message, and its bytes to send as they came."""
        with call.origin.guard():
            try:
                raw = await answer.read(MAX_COMPLETION_BYTES)
            finally:
                await answer.aclose()
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "message" or not isinstance(
                message.get("content"), list):
            raise UpstreamProtocolError(f"the upstream answered HTTP {answer.status} with no Anthropic message: "
                                        f"{raw[:200].decode('utf-8', 'replace')!r}")
        return message, raw

    async def count_tokens(self, call: Call, prepared: AnthropicRequest) -> int:
        """The upstream's own count; the local estimate when it has none."""
        replica = (call.candidate.upstream, call.pool.base_url)
        if replica not in self._no_count:
            try:
                with trio.move_on_after(COUNT_TIMEOUT_S) as waited:
                    answer = await call.pool.send(self._endpoint(call, COUNT_ENDPOINT), self._content(call, prepared),
                                                  self._headers(call, stream=False), stream=False)
                    counted = (await answer.read_json(MAX_COMPLETION_BYTES)).get("input_tokens")
                if waited.cancelled_caught:
                    call.origin.retrying("timeout")
                    log.warning("request %s: %s sent no count within %gs; estimating", call.request_id,
                                call.candidate, COUNT_TIMEOUT_S)
                elif isinstance(counted, int) and not isinstance(counted, bool) and counted >= 0:
                    return counted
            except UpstreamError as error:
                redact(error, call.origin.secrets)
                call.origin.retrying(error.kind)
                if isinstance(error, UpstreamHTTPError) and error.upstream_status in NO_ENDPOINT:
                    self._no_count.add(replica)
                    log.warning("%s answered HTTP %s to count_tokens: its counts are estimated from now on",
                                call.candidate, error.upstream_status)
                else:
                    log.warning("request %s: counting tokens upstream failed (%s); estimating", call.request_id,
                                error.message)
            except AttributeError:  # (an answer that is not an object)
                log.warning("request %s: %s answered count_tokens with no count; estimating", call.request_id,
                            call.candidate)
        return estimate(prepared.body)

    # ---- the request as it goes ------------------------------------------

    @staticmethod
    def _endpoint(call: Call, path: str) -> str:
        query = call.origin.query
        return f"{path}?{query}" if query else path  # (Claude Code posts to /v1/messages?beta=true)

    @staticmethod
    def _content(call: Call, prepared: AnthropicRequest) -> bytes:
        return call.origin.body if prepared.outgoing is None else jsonbytes.dump(prepared.outgoing)

    @staticmethod
    def _headers(call: Call, *, stream: bool) -> dict[str, str]:
        """The call's headers, with the client's ``anthropic-*`` ones (its API
        version, its betas) as it sent them."""
        headers = call.headers(stream=stream)
        headers.update((name, value) for name, value in call.origin.headers.items() if name.startswith("anthropic-"))
        headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
        return headers


def verbatim(error: UpstreamHTTPError) -> None:
    """Mark an error the upstream worded in Anthropic's shape to reach the
    client as it came, with the headers that go with it."""
    try:
        payload = json.loads(error.body)
    except ValueError:
        return
    if is_anthropic_error(payload):
        headers = tuple((name, value) for name, value in error.upstream_headers
                        if name in ERROR_HEADERS or name.startswith(ERROR_HEADER_PREFIXES))
        error.verbatim = (error.body, headers)


def estimate(body: Mapping[str, Any]) -> int:
    """The local estimate of a request's input tokens (translate/tokens.py)."""
    return estimate_payload(to_openai({**body, "max_tokens": body.get("max_tokens", 1), "stream": False},
                                      str(body.get("model", ""))).payload)
