"""OpenAI Chat Completions (``POST <base>/chat/completions``): the first
upstream protocol, and the one every OpenAI-compatible server speaks.

The request is translated (translate/request.py), less what that (upstream,
model) refused before; a refusal of an optional field is retried without it
(translate/refusals.py says when); the answer is translated back, a stream
through translate/relay.py, a JSON completion through translate/response.py.
A model the upstream serves only on its Responses API (OpenAI's codex and pro
models) is asked there instead (SwitchProtocol), and from then on.

count_tokens, with ``--count-tokens upstream``, asks the backend's
``/tokenize`` (vLLM, llama.cpp) about the request this protocol would send.
The first answer shows which form it takes (translate/tokens.py). A target
model the upstream answers 404, 405 or 501 for is not asked about again while
the proxy runs: the upstream has no such endpoint, or (vLLM) does not know
that model. Whatever goes wrong, the count falls back to the local estimate:
a client asking for a count must get one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import trio

from ...config.capabilities import Capabilities
from ...core import jsonbytes
from ...core.errors import UpstreamError, UpstreamHTTPError, redact
from ...observe.logs import log
from ...translate.refusals import Refusals
from ...translate.relay import StreamRelay
from ...translate.request import Translation, to_openai
from ...translate.response import from_openai
from ...translate.stream import StreamTranslator
from ...translate.tokens import chat_tokenize_body, estimate_payload, text_tokenize_body, tokenized_count
from ...translate.usage import estimate_prompt_tokens
from ..answer import Answer
from ..failover import Candidate
from ..pool import MAX_COMPLETION_BYTES
from .base import Call, SwitchProtocol
from .retrying import send_retrying

ENDPOINT = "/chat/completions"
# OpenAI's answers for a model served only on /v1/responses (docs: its codex and pro models; gpt-5.4 and later
# with function tools and reasoning): the request goes there instead.
RESPONSES_ONLY = re.compile(r"only supported in v1/responses|not a chat model|use /?v1/responses", re.IGNORECASE)
# Claude Code sends dozens of counts at start-up; a slow tokenizer must not hold them up for long.
TOKENIZE_TIMEOUT_S = 10.0
NO_ENDPOINT = (404, 405, 501)


@dataclass(slots=True, eq=False)
class ChatRequest:
    """A request as one (upstream, target model) gets it in Chat Completions."""

    body: Mapping[str, Any]  # the client's Anthropic request
    translation: Translation

    @property
    def notes(self) -> list[str]:
        dropped = self.translation.dropped_tools
        return [f"left out Anthropic server tools an OpenAI backend cannot run: {', '.join(dropped)}"] if dropped \
            else []


class ChatRelay(StreamRelay):
    def __init__(self, translator: StreamTranslator, translation: Translation) -> None:
        super().__init__(translator)
        self._translation = translation

    def answered(self) -> None:
        """What a refusal left out changes what was sent: the prompt's estimate,
        and (a refused response_format) whether a code fence comes off."""
        if self._translation.left_out:
            self.translator.estimate_input(estimate_prompt_tokens(self._translation.payload["messages"]))
        if self._translation.unfence:
            self.translator.strip_fences()


@dataclass(slots=True)
class Tokenizer:
    """What counting learnt of one replica's /tokenize."""

    form: str | None = None  # None until known, then "chat" (vLLM) or "text" (llama.cpp)
    missing: set[str] = field(default_factory=set)  # target models it cannot count: estimated locally


class ChatProtocol:
    name = "chat"

    def __init__(self, capabilities: Callable[[str, str], Capabilities], *,
                 keep_attribution: Callable[[str], bool] = lambda upstream: False, count_tokens: str = "local") -> None:
        self._capabilities = capabilities  # (target, upstream) -> what the target accepts
        self._keep_attribution = keep_attribution  # upstream name -> whether the attribution line stays
        self._count_upstream = count_tokens == "upstream"
        self.refusals = Refusals()
        self._tokenizers: dict[tuple[str, str], Tokenizer] = {}  # by (upstream, replica URL)

    def prepare(self, body: Mapping[str, Any], candidate: Candidate, *, counting: bool = False) -> ChatRequest:
        source = {**body, "max_tokens": body.get("max_tokens", 1), "stream": False} if counting else body
        translation = to_openai(source, candidate.target, self._capabilities(candidate.target, candidate.upstream),
                                keep_attribution=self._keep_attribution(candidate.upstream))
        self.refusals.apply((candidate.upstream, candidate.target), translation.payload)
        return ChatRequest(body, translation)

    async def open(self, call: Call, prepared: ChatRequest) -> Answer:
        """Send the request; a refusal of something the proxy may leave out is
        retried without it (translate/refusals.py), and what worked is
        remembered for the next request to that model."""
        return await send_retrying(call, self.refusals, prepared.translation,
                                   lambda payload: self._send(call, payload), check=responses_only)

    @staticmethod
    async def _send(call: Call, payload: dict[str, Any]) -> Answer:
        stream = bool(payload.get("stream"))
        return await call.send(ENDPOINT, jsonbytes.dump(payload), call.headers(stream=stream), stream=stream)

    def relay(self, prepared: ChatRequest, *, message_id: str, started: bool) -> ChatRelay:
        body, translation = prepared.body, prepared.translation
        translator = StreamTranslator(
            message_id=message_id,
            model=body["model"],
            input_tokens_estimate=estimate_prompt_tokens(translation.payload["messages"]),
            stop_sequences=body.get("stop_sequences"),
            names=translation.names,
        )
        translator.started = started
        return ChatRelay(translator, translation)

    async def message(self, call: Call, answer: Answer, prepared: ChatRequest, *,
                      message_id: str) -> tuple[dict[str, Any], None]:
        with call.origin.guard():
            completion = await answer.read_json(MAX_COMPLETION_BYTES)
        translation = prepared.translation
        return from_openai(completion, model=prepared.body["model"], message_id=message_id,
                           stop_sequences=prepared.body.get("stop_sequences"), names=translation.names,
                           unfence=translation.unfence), None

    async def count_tokens(self, call: Call, prepared: ChatRequest) -> int:
        """The count of what the candidate would get: the local estimate, or
        (``--count-tokens upstream``) the replica's /tokenize."""
        payload = prepared.translation.payload
        tokenizer = self._tokenizers.setdefault((call.candidate.upstream, call.pool.base_url), Tokenizer())
        model = payload["model"]
        if not self._count_upstream or model in tokenizer.missing:
            return estimate_payload(payload)
        url = tokenize_url(call.pool.base_url)
        try:
            with trio.move_on_after(TOKENIZE_TIMEOUT_S) as waited:
                counted = await self._tokenize(call, tokenizer, url, payload)
            if waited.cancelled_caught:
                call.origin.retrying("timeout")  # (and cut short: the estimate answers instead)
                log.warning("request %s: %s sent no count within %gs; estimating", call.request_id, url,
                            TOKENIZE_TIMEOUT_S)
            elif counted is not None:
                return counted
        except UpstreamError as error:
            redact(error, call.origin.secrets)
            call.origin.retrying(error.kind)
            if isinstance(error, UpstreamHTTPError) and error.upstream_status in NO_ENDPOINT:
                tokenizer.missing.add(model)
                log.warning("%s answered HTTP %s for %s (%s): its token counts are estimated from now on",
                            url, error.upstream_status, model, error.message)
            else:
                log.warning("request %s: counting tokens upstream failed (%s); estimating", call.request_id,
                            error.message)
        return estimate_payload(payload)

    @staticmethod
    async def _tokenize(call: Call, tokenizer: Tokenizer, url: str, payload: dict[str, Any]) -> int | None:
        """The upstream's count, in the form it understands: the chat form first
        (vLLM); if the answer holds no tokens, the text form (llama.cpp)."""
        headers = call.headers(stream=False)
        for form in ("chat", "text") if tokenizer.form is None else (tokenizer.form,):
            body = chat_tokenize_body(payload) if form == "chat" else text_tokenize_body(payload)
            answer = await call.pool.send(url, jsonbytes.dump(body), headers, stream=False)
            counted = tokenized_count(await answer.read_json(MAX_COMPLETION_BYTES), payload, chat=form == "chat")
            if counted is not None:
                tokenizer.form = form
                return counted
        return None


def tokenize_url(base_url: str) -> str:
    """vLLM and llama.cpp serve /tokenize beside /v1, at the server's root."""
    base = base_url.rstrip("/")
    return (base[:-3] if base.endswith("/v1") else base) + "/tokenize"


def responses_only(error: UpstreamHTTPError) -> None:
    """An error that says the model is served on /responses only: ask it there."""
    if RESPONSES_ONLY.search(error.message):
        raise SwitchProtocol("responses", error.message) from error
