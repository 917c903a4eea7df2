"""Structured outputs and strict tools, end to end through the official Python
SDK: ``messages.parse`` (the GA form), the beta ``output_format``, streams, and
the three ways a backend can take a schema."""

from __future__ import annotations

import json

import httpx
import pydantic

from anthroproxy.testing.fake_upstream import Reply, completion, text_chunks
from tests.support.proxy import in_thread, sdk, start_proxy


class Weather(pydantic.BaseModel):
    city: str
    days: int = 3  # optional: must stay optional


ANSWER = '{"city": "Oslo", "days": 2}'
ASK = [{"role": "user", "content": "Weather in Oslo for two days, as JSON."}]


def sent_schema(request) -> dict:
    return request.json["response_format"]["json_schema"]["schema"]


async def test_messages_parse_gets_the_model_instance_and_the_schema_goes_as_written(proxy, fake):
    fake.queue(Reply.json(completion(ANSWER)))
    message = await in_thread(lambda: sdk(proxy).messages.parse(
        model="claude-x", max_tokens=100, messages=ASK, output_format=Weather))
    assert message.parsed_output == Weather(city="Oslo", days=2)
    assert [block.type for block in message.content] == ["text"] and message.content[0].text == ANSWER
    form = fake.requests[-1].json["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["name"] == "Weather"
    assert "strict" not in form["json_schema"]  # fake-default: no backend known to enforce it
    schema = sent_schema(fake.requests[-1])
    assert schema["required"] == ["city"] and set(schema["properties"]) == {"city", "days"}


async def test_a_streamed_parse_gets_the_model_instance(proxy, fake):
    pieces = ['{"city"', ': "Oslo", ', '"days": 2}']
    fake.queue(Reply.stream(text_chunks(pieces)))

    def run():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=100, messages=ASK,
                                        output_format=Weather) as stream:
            return stream.get_final_message()

    final = await in_thread(run)
    assert final.parsed_output == Weather(city="Oslo", days=2)
    assert fake.requests[-1].json["stream"] is True and sent_schema(fake.requests[-1])["required"] == ["city"]


async def test_the_beta_output_format_at_the_top_level(proxy, fake):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    fake.queue(Reply.json(completion('{"answer": "yes"}')))
    message = await in_thread(lambda: sdk(proxy).beta.messages.create(  # (this SDK sends the beta form as extra)
        model="claude-x", max_tokens=100, messages=ASK, betas=["structured-outputs-2025-11-13"],
        extra_body={"output_format": {"type": "json_schema", "schema": schema}}))
    assert json.loads(message.content[0].text) == {"answer": "yes"}
    request = fake.requests[-1]
    assert request.path.endswith("/chat/completions") and sent_schema(request) == schema


async def test_strict_is_sent_to_a_backend_that_enforces_it_for_a_schema_in_the_subset(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="gpt-4.1")
    strict = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    fake.default = lambda request: Reply.json(completion('{"answer": "yes"}'))
    for schema, expected in ((strict, True), (Weather.model_json_schema(), None)):
        await in_thread(lambda: sdk(proxy).messages.create(
            model="claude-x", max_tokens=100, messages=ASK,
            output_config={"format": {"type": "json_schema", "schema": schema}}))
        assert fake.requests[-1].json["response_format"]["json_schema"].get("strict") is expected


async def test_json_object_mode_states_the_schema_and_takes_a_code_fence_off(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="deepseek-chat")  # built in: json_object
    fake.queue(Reply.json(completion(f"```json\n{ANSWER}\n```")),
               Reply.stream(text_chunks(["``", "`json\n{\"city\": ", "\"Oslo\", \"days\": 2}\n`",
                                         "``\nHope this ", "helps!"])))
    message = await in_thread(lambda: sdk(proxy).messages.parse(
        model="claude-x", max_tokens=100, messages=ASK, system="Be exact.", output_format=Weather))
    assert message.parsed_output == Weather(city="Oslo", days=2) and message.content[0].text == ANSWER
    sent = fake.requests[-1].json
    assert sent["response_format"] == {"type": "json_object"}
    system = sent["messages"][0]["content"]
    assert system.startswith("Be exact.\n\n") and '"required": ["city"]' in system and "JSON" in system

    def run():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=100, messages=ASK,
                                        output_format=Weather) as stream:
            return stream.get_final_message()

    assert (await in_thread(run)).parsed_output == Weather(city="Oslo", days=2)


async def test_none_mode_states_the_schema_in_the_system_prompt_only(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="tiny-local",
                              model_capabilities='{"tiny-*": {"structured_output": "none"}}')
    fake.queue(Reply.json(completion(ANSWER)))
    message = await in_thread(lambda: sdk(proxy).messages.parse(
        model="claude-x", max_tokens=100, messages=ASK, output_format=Weather))
    assert message.parsed_output.city == "Oslo"
    sent = fake.requests[-1].json
    assert "response_format" not in sent and "JSON Schema" in sent["messages"][0]["content"]


async def test_a_refused_response_format_is_retried_with_the_schema_in_words(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="old-server")
    fake.queue(Reply.error(400, "This response_format type is unavailable now"),
               Reply.json(completion(f"```\n{ANSWER}\n```")))
    message = await in_thread(lambda: sdk(proxy).messages.parse(
        model="claude-x", max_tokens=100, messages=ASK, output_format=Weather))
    assert message.parsed_output == Weather(city="Oslo", days=2)
    first, retry = fake.requests
    assert "response_format" in first.json and "response_format" not in retry.json
    assert "JSON Schema" in retry.json["messages"][0]["content"]


async def test_count_tokens_counts_the_schema_as_it_is_sent(nursery, fake):
    """In response_format (json_schema) or in the system prompt (json_object), the schema is counted."""
    counts = {}
    for model in ("qwen3", "deepseek-chat"):
        proxy = await start_proxy(nursery, fake, default_model=model)
        async with httpx.AsyncClient() as client:
            for with_schema in (False, True):
                extra = {"output_config": {"format": {"type": "json_schema", "schema": Weather.model_json_schema()}}}
                body = {"model": "claude-x", "messages": ASK, **(extra if with_schema else {})}
                response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens", json=body)
                counts[model, with_schema] = response.json()["input_tokens"]
    assert counts["qwen3", True] > counts["qwen3", False] + 30
    assert counts["deepseek-chat", True] > counts["qwen3", True]  # the instruction's words besides the schema


# ---- strict tools --------------------------------------------------------------------------

STRICT_TOOL = {"name": "get_weather", "strict": True, "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}}


async def test_strict_tools_reach_openai_models_as_strict_and_others_without_it(nursery, fake):
    for target, strict in (("gpt-4.1", True), ("qwen3:32b", None)):
        proxy = await start_proxy(nursery, fake, default_model=target)
        fake.queue(Reply.json(completion("ok")))
        await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=ASK,
                                                           tools=[STRICT_TOOL]))
        function = fake.requests[-1].json["tools"][0]["function"]
        assert function.get("strict") is strict and function["parameters"] == STRICT_TOOL["input_schema"]
