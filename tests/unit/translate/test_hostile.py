"""Hostile requests through the pure core: every variant of tests/hostile.py is
either refused with an InvalidRequest naming a field, or translated (for
targets of every structured-output mode) into a request that is strict JSON,
can be counted, and survives every fallback transform."""

from __future__ import annotations

import json

from anthroproxy.api.validate import parse_body, validate_request
from anthroproxy.config.capabilities import Capabilities
from anthroproxy.core import jsonbytes
from anthroproxy.core.errors import InvalidRequest
from anthroproxy.translate.refusals import IMAGES, REASONING_HISTORY, leave_out
from anthroproxy.translate.request import to_openai
from anthroproxy.translate.tokens import chat_tokenize_body, estimate_payload, text_tokenize_body
from anthroproxy.translate.usage import estimate_prompt_tokens
from tests.support.hostile import RICH, all_variants

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


def translate_everything(raw: bytes) -> dict[str, dict]:
    """Each target's payload (before the fallback transforms), every check on the way passed."""
    body = parse_body(raw)
    validate_request(body)
    payloads = {}
    for target, caps in TARGETS:
        translation = to_openai(body, target, caps, keep_attribution=target == "llama")
        payload = translation.payload
        payloads[target] = json.loads(jsonbytes.dump(payload))
        strict_json(jsonbytes.dump(payload))
        assert estimate_payload(payload) > 0 and estimate_prompt_tokens(payload["messages"]) >= 0
        strict_json(jsonbytes.dump(chat_tokenize_body(payload)))
        text_tokenize_body(payload)
        for field in (IMAGES, REASONING_HISTORY, "response_format", "reasoning_effort", "think"):
            leave_out(payload, field)
        strict_json(jsonbytes.dump(payload))
    counted = {**body, "max_tokens": body.get("max_tokens", 1), "stream": False}
    validate_request(body, counting=True)
    assert estimate_payload(to_openai(counted, "gpt-5").payload) > 0
    return payloads


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


def parts(payload: dict, kind: str) -> list[dict]:
    return [part for message in payload["messages"] if isinstance(message.get("content"), list)
            for part in message["content"] if part.get("type") == kind]


# What each rich request is rich in, as each target gets it: the variants start from these.
RICH_IN = {
    "text": lambda p: p["gpt-5"]["stop"] == ["END"] and p["gpt-5"]["user"] == "u-1" and "temperature" not in p["gpt-5"]
    and p["gpt-5"]["messages"][0] == {"role": "system", "content": "You are terse."}  # (the attribution line left out)
    and p["llama"]["temperature"] == 0.5 and p["llama"]["messages"][0]["content"].startswith("x-anthropic-billing"),
    "tools": lambda p: all(
        [t["function"]["name"] for t in p[target]["tools"]][0] == "get_weather" and len(p[target]["tools"]) == 2
        and p[target]["tool_choice"]["function"]["name"] == "get_weather" and p[target]["parallel_tool_calls"] is False
        and len(max((t["function"]["name"] for t in p[target]["tools"]), key=len)) <= 64 for target in p),
    "images": lambda p: len(parts(p["deepseek-chat"], "image_url")) == 2 and not parts(p["gpt-5"], "image_url"),
    "documents": lambda p: len(parts(p["deepseek-chat"], "file")) == 1,
    "thinking": lambda p: p["gpt-5"]["reasoning_effort"] == "low" and p["gpt-5"]["response_format"]["type"] ==
    "json_schema" and p["deepseek-chat"]["response_format"] == {"type": "json_object"}
    and any(t["function"]["name"] == "late_tool" for t in p["llama"]["tools"]),
    "beta": lambda p: p["gpt-5"]["response_format"]["json_schema"]["strict"] is True
    and p["gpt-5"]["reasoning_effort"] == "none" and p["deepseek-chat"]["thinking"] == {"type": "disabled"}
    and p["llama"]["think"] is False and p["llama"]["stream"] is True,
}


def test_the_rich_requests_themselves_translate_with_what_they_are_rich_in():
    assert set(RICH_IN) == set(RICH)
    for name, body in RICH.items():
        payloads = translate_everything(json.dumps(body).encode())
        assert RICH_IN[name](payloads), (name, payloads)


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
