"""Tools, images, thinking and the reasoning fallback, end to end through the
official Python SDK, with the fake upstream playing each backend's shapes."""

import json

import anthropic
import httpx
import pytest

from anthroproxy.testing.fake_upstream import Reply, chunk, completion, reasoning_chunks, tool_call_chunks, usage
from tests.support.proxy import in_thread, sdk, start_proxy

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}
LONG_MCP = "mcp__weather-service.internal__get_current_conditions_for_a_city_by_name"


def tool_stream(*calls, text="Let me check.", reasoning=None):
    objects = [chunk({"role": "assistant", "content": None})]
    if reasoning:
        objects += reasoning_chunks(reasoning)
    if text:
        objects.append(chunk({"content": text}))
    for index, (call_id, name, pieces) in enumerate(calls):
        objects += tool_call_chunks(index, call_id, name, pieces)
    return objects + [chunk({}, "tool_calls"), chunk(usage=usage(300, 25))]


def stream_final(proxy, **kwargs):
    def run():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=200, **kwargs) as stream:
            return stream.get_final_message()
    return run


async def test_streamed_tool_call_reaches_get_final_message_intact(proxy, fake):
    pieces = ['{"ci', 'ty": "Par', 'is, Fr', 'ance"}']
    fake.queue(Reply.stream(tool_stream(("call_w1", "get_weather", pieces))))
    final = await in_thread(stream_final(proxy, tools=[WEATHER], messages=[{"role": "user", "content": "Weather?"}]))
    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.text == "Let me check."
    assert (tool.type, tool.id, tool.name) == ("tool_use", "call_w1", "get_weather")
    assert tool.input == json.loads("".join(pieces))
    sent = fake.requests[-1].json
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER["input_schema"]}}]


async def test_parallel_tool_calls_streamed_and_not(proxy, fake):
    calls = (("call_a", "get_weather", ['{"city":', ' "Oslo"}']), ("call_b", "get_time", ['{"zone": "CET"}']))
    fake.queue(Reply.stream(tool_stream(*calls, text=None)))
    final = await in_thread(stream_final(proxy, tools=[WEATHER, TIME], messages=[{"role": "user", "content": "?"}]))
    assert [(b.id, b.name, b.input) for b in final.content] == [
        ("call_a", "get_weather", {"city": "Oslo"}), ("call_b", "get_time", {"zone": "CET"})]

    fake.queue(Reply.json(completion(None, finish="tool_calls", tool_calls=[
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}])))
    message = await in_thread(lambda: sdk(proxy).messages.create(
        model="claude-x", max_tokens=50, tools=[WEATHER, TIME], messages=[{"role": "user", "content": "?"}]))
    assert [(b.name, b.input) for b in message.content] == [("get_weather", {"city": "Oslo"}), ("get_time", {})]
    assert message.stop_reason == "tool_use"


async def test_tool_result_round_trip_and_long_mcp_names(proxy, fake):
    tool = {**WEATHER, "name": LONG_MCP}
    upstream_names = []

    def upstream(request):
        """Calls the tool by the name it was offered, then answers from its result."""
        name = request.json["tools"][0]["function"]["name"]
        upstream_names.append(name)
        if len(fake.requests) == 1:
            return Reply.json(completion(None, finish="tool_calls", tool_calls=[
                {"id": "call_m", "type": "function", "function": {"name": name, "arguments": '{"city": "Rome"}'}}]))
        return Reply.json(completion("It is sunny in Rome."))

    fake.default = upstream
    ask = [{"role": "user", "content": "Rome?"}]
    message = await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=50, tools=[tool],
                                                                 messages=ask))
    (block,) = message.content
    assert block.name == LONG_MCP and block.input == {"city": "Rome"}
    short = upstream_names[0]
    assert len(short) <= 64 and short != LONG_MCP

    history = [*ask, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_m", "content": "sunny, 24C"}]}]
    follow_up = await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=50, tools=[tool],
                                                                   messages=history))
    assert follow_up.content[0].text == "It is sunny in Rome."
    assert upstream_names == [short, short]  # the same short name in both requests
    sent = fake.requests[-1].json["messages"]
    assert sent[1]["tool_calls"] == [{"id": "call_m", "type": "function",
                                      "function": {"name": short, "arguments": '{"city": "Rome"}'}}]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_m", "content": "sunny, 24C"}


async def test_images_reach_the_upstream_as_image_url_parts(proxy, fake):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is this?"}]}]))
    assert fake.requests[-1].json["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]


async def test_thinking_streams_as_a_thinking_block_and_travels_back(proxy, fake):
    fake.queue(Reply.stream(tool_stream(("call_t", "get_time", ["{}"]), text=None, reasoning=["I should ", "ask the clock."])))
    final = await in_thread(stream_final(proxy, tools=[TIME], thinking={"type": "enabled", "budget_tokens": 2048},
                                         messages=[{"role": "user", "content": "time?"}]))
    thinking, tool = final.content
    assert (thinking.type, thinking.thinking) == ("thinking", "I should ask the clock.")
    assert isinstance(thinking.signature, str) and thinking.signature
    assert tool.name == "get_time"

    fake.queue(Reply.json(completion("12:00")))
    history = [{"role": "user", "content": "time?"},
               {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_t", "content": "12:00"}]}]
    await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, tools=[TIME],
                                                       messages=history))
    assert fake.requests[-1].json["messages"][1]["reasoning_content"] == "I should ask the clock."


def thinking_history() -> list[dict]:
    """A conversation whose assistant turn has a thinking block (sent upstream as reasoning_content)."""
    return [{"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                              {"type": "text", "text": "y"}]},
            {"role": "user", "content": "z"}]


async def test_reasoning_fallback_retries_once_then_remembers(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="strict-model")
    history = thinking_history()
    rejection = Reply.error(400, "Additional properties are not allowed ('reasoning_content' was unexpected) - 'messages.1'")
    fake.queue(rejection, Reply.json(completion("fine")))
    create = lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=history)  # noqa: E731
    assert (await in_thread(create)).content[0].text == "fine"
    first, retry = fake.requests
    assert "reasoning_content" in first.json["messages"][1] and "reasoning_content" not in retry.json["messages"][1]

    fake.queue(Reply.json(completion("again")))
    assert (await in_thread(create)).content[0].text == "again"
    assert len(fake.requests) == 3 and "reasoning_content" not in fake.requests[2].json["messages"][1]


async def test_a_400_asking_for_more_reasoning_is_not_retried(proxy, fake):
    fake.queue(Reply.error(400, "The reasoning_content in the thinking mode must be passed back to the API."))
    history = thinking_history()
    with pytest.raises(anthropic.BadRequestError):
        await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=history))
    assert len(fake.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_server_tools_are_left_out_with_one_warning(proxy, fake, caplog, stream):
    tools = [WEATHER, {"type": "web_search_20250305", "name": "web_search"}, {"type": "bash_20250124", "name": "bash"}]
    ask = {"model": "claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "q"}], "tools": tools}
    await in_thread(lambda: sdk(proxy).messages.count_tokens(**{k: v for k, v in ask.items() if k != "max_tokens"}))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # (a count says nothing: Claude Code sends dozens)
    def streamed():
        with sdk(proxy).messages.stream(**ask) as answer:
            return answer.get_final_message()

    await in_thread(streamed if stream else lambda: sdk(proxy).messages.create(**ask))
    assert [t["function"]["name"] for t in fake.requests[-1].json["tools"]] == ["get_weather"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "web_search (web_search_20250305), bash (bash_20250124)" in warnings[0]


async def test_a_refusal_that_the_retry_does_not_cure_is_not_remembered(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="picky")
    history = thinking_history()
    fake.queue(Reply.error(400, "'reasoning_content' was unexpected"), Reply.error(400, "something else is wrong"))
    with pytest.raises(anthropic.BadRequestError):
        await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=history))
    fake.queue(Reply.json(completion("ok")))
    await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=history))
    assert "reasoning_content" in fake.requests[-1].json["messages"][1]  # still sent


async def test_reasoning_effort_refused_by_a_non_reasoning_gpt_5_model(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="gpt-5-chat-latest")
    fake.queue(Reply.error(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model."),
               Reply.json(completion("one")), Reply.json(completion("two")))
    ask = lambda: sdk(proxy).messages.create(  # noqa: E731
        model="claude-x", max_tokens=20, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "q"}])
    assert (await in_thread(ask)).content[0].text == "one"
    assert (await in_thread(ask)).content[0].text == "two"
    assert [r.json.get("reasoning_effort") for r in fake.requests] == ["low", None, None]


async def test_create_with_thinking_returns_the_thinking_block_first(proxy, fake):
    fake.queue(Reply.json(completion("4", reasoning_content="2 plus 2.")))
    message = await in_thread(lambda: sdk(proxy).messages.create(
        model="claude-x", max_tokens=50, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "2+2?"}]))
    thinking, text = message.content
    assert (thinking.type, thinking.thinking, text.text) == ("thinking", "2 plus 2.", "4")
    assert isinstance(thinking.signature, str) and thinking.signature


# ---- Claude Code's attribution block ------------------------------------------------------

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.332.abc; cc_entrypoint=cli; cch=5f3a1;"
CLAUDE_CODE_SYSTEM = [{"type": "text", "text": ATTRIBUTION},
                      {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]


async def count(proxy, **body) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens",
                                     json={"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], **body})
    return response.json()["input_tokens"]


@pytest.mark.parametrize("keep", [False, True])
async def test_the_attribution_block_is_left_out_unless_kept_in_json_streams_and_counts(nursery, fake, keep):
    proxy = await start_proxy(nursery, fake, attribution_block="keep" if keep else "drop")
    ask = {"model": "claude-x", "max_tokens": 20, "system": CLAUDE_CODE_SYSTEM,
           "messages": [{"role": "user", "content": "hi"}]}
    await in_thread(lambda: sdk(proxy).messages.create(**ask))
    await in_thread(stream_final(proxy, system=CLAUDE_CODE_SYSTEM, messages=[{"role": "user", "content": "hi"}]))
    expected = f"{ATTRIBUTION}\n\nYou are Claude Code." if keep else "You are Claude Code."
    assert [r.json["messages"][0]["content"] for r in fake.requests] == [expected, expected]
    with_block = await count(proxy, system=CLAUDE_CODE_SYSTEM)
    assert (with_block > await count(proxy, system=CLAUDE_CODE_SYSTEM[1:])) is keep
    if not keep:
        assert with_block == await count(proxy, system=CLAUDE_CODE_SYSTEM[1:])


# ---- subagents that turn thinking off -----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "capabilities", "sent"),
    [
        ("deepseek-reasoner", "", {"thinking": {"type": "disabled"}}),
        ("Qwen/Qwen3-32B", '{"Qwen/Qwen3*": {"reasoning_off": "chat_template_kwargs"}}',
         {"chat_template_kwargs": {"enable_thinking": False}}),
        ("qwen3:32b", '{"qwen3:*": {"reasoning_param": "reasoning_effort", "reasoning_off": "reasoning_effort"}}',
         {"reasoning_effort": "none"}),
        ("gpt-5", "", {"reasoning_effort": "minimal"}),
    ],
)
async def test_a_subagent_that_disables_thinking_turns_the_backends_reasoning_off(nursery, fake, target, capabilities,
                                                                                  sent):
    proxy = await start_proxy(nursery, fake, default_model=target, model_capabilities=capabilities)
    fake.queue(Reply.json(completion("done")))
    await in_thread(lambda: sdk(proxy).messages.create(
        model="claude-haiku-x", max_tokens=20, thinking={"type": "disabled"}, output_config={"effort": "medium"},
        messages=[{"role": "user", "content": "summarise"}]))
    request = fake.requests[-1].json
    switches = {"reasoning_effort", "reasoning", "thinking", "chat_template_kwargs", "think"}
    assert {key: request[key] for key in switches & set(request)} == sent
