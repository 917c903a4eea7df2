"""An upstream that speaks OpenAI's Responses API: the request translated in
full, the answer (JSON or events) translated back, the reasoning carried
across tool calls, stop sequences applied by the proxy, failover before
content, and the automatic switch for a chat model served only on /responses."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import (FakeUpstream, Reply, output_call, output_message,
                                               output_reasoning, responses_events, responses_response,
                                               responses_usage, text_chunks)
from anthroproxy.translate.responses.reasoning import MARK
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.node import ensure_installed, run_node
from tests.support.proxy import access_record, in_thread, post, proxy_for, sdk

READ = {"name": "Read", "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
SESSION = "9f1c2a3b-0000-4000-8000-123456789abc"


@pytest.fixture
async def codex(nursery, fake, tmp_path):
    """Every claude-* model to gpt-5-codex, on an upstream that speaks the Responses API."""
    return await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = "{fake.url}"
api_key = "sk-openai"
protocol = "responses"
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-codex" }}
''')


def stream_reply(output, pieces: int = 3, **response) -> Reply:
    return Reply.responses_stream(responses_events(output, pieces=pieces, **response))


async def test_a_text_answer_json_and_streamed(codex, fake):
    client = sdk(codex)
    message = await in_thread(lambda: client.messages.create(
        model="claude-opus-4-6", max_tokens=50, system="Be brief.", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-claude-code-session-id": SESSION}))
    assert message.content[0].text.endswith("You said: hi") and message.stop_reason == "end_turn"
    sent = fake.requests[-1]
    assert sent.path == "/v1/responses" and sent.headers["authorization"] == "Bearer sk-openai"
    assert {key: sent.json[key] for key in ("model", "instructions", "max_output_tokens", "store", "include")} == {
        "model": "gpt-5-codex", "instructions": "Be brief.", "max_output_tokens": 50, "store": False,
        "include": ["reasoning.encrypted_content"]}
    assert SESSION in sent.json["prompt_cache_key"]

    def streamed():
        with client.messages.stream(model="claude-opus-4-6", max_tokens=50,
                                    messages=[{"role": "user", "content": "again"}]) as stream:
            return list(stream.text_stream), stream.get_final_message()

    pieces, final = await in_thread(streamed)
    assert len(pieces) == 3 and "".join(pieces).endswith("You said: again") and final.stop_reason == "end_turn"
    assert fake.requests[-1].json["stream"] is True


async def test_the_reasoning_chain_goes_back_across_a_tool_call(codex, fake, caplog):
    """A reasoning model's encrypted reasoning comes back as a thinking block,
    and goes up again as the same item on the next turn (store: false)."""
    encrypted = "gAAAAB" + "x" * 3000
    fake.queue(stream_reply([output_reasoning("I need to read the file.", "rs_abc", encrypted),
                             output_call("call_1", "Read", '{"file_path": "/tmp/notes.txt"}')],
                            final_usage=responses_usage(900, 40, cached=800)))
    client = sdk(codex)
    ask = [{"role": "user", "content": "What do my notes say?"}]

    def first():
        with client.messages.stream(model="claude-opus-4-6", max_tokens=2000, messages=ask, tools=[READ],
                                    thinking={"type": "adaptive"}) as stream:
            return stream.get_final_message()

    message = await in_thread(first)
    thinking, call = message.content
    assert thinking.type == "thinking" and thinking.thinking == "I need to read the file."
    assert thinking.signature.startswith(MARK) and encrypted not in thinking.signature  # (carried encoded)
    assert (call.id, call.name, call.input) == ("call_1", "Read", {"file_path": "/tmp/notes.txt"})
    assert message.stop_reason == "tool_use" and message.usage.cache_read_input_tokens == 800
    assert fake.requests[-1].json["reasoning"] == {"summary": "auto"}
    access = await access_record(caplog)
    assert (access["input_tokens"], access["cache_read_input_tokens"], access["output_tokens"]) == (100, 800, 40)

    history = [*ask, {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "buy milk"}]}]
    fake.queue(Reply.json(responses_response([output_message("They say: buy milk.")])))
    answer = await in_thread(lambda: client.messages.create(
        model="claude-opus-4-6", max_tokens=2000, messages=history, tools=[READ],
        thinking={"type": "adaptive"}))
    assert answer.content[0].text == "They say: buy milk."
    assert fake.requests[-1].json["input"][1:] == [
        {"type": "reasoning", "id": "rs_abc", "summary": [{"type": "summary_text", "text": "I need to read the file."}],
         "encrypted_content": encrypted},
        {"type": "function_call", "call_id": "call_1", "name": "Read", "arguments": '{"file_path": "/tmp/notes.txt"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "buy milk"}]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_stop_sequence_cuts_the_answer_even_across_deltas(codex, fake, stream):
    output = [output_message("Step one. ###END### Step two.")]
    fake.queue(stream_reply(output, pieces=6) if stream else Reply.json(responses_response(output)))
    body = {"model": "claude-opus-4-6", "max_tokens": 50, "stop_sequences": ["###END###"], "stream": stream,
            "messages": [{"role": "user", "content": "steps"}]}
    answer = await post(codex, body)
    if stream:
        events = parse_events(answer.content)
        check_grammar(events)
        delta = next(payload for name, payload in events if name == "message_delta")["delta"]
        assert text_of(events) == "Step one. " and delta == {"stop_reason": "stop_sequence",
                                                            "stop_sequence": "###END###"}
        assert len([name for name, _ in events if name == "content_block_delta"]) > 1  # (the text came in pieces)
    else:
        message = answer.json()
        assert message["content"] == [{"type": "text", "text": "Step one. "}]
        assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "###END###")
    assert "stop" not in fake.requests[-1].json


@pytest.mark.parametrize("stream", [False, True])
async def test_a_refusal_and_an_answer_cut_at_the_limit(codex, fake, stream):
    refusal = {"id": "msg_r", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    client = sdk(codex)
    for output, response, reason in (([refusal], {}, "refusal"),
                                     ([output_message("Half a")], {"status": "incomplete",
                                                                   "incomplete": "max_output_tokens"}, "max_tokens")):
        fake.queue(stream_reply(output, **response) if stream else Reply.json(responses_response(output, **response)))
        if stream:
            def run():
                with client.messages.stream(model="claude-opus-4-6", max_tokens=5,
                                            messages=[{"role": "user", "content": "x"}]) as events:
                    return events.get_final_message()
        else:
            def run():
                return client.messages.create(model="claude-opus-4-6", max_tokens=5,
                                              messages=[{"role": "user", "content": "x"}])
        message = await in_thread(run)
        assert message.stop_reason == reason and message.content[0].text


async def fallback_proxy(nursery, tmp_path, openai_fake: FakeUpstream, chat_fake: FakeUpstream):
    return await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = "{openai_fake.url}"
[upstreams.deepseek]
url = "{chat_fake.url}"
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-codex", protocol = "responses", fallbacks = [ "deepseek-chat@deepseek" ] }}
''')


@pytest.mark.parametrize("failure", ["http_529", "event_failed", "event_error"])
async def test_a_failure_before_content_fails_over_to_chat_completions(nursery, tmp_path, failure):
    openai_fake, chat_fake = FakeUpstream(), FakeUpstream()
    for fake in (openai_fake, chat_fake):
        await nursery.start(fake.serve)
    proxy = await fallback_proxy(nursery, tmp_path, openai_fake, chat_fake)
    created = responses_events([])[:1]
    openai_fake.queue({
        "http_529": Reply.error(529, "The server is overloaded", "server_error"),
        "event_failed": Reply.responses_stream([*created, ("response.failed", {"type": "response.failed", "response": {
            "status": "failed", "error": {"code": "server_is_overloaded", "message": "overloaded"}}})]),
        "event_error": Reply.responses_stream([*created, ("error", {"type": "error", "code": "rate_limit_exceeded",
                                                                    "message": "slow down"})]),
    }[failure])
    chat_fake.queue(Reply.stream(text_chunks(["From ", "DeepSeek."])))
    answer = await post(proxy, {"model": "claude-sonnet-4-6", "max_tokens": 20, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]})
    events = parse_events(answer.content)
    check_grammar(events)
    assert text_of(events) == "From DeepSeek." and [name for name, _ in events].count("message_start") == 1
    assert openai_fake.requests[-1].path == "/v1/responses" and chat_fake.requests[-1].path == "/v1/chat/completions"


async def test_a_failure_after_content_ends_the_stream_with_an_error_event(codex, fake):
    events = responses_events([output_message("Half an answer")])[:4]
    fake.queue(Reply.responses_stream([*events, ("response.failed", {"type": "response.failed", "response": {
        "status": "failed", "error": {"code": "server_error", "message": "The model crashed"}}})]))
    answer = await post(codex, {"model": "claude-opus-4-6", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]})
    parsed = parse_events(answer.content)
    check_grammar(parsed)
    assert text_of(parsed) and parsed[-1][0] == "error" and "crashed" in parsed[-1][1]["error"]["message"]
    assert len(fake.requests) == 1  # (content went out: nobody else takes over)


RESPONSES_ONLY = "This model is only supported in v1/responses and not in v1/chat/completions."


async def test_a_chat_model_served_only_on_responses_is_asked_there_and_from_then_on(nursery, fake, tmp_path, caplog):
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = "{fake.url}"
api_key = "sk-openai"
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-codex" }}
''')
    fake.queue(Reply.error(404, RESPONSES_ONLY))
    client = sdk(proxy)
    for turn in ("one", "two"):
        message = await in_thread(lambda: client.messages.create(
            model="claude-opus-4-6", max_tokens=20, messages=[{"role": "user", "content": turn}]))
        assert message.content[0].text.endswith(f"You said: {turn}")
    assert [request.path for request in fake.requests] == ["/v1/chat/completions", "/v1/responses", "/v1/responses"]
    assert fake.requests[1].headers["authorization"] == "Bearer sk-openai"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "responses" in r.getMessage()]
    assert len(warnings) == 1 and "gpt-5-codex" in warnings[0]


async def test_the_switch_also_serves_a_stream(nursery, fake, tmp_path):
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = "{fake.url}"
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-pro" }}
''')
    fake.queue(Reply.error(400, RESPONSES_ONLY))
    answer = await post(proxy, {"model": "claude-opus-4-6", "max_tokens": 20, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]})
    events = parse_events(answer.content)
    check_grammar(events)
    assert text_of(events).endswith("You said: hi") and fake.requests[-1].json["stream"] is True


async def test_count_tokens_is_the_local_estimate(codex, fake):
    body = {"model": "claude-opus-4-6", "messages": [{"role": "user", "content": "count me " * 50}]}
    counted = (await post(codex, body, path="/v1/messages/count_tokens")).json()["input_tokens"]
    assert 100 < counted < 200 and not fake.requests


async def test_a_client_that_leaves_stops_the_upstream(codex, fake):
    fake.queue(Reply.responses_stream(responses_events([output_message("w " * 500)], pieces=500), delay=0.01))
    async with httpx.AsyncClient(timeout=20) as client:
        async with client.stream("POST", f"http://127.0.0.1:{codex.port}/v1/messages", json={
                "model": "claude-opus-4-6", "max_tokens": 1000, "stream": True,
                "messages": [{"role": "user", "content": "ramble"}]}, headers={"x-api-key": "k"}) as answer:
            pieces = answer.aiter_bytes()
            await anext(pieces)
            await pieces.aclose()
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)


async def test_the_typescript_sdk_parses_the_translated_stream(codex, fake):
    clients = ensure_installed()
    fake.queue(stream_reply([output_message("Checking."), output_call("call_w", "get_weather", '{"city": "Oslo"}')],
                            final_usage=responses_usage(120, 22, cached=100)))
    result = await run_node(clients, codex, "tool-stream")
    message = result["message"]
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [{"type": "text", "text": "Checking."},
                                  {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert message["usage"]["input_tokens"] == 20 and message["usage"]["cache_read_input_tokens"] == 100


async def test_a_refused_output_schema_is_asked_for_in_words_and_the_fence_comes_off(codex, fake, caplog):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    fake.queue(Reply.error(400, "Unsupported parameter: 'text.format' is not supported with this model."),
               stream_reply([output_message('```json\n{"city": "Oslo"}\n```')]))
    answer = await post(codex, {"model": "claude-opus-4-6", "max_tokens": 50, "stream": True,
                                "output_config": {"format": {"type": "json_schema", "schema": schema}},
                                "messages": [{"role": "user", "content": "Where?"}]})
    events = parse_events(answer.content)
    check_grammar(events)
    assert json.loads(text_of(events)) == {"city": "Oslo"}
    first, second = fake.requests[-2].json, fake.requests[-1].json
    assert first["text"]["format"]["schema"] == schema and "text" not in second
    assert json.dumps(schema) in second["instructions"]
    assert any("text" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_after_a_switch_the_upstreams_other_replicas_are_asked_on_responses_too(nursery, tmp_path):
    replicas = [FakeUpstream(), FakeUpstream()]
    for replica in replicas:
        await nursery.start(replica.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = ["{replicas[0].url}", "{replicas[1].url}"]
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-codex" }}
''')
    body = {"model": "claude-opus-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    session = {"x-claude-code-session-id": SESSION}
    assert (await post(proxy, body, headers=session)).status_code == 200
    first, other = replicas if replicas[0].requests else replicas[::-1]  # (the conversation's replica)
    first.queue(Reply.error(404, RESPONSES_ONLY), Reply.error(503, "busy", "server_error"))
    answer = await post(proxy, body, headers=session)
    assert answer.status_code == 200 and answer.json()["content"][0]["text"].endswith("You said: hi")
    assert [r.path for r in first.requests[1:]] == ["/v1/chat/completions", "/v1/responses"]
    assert [r.path for r in other.requests] == ["/v1/responses"]


async def test_after_a_failover_the_reasoning_stays_with_the_upstream_that_made_it(nursery, tmp_path):
    first, second = FakeUpstream(), FakeUpstream()
    for fake in (first, second):
        await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.openai]
url = "{first.url}"
protocol = "responses"
[upstreams.local]
url = "{second.url}"
protocol = "responses"
[models]
"claude-*" = {{ upstream = "openai", target = "gpt-5-codex", fallbacks = [ "gpt-oss@local" ] }}
''')
    first.queue(Reply.json(responses_response([output_reasoning("Read it first.", "rs_abc", "ENC" * 100),
                                               output_call("call_1", "Read", '{"file_path": "/a"}')])))
    body = {"model": "claude-opus-4-6", "max_tokens": 200, "tools": [READ],
            "messages": [{"role": "user", "content": "What does /a say?"}]}
    message = (await post(proxy, body)).json()
    history = [*body["messages"], {"role": "assistant", "content": message["content"]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "hi"}]}]
    first.queue(Reply.error(529, "The server is overloaded", "server_error"))
    answer = await post(proxy, {**body, "messages": history})
    assert answer.status_code == 200
    kinds = [[item["type"] for item in request.json["input"]] for request in (first.requests[-1], second.requests[-1])]
    assert kinds == [["message", "reasoning", "function_call", "function_call_output"],
                     ["message", "function_call", "function_call_output"]]
