"""Hostile requests through the pure core: every variant of tests/hostile.py is
either refused with an InvalidRequest naming a field, or translated (for
targets of every structured-output mode) into a request that is strict JSON,
can be counted, and survives every fallback transform."""

from __future__ import annotations

import json

from anthroproxy.core import jsonbytes
from anthroproxy.core.errors import InvalidRequest
from anthroproxy.config.capabilities import Capabilities
from anthroproxy.translate.refusals import IMAGES, REASONING_HISTORY, leave_out
from anthroproxy.translate.request import to_openai
from anthroproxy.translate.tokens import chat_tokenize_body, estimate_payload, text_tokenize_body
from anthroproxy.translate.usage import estimate_prompt_tokens
from anthroproxy.api.validate import parse_body, validate_request
from tests.hostile import RICH, all_variants

TARGETS = (
    ("gpt-5", Capabilities(token_limit_field="max_completion_tokens", sampling=False, strict_schemas=True,
                           reasoning_param="reasoning_effort", reasoning_off="reasoning_effort", vision=False)),
    ("deepseek-chat", Capabilities(structured_output="json_object", reasoning_off="thinking",
                                   reasoning_on_tool_calls=True, reasoning_field="reasoning")),
    ("llama", Capabilities(structured_output="none", reasoning_param="reasoning", reasoning_off="think")),
)


def strict_json(data: bytes) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in what the upstream gets")
    return json.loads(data, parse_constant=refuse)


def translate_everything(raw: bytes) -> None:
    body = parse_body(raw)
    validate_request(body)
    for target, caps in TARGETS:
        translation = to_openai(body, target, caps, keep_attribution=target == "llama")
        payload = translation.payload
        strict_json(jsonbytes.dump(payload))
        assert estimate_payload(payload) > 0 and estimate_prompt_tokens(payload["messages"]) >= 0
        strict_json(jsonbytes.dump(chat_tokenize_body(payload)))
        text_tokenize_body(payload)
        for field in (IMAGES, REASONING_HISTORY, "response_format", "reasoning_effort", "think"):
            leave_out(payload, field)
        strict_json(jsonbytes.dump(payload))
    counted = {**body, "max_tokens": body.get("max_tokens", 1), "stream": False}
    validate_request(body, counting=True)
    estimate_payload(to_openai(counted, "gpt-5").payload)


def test_every_hostile_variant_is_refused_naming_a_field_or_translated():
    refused = translated = 0
    for what, raw in all_variants():
        try:
            translate_everything(raw)
            translated += 1
        except InvalidRequest as error:
            assert error.status == 400 and ": " in error.message, (what, error.message)
            refused += 1
        except Exception as error:  # noqa: BLE001 -- the point: nothing else may escape
            raise AssertionError(f"{what}: {error!r}") from error
    assert refused > 1000 and translated > 500, (refused, translated)  # (both kinds well covered)


def test_the_rich_requests_themselves_translate():
    for name, body in RICH.items():
        translate_everything(json.dumps(body).encode())


def test_lone_surrogates_are_refused_naming_where_they_are():
    body = json.loads(json.dumps(RICH["tools"]))
    body["tools"][0]["name"] = "get_\ud800weather"
    try:
        parse_body(json.dumps(body).encode())
    except InvalidRequest as error:
        assert error.message.startswith("tools.0.name: a lone surrogate")
    else:
        raise AssertionError("a lone surrogate in a tool name was accepted")
    emoji = json.dumps({**RICH["text"], "messages": [{"role": "user", "content": "\U0001F600 as a pair"}]})
    assert "\\ud83d\\ude00" in emoji
    assert parse_body(emoji.encode())["messages"][0]["content"] == "\U0001F600 as a pair"  # a pair is fine
    assert parse_body(b'{"a": "\\\\ud800 is text, not an escape"}') == {"a": "\\ud800 is text, not an escape"}
