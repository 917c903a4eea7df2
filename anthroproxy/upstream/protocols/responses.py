"""OpenAI's Responses API (``POST <base>/responses``): what OpenAI serves its
codex and pro models on, and what vLLM, llama.cpp, Ollama, LM Studio and
OpenRouter serve beside Chat Completions.

A full translation, both ways (translate/responses/): every request
stateless (``store: false``) with the reasoning's encrypted content carried
in the thinking blocks' signatures, so a reasoning model keeps its chain of
thought across tool calls; stop sequences applied by the proxy, which the API
does not take; Claude Code's session as the ``prompt_cache_key``. A refusal
of an optional field is retried without it, as for Chat Completions.
count_tokens is the local estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ...config.capabilities import Capabilities
from ...core import jsonbytes
from ...translate.refusals import Refusals
from ...translate.request import to_openai
from ...translate.responses.message import from_responses
from ...translate.responses.request import OPTIONAL_FIELDS, ResponsesTranslation, to_responses
from ...translate.responses.stream import ResponsesRelay
from ...translate.tokens import estimate_payload
from ...translate.usage import estimate_tokens
from ..answer import Answer
from ..balancer import conversation_of
from ..failover import Candidate
from ..pool import MAX_COMPLETION_BYTES
from .base import Call
from .retrying import send_retrying

ENDPOINT = "/responses"


@dataclass(slots=True, eq=False)
class ResponsesRequest:
    body: Mapping[str, Any]  # the client's request, checked
    translation: ResponsesTranslation

    @property
    def notes(self) -> list[str]:
        dropped = self.translation.dropped_tools
        return [f"left out Anthropic server tools the Responses API is not sent: {', '.join(dropped)}"] if dropped \
            else []


class TranslatedRelay(ResponsesRelay):
    def __init__(self, translation: ResponsesTranslation, **options: Any) -> None:
        super().__init__(**options)
        self._translation = translation

    def answered(self) -> None:
        """A refused ``text.format`` leaves the schema in words: a code fence comes off."""
        if self._translation.unfence:
            self.strip_fences()


class ResponsesProtocol:
    name = "responses"

    def __init__(self, capabilities: Callable[[str, str], Capabilities], *,
                 keep_attribution: Callable[[str], bool] = lambda upstream: False) -> None:
        self._capabilities = capabilities  # (target, upstream) -> what the target accepts
        self._keep_attribution = keep_attribution
        self.refusals = Refusals(OPTIONAL_FIELDS)

    def prepare(self, body: Mapping[str, Any], candidate: Candidate, *, counting: bool = False) -> ResponsesRequest:
        source = {**body, "max_tokens": body.get("max_tokens", 1), "stream": False} if counting else dict(body)
        translation = to_responses(source, candidate.target, self._capabilities(candidate.target, candidate.upstream),
                                   keep_attribution=self._keep_attribution(candidate.upstream),
                                   origin=f"{candidate.upstream}/{candidate.target}")
        self.refusals.apply((candidate.upstream, candidate.target), translation.payload)
        return ResponsesRequest(body, translation)

    async def open(self, call: Call, prepared: ResponsesRequest) -> Answer:
        """Send the request (with the conversation as its prompt_cache_key); an
        optional field refused is left out and the request sent again."""
        candidate, payload = call.candidate, prepared.translation.payload
        if "prompt_cache_key" not in self.refusals.of((candidate.upstream, candidate.target)):
            payload["prompt_cache_key"] = conversation_of(call.origin.headers, prepared.body)
        return await send_retrying(call, self.refusals, prepared.translation, lambda payload: self._send(call, payload))

    @staticmethod
    async def _send(call: Call, payload: dict[str, Any]) -> Answer:
        stream = bool(payload.get("stream"))
        return await call.send(ENDPOINT, jsonbytes.dump(payload), call.headers(stream=stream), stream=stream)

    def relay(self, prepared: ResponsesRequest, *, message_id: str, started: bool) -> TranslatedRelay:
        body, translation = prepared.body, prepared.translation
        return TranslatedRelay(translation, message_id=message_id, model=body["model"], started=started,
                              input_tokens=estimate_input(translation.payload),
                              stop_sequences=body.get("stop_sequences"), names=translation.names,
                              unfence=translation.unfence, origin=translation.origin)

    async def message(self, call: Call, answer: Answer, prepared: ResponsesRequest, *,
                      message_id: str) -> tuple[dict[str, Any], None]:
        with call.origin.guard():
            response = await answer.read_json(MAX_COMPLETION_BYTES)
        translation = prepared.translation
        return from_responses(response, model=prepared.body["model"], message_id=message_id,
                              stop_sequences=prepared.body.get("stop_sequences"), names=translation.names,
                              unfence=translation.unfence, origin=translation.origin), None

    async def count_tokens(self, call: Call, prepared: ResponsesRequest) -> int:
        """The local estimate (translate/tokens.py), of the request as Chat Completions would carry it."""
        body = prepared.body
        return estimate_payload(to_openai({**body, "max_tokens": body.get("max_tokens", 1), "stream": False},
                                          call.candidate.target).payload)


def estimate_input(payload: dict[str, Any]) -> int:
    """A rough prompt size for message_start, before the upstream reports usage
    (its text, walked: a serialisation would cost more than the estimate is worth)."""
    characters = len(payload.get("instructions") or "")
    for item in payload["input"]:
        for part in item.get("content") or ():
            characters += len(part.get("text") or "")
        output = item.get("output")
        characters += len(output) if isinstance(output, str) else 0
        characters += len(item.get("arguments") or "")
    return estimate_tokens(characters)
