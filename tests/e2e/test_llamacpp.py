"""The proxy in front of a real OpenAI-compatible server: llama.cpp's llama-server,
built from source by tests/backends/llamacpp.py, serving the hand-wired tiny
models of tests/backends/tiny_model.py (what they do, and why, is written there).

The first run builds the server (6-8 minutes on 2 cores) into a gitignored
cache; a failed build fails these tests, it never skips them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import anthropic
import httpx
import pytest
import trio

from anthroproxy import Config, serve
from anthroproxy.upstream.balancer import rendezvous
from tests.backends import llamacpp
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.llama import started
from tests.support.node import ensure_installed
from tests.support.proxy import in_thread, sdk

WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                            "required": ["city"]}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
RAMBLE = [{"role": "user", "content": "<|endoftext|> Tell me everything."}]  # the tiny model's "never stop"
BENCH = Path(__file__).parents[2] / "bench"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


async def proxy_for(nursery, server: llamacpp.RunningServer, **overrides):
    options = {"port": 0, "target_url": server.url, "default_model": server.model}
    return await nursery.start(serve, Config(**{**options, **overrides}))


@pytest.fixture
async def proxy(nursery, llama):
    return await proxy_for(nursery, llama)


def create(proxy, **kwargs):
    return lambda: sdk(proxy).messages.create(**{"model": "claude-x", "max_tokens": 300, **kwargs})


def final(proxy, **kwargs):
    def run():
        with sdk(proxy).messages.stream(**{"model": "claude-x", "max_tokens": 300, **kwargs}) as stream:
            return stream.get_final_message()
    return run


async def raw_stream(proxy, body: dict) -> list[tuple[str, dict]]:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json={**body, "stream": True})
    assert response.status_code == 200, response.text
    events = parse_events(response.content)
    check_grammar(events)
    return events


# ---- text ---------------------------------------------------------------------------------------


async def test_a_text_answer_as_json_and_as_a_stream(proxy):
    message = await in_thread(create(proxy, messages=ASK))
    (block,) = message.content
    assert block.type == "text" and block.text.strip()
    assert message.stop_reason == "end_turn" and message.model == "claude-x"
    assert message.usage.input_tokens > 20 and message.usage.output_tokens > 0
    streamed = await in_thread(final(proxy, messages=ASK))
    assert streamed.content[0].text.strip() and streamed.stop_reason == "end_turn"
    events = await raw_stream(proxy, {"model": "claude-x", "max_tokens": 300, "messages": ASK})
    assert text_of(events).strip() and events[-2][1]["usage"]["output_tokens"] > 0


async def test_max_tokens_cuts_the_answer(proxy):
    message = await in_thread(create(proxy, messages=RAMBLE, max_tokens=7))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 7
    streamed = await in_thread(final(proxy, messages=RAMBLE, max_tokens=7))
    assert streamed.stop_reason == "max_tokens" and streamed.usage.output_tokens == 7


async def test_stop_sequences_end_the_answer_before_them(proxy):
    """llama.cpp strips the stop string and, on its OpenAI endpoint, does not say
    which matched: the answer ends before it, as end_turn (README: Responses)."""
    for run in (create, final):
        message = await in_thread(run(proxy, messages=RAMBLE, max_tokens=2000, stop_sequences=["A", "B"]))
        text = message.content[0].text
        assert "A" not in text and "B" not in text and message.usage.output_tokens < 2000
        assert message.stop_reason == "end_turn"


# ---- tools ---------------------------------------------------------------------------------------


def schema_holds(tool_input: dict) -> bool:
    return isinstance(tool_input.get("city"), str) and set(tool_input) <= {"city", "days"} and (
        "days" not in tool_input or isinstance(tool_input["days"], int))


@pytest.mark.parametrize("choice", [None, {"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "get_weather"}])
@pytest.mark.parametrize("run", [create, final], ids=["json", "stream"])
async def test_a_tool_call_whose_input_matches_the_schema(proxy, choice, run):
    extra = {"tool_choice": choice} if choice else {}
    message = await in_thread(run(proxy, messages=ASK, tools=[WEATHER], **extra))
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(calls) == 1, message.content
    assert calls[0].name == "get_weather" and schema_holds(calls[0].input), calls[0].input
    assert len(calls[0].id) == 32 and calls[0].id.isalnum()  # llama.cpp's own ids, passed on


@pytest.mark.parametrize("run", [create, final], ids=["json", "stream"])
async def test_tool_choice_none_gives_text(proxy, run):
    message = await in_thread(run(proxy, messages=ASK, tools=[WEATHER], tool_choice={"type": "none"}))
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"


async def test_a_full_tool_round_trip(proxy):
    first = await in_thread(create(proxy, messages=ASK, tools=[WEATHER]))
    call = next(block for block in first.content if block.type == "tool_use")
    history = [*ASK, {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain, 8 C"}]}]
    answer = await in_thread(final(proxy, messages=history, tools=[WEATHER]))
    assert [block.type for block in answer.content] == ["text"] and answer.stop_reason == "end_turn"


async def test_a_tool_call_cut_by_max_tokens_is_max_tokens_with_the_partial_input(proxy):
    events = await raw_stream(proxy, {"model": "claude-x", "max_tokens": 45, "messages": ASK, "tools": [WEATHER]})
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    starts = [p["content_block"] for n, p in events if n == "content_block_start"]
    assert starts[-1]["type"] == "tool_use" and starts[-1]["name"] == "get_weather"
    fragments = "".join(p["delta"]["partial_json"] for n, p in events
                        if n == "content_block_delta" and p["delta"]["type"] == "input_json_delta")
    assert fragments.startswith("{")  # what came, as it came; the client sees the answer was cut


# ---- reasoning -----------------------------------------------------------------------------------


async def test_a_reasoning_stream_is_a_thinking_block_then_the_answer(nursery, llama_think):
    proxy = await proxy_for(nursery, llama_think)
    for run in (final, create):
        message = await in_thread(run(proxy, messages=ASK, thinking={"type": "enabled", "budget_tokens": 1024}))
        kinds = [block.type for block in message.content]
        assert kinds == ["thinking", "text"], message.content
        assert message.content[0].thinking.strip() and message.content[0].signature
    tools = await in_thread(final(proxy, messages=ASK, tools=[WEATHER]))
    assert [block.type for block in tools.content] == ["thinking", "tool_use"] and tools.stop_reason == "tool_use"


async def test_thinking_turned_off_reaches_the_template(nursery, llama_think):
    """A subagent's thinking: disabled, through the chat_template_kwargs switch."""
    proxy = await proxy_for(nursery, llama_think,
                            model_capabilities='{"tiny-think": {"reasoning_off": "chat_template_kwargs"}}')
    message = await in_thread(create(proxy, messages=ASK, thinking={"type": "disabled"}))
    assert [block.type for block in message.content] == ["text"], message.content


# ---- usage, counting, limits ---------------------------------------------------------------------


async def test_a_repeated_prefix_is_read_from_the_cache(proxy):
    long = [{"role": "user", "content": "Some context to keep. " * 80}]
    await in_thread(create(proxy, messages=long))
    again = await in_thread(create(proxy, messages=[*long, {"role": "assistant", "content": "ok"},
                                                    {"role": "user", "content": "and more"}]))
    assert again.usage.cache_read_input_tokens > 400
    assert again.usage.input_tokens < again.usage.cache_read_input_tokens


async def test_count_tokens_upstream_asks_the_servers_tokenizer(nursery, llama):
    text = "Count these words, please: one two three four five six seven."
    counts = {}
    for how in ("upstream", "local"):
        proxy = await proxy_for(nursery, llama, count_tokens=how)
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens",
                                         json={"model": "claude-x", "messages": [{"role": "user", "content": text}]})
        counts[how] = response.json()["input_tokens"]
    async with httpx.AsyncClient() as client:
        tokens = (await client.post(llama.root + "/tokenize", json={"content": text})).json()["tokens"]
    # The tiny model's tokenizer is nearly byte per token; the local estimate is fitted to o200k_base.
    assert counts["upstream"] >= len(tokens) > 2 * counts["local"]


async def test_a_context_overflow_is_a_400_prompt_is_too_long(proxy):
    huge = [{"role": "user", "content": "word " * 5000}]
    for run in (create, final):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await in_thread(run(proxy, messages=huge))
        assert caught.value.body["error"]["message"].startswith("prompt is too long: ")
        assert "exceeds the available context size (4096 tokens)" in caught.value.body["error"]["message"]


async def test_an_image_to_a_text_only_server_is_answered_without_it(nursery, llama, caplog):
    proxy = await proxy_for(nursery, llama)
    ask = [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                       "data": PNG}},
                                        {"type": "text", "text": "What is this?"}]}]
    message = await in_thread(create(proxy, messages=ask))
    assert message.content[0].type == "text"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("its images" in w and '"vision": false' in w for w in warnings), warnings


async def test_a_client_that_leaves_mid_stream_stops_the_servers_generation(proxy, llama):
    async with httpx.AsyncClient(timeout=30) as client:
        body = {"model": "claude-x", "max_tokens": 60000, "messages": RAMBLE, "stream": True}
        async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages", json=body) as response:
            pieces = response.aiter_bytes()
            await anext(pieces)  # the stream is under way
            # (Held until here: a generator left by a `break` is closed by the garbage collector, at any moment,
            # and with it the client's connection, racing the check below.)
            assert (await client.get(llama.root + "/slots")).json()[0]["is_processing"] is True
            await pieces.aclose()
        left = trio.current_time()
        with trio.fail_after(5):
            while (await client.get(llama.root + "/slots")).json()[0]["is_processing"]:
                await trio.sleep(0.02)
        assert trio.current_time() - left < 1.0


async def test_replicas_keep_a_conversation_where_its_prefix_is_cached(nursery, llama):
    """Two servers as replicas of one upstream. A conversation whose home (its
    rendezvous replica) is the second begins there while the first is busy with
    another; its next turn, with both idle, goes back to the second, not to the
    first in config order, and the server reads its prefix from the cache."""
    from anthroproxy.config.spec import UpstreamSpec

    second = started("tiny", context=4096)
    try:
        proxy = await proxy_for(nursery, llama, model_mapping="claude-*:tiny@replicas",
                                upstreams=(UpstreamSpec(name="replicas", urls=(llama.url, second.url)),))
        long = [{"role": "user", "content": "Some context to keep. " * 80}]
        urls = (llama.url, second.url)
        homes = {url: {"x-claude-code-session-id": next(s for s in map(str, range(100))
                                                        if rendezvous(f"session:{s}", urls) == url)} for url in urls}
        async with httpx.AsyncClient(timeout=60) as client:
            body = {"model": "claude-x", "max_tokens": 60000, "messages": RAMBLE, "stream": True}
            async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages", json=body,
                                     headers=homes[llama.url]) as busy:
                await anext(pieces := busy.aiter_bytes())  # the first replica is under way with another conversation
                await in_thread(create(proxy, messages=long, max_tokens=5, extra_headers=homes[second.url]))
                slots = (await client.get(llama.root + "/slots")).json()
                assert slots[0]["is_processing"], "the first replica finished too soon to be busy"
                await pieces.aclose()
            with trio.fail_after(10):  # (the client left: the server stops)
                while (await client.get(llama.root + "/slots")).json()[0]["is_processing"]:
                    await trio.sleep(0.02)
        again = await in_thread(create(proxy, max_tokens=5, extra_headers=homes[second.url], messages=[
            *long, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "and more"}]))
        assert again.usage.cache_read_input_tokens > 400
    finally:
        second.stop()


# ---- the official SDKs and Claude Code -----------------------------------------------------------


async def test_the_typescript_sdk(proxy):
    from tests.support.node import run_node

    clients = ensure_installed()
    tool = await run_node(clients, proxy, "tool-stream")
    assert tool["message"]["stop_reason"] == "tool_use"
    assert [block["type"] for block in tool["message"]["content"]] == ["tool_use"]
    text = await run_node(clients, proxy, "text-stream")
    assert "".join(text["pieces"]) == text["message"]["content"][0]["text"] and text["pieces"]
    strict = await run_node(clients, proxy, "strict")
    assert strict["violations"] == [] and strict["events"][-1] == "message_stop"


async def test_claude_code_runs_a_tool_turn_through_the_proxy(nursery, tmp_path):
    """Claude Code's prompt is about 44k tokens: a 64k context, and one run."""
    from tests.support.node import run_claude

    server = started("tiny", context=65536)
    try:
        proxy = await proxy_for(nursery, server, upstream_read_timeout=300)
        # Only Read: the tiny model's arguments are random text, and a random path to read is harmless.
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


# ---- the bench in front of a real server ---------------------------------------------------------


async def test_the_bench_measures_the_proxy_in_front_of_the_real_server(llama, tmp_path):
    """bench/run.py --upstream: what a user runs in front of their own server (bench/README.md).
    llama.cpp closes the connection after each stream; the driver reconnects and counts no error."""
    out = tmp_path / "upstream.json"
    done = await trio.run_process(
        [sys.executable, str(BENCH / "run.py"), "--upstream", llama.url, "--model", llama.model, "--prompt",
         RAMBLE[0]["content"], "--max-tokens", "40", "--out", str(out)], capture_stdout=True, capture_stderr=True,
        check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(out.read_text())
    for concurrency, row in report["sweep"].items():
        for side in ("direct", "proxy"):
            assert row[side]["errors"] == 0, (concurrency, side, row[side])
            assert row[side]["events_per_s"] > 0
        assert row["proxy"]["cpu_us_per_chunk"] > 0
    assert "| C | direct TTFT" in done.stdout.decode()
