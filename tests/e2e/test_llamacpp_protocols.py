"""The real llama.cpp server through its own Anthropic endpoint (/v1/messages)
and through its Responses endpoint (/v1/responses): the proxy in front of it
as an upstream that speaks Anthropic's API, or OpenAI's Responses API (the
chat protocol: test_llamacpp.py). Through /v1/messages, what the server does
it does, and the proxy validates, relays and guards; through /v1/responses the
proxy translates both ways."""

from __future__ import annotations

import httpx
import pytest
import trio

from anthroproxy import Config, serve
from anthroproxy.config.spec import UpstreamSpec
from tests.backends import llamacpp
from tests.support.events import parse_events
from tests.support.llama import started
from tests.support.node import ensure_installed, run_claude
from tests.support.proxy import in_thread, sdk

WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
RAMBLE = [{"role": "user", "content": "<|endoftext|> Tell me everything."}]  # the tiny model's "never stop"


async def through(nursery, server: llamacpp.RunningServer, protocol: str = "anthropic", **overrides):
    """The proxy, its default upstream the server, spoken to in ``protocol``."""
    url = server.root if protocol == "anthropic" else server.url
    options = {"port": 0, "target_url": url, "default_model": server.model,
               "upstreams": (UpstreamSpec(name="default", urls=(), protocol=protocol),)}
    return await nursery.start(serve, Config(**{**options, **overrides}))


PROTOCOLS = ["anthropic", "responses"]


@pytest.fixture(params=PROTOCOLS)
def protocol(request) -> str:
    return request.param


@pytest.fixture
async def proxy(nursery, llama, protocol):
    return await through(nursery, llama, protocol)


def create(proxy, **kwargs):
    return lambda: sdk(proxy).messages.create(**{"model": "claude-x", "max_tokens": 300, **kwargs})


def final(proxy, **kwargs):
    def run():
        with sdk(proxy).messages.stream(**{"model": "claude-x", "max_tokens": 300, **kwargs}) as stream:
            return stream.get_final_message()
    return run


@pytest.mark.parametrize("run", [create, final], ids=["json", "stream"])
async def test_a_text_answer(proxy, run):
    message = await in_thread(run(proxy, messages=ASK))
    assert [block.type for block in message.content] == ["text"] and message.content[0].text.strip()
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    assert message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0) > 20


async def test_a_tool_round_trip(proxy):
    first = await in_thread(final(proxy, messages=ASK, tools=[WEATHER]))
    call = next(block for block in first.content if block.type == "tool_use")
    assert first.stop_reason == "tool_use" and call.name == "get_weather" and isinstance(call.input, dict)
    history = [*ASK, {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain, 8 C"}]}]
    answer = await in_thread(create(proxy, messages=history, tools=[WEATHER]))
    assert [block.type for block in answer.content] == ["text"] and answer.stop_reason == "end_turn"


async def test_count_tokens_is_the_servers_own_or_the_estimate(proxy, llama, protocol):
    """The server counts through /v1/messages; the Responses API has no count, so the proxy estimates."""
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "Count these words: one two three."}]}
    async with httpx.AsyncClient(timeout=30) as client:
        counted = (await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens", json=body)).json()
        direct = (await client.post(llama.root + "/v1/messages/count_tokens", json=body)).json()
    if protocol == "anthropic":
        assert counted == direct and counted["input_tokens"] > 0
    else:
        assert 5 <= counted["input_tokens"] <= direct["input_tokens"]  # (the server's counts its chat template too)


async def test_input_the_real_api_refuses_never_reaches_the_server(proxy, llama):
    """llama.cpp answers 200 to this; the proxy does not let it through."""
    bad = {"model": 1, "messages": "no"}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(llama.root + "/v1/messages", json=bad)).status_code == 200
        answer = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=bad)
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("protocol", ["anthropic"], indirect=True)
async def test_its_deviations_pass_through_as_they_are(proxy):
    """llama.cpp's stream: tool_use blocks start without their input, and every
    content_block_stop comes at the end. The SDK reads it; the proxy does not
    rewrite it (docs/upstreams.md: what each protocol keeps)."""
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json={
            "model": "claude-x", "max_tokens": 300, "stream": True, "messages": ASK, "tools": [WEATHER]})
    events = parse_events(answer.content)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    start = next(payload for name, payload in events if name == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and "input" not in start["content_block"]


async def test_a_client_that_leaves_stops_the_servers_generation(proxy, llama):
    async with httpx.AsyncClient(timeout=30) as client:
        body = {"model": "claude-x", "max_tokens": 60000, "messages": RAMBLE, "stream": True}
        async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages", json=body) as response:
            pieces = response.aiter_bytes()
            await anext(pieces)
            assert (await client.get(llama.root + "/slots")).json()[0]["is_processing"] is True
            await pieces.aclose()
        left = trio.current_time()
        with trio.fail_after(5):
            while (await client.get(llama.root + "/slots")).json()[0]["is_processing"]:
                await trio.sleep(0.02)
        assert trio.current_time() - left < 1.0


async def test_claude_code_runs_a_tool_session_through_each_endpoint(nursery, tmp_path, protocol):
    """Claude Code's prompt is about 44k tokens: a 64k context, and one run."""
    server = started("tiny", context=65536)
    try:
        proxy = await through(nursery, server, protocol, upstream_read_timeout=300)
        run = await run_claude(ensure_installed(), proxy, tmp_path, "Read the file notes.txt, please.",
                               flags=("--tools", "Read"), CLAUDE_CODE_MAX_RETRIES="0")
        assert run.returncode == 0, run.stderr
        calls = [block for block in run.blocks("assistant") if block["type"] == "tool_use"]
        results = [block for block in run.blocks("user") if block["type"] == "tool_result"]
        assert [call["name"] for call in calls] == ["Read"] and len(results) == 1
        assert results[0]["tool_use_id"] == calls[0]["id"]
        assert run.result["result"].strip() and not run.result["is_error"]
    finally:
        server.stop()


async def test_the_typescript_sdk_reads_what_passes_through(proxy):
    from tests.support.node import run_node

    clients = ensure_installed()
    tool = await run_node(clients, proxy, "tool-stream")
    assert tool["message"]["stop_reason"] == "tool_use"
    assert [block["type"] for block in tool["message"]["content"]] == ["tool_use"]
    text = await run_node(clients, proxy, "text-stream")
    assert "".join(text["pieces"]) == text["message"]["content"][0]["text"] and text["pieces"]
