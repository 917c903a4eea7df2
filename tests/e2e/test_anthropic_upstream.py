"""An upstream that speaks Anthropic's Messages API: the request and the answer
pass through, byte for byte where nothing had to change, and the proxy still
guards the client (validation, failover before content, the commit point,
pings, a cut stream ended with an error, errors in Anthropic's shape)."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import (FakeUpstream, Reply, anthropic_error, anthropic_events,
                                               anthropic_frames, anthropic_message, anthropic_usage, text_chunks)
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.proxy import access_record, in_thread, post, proxy_for, sdk

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.331.49f; cc_entrypoint=cli; cch=5f3a1;"


@pytest.fixture
async def claude(nursery, fake, tmp_path):
    """A proxy whose every claude-* model goes, as asked, to an Anthropic upstream with a key of its own."""
    return await proxy_for(nursery, tmp_path, f'''
target_url = "{fake.root}"
api_key = "sk-ant-upstream"
[upstreams.default]
protocol = "anthropic"
[models]
"claude-*" = {{ upstream = "default" }}
''')


# A request as a client may write it: its own spacing, fields the proxy knows nothing of, cache_control, a
# signed thinking block, a server tool, citations. None of it may change on the way.
RICH = (b'{"model":"claude-opus-4-6" ,"max_tokens": 64,\n "stream":false, "system": [{"type": "text", "text": '
        b'"Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}], "context_management": {"edits": []},'
        b' "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],'
        b' "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking",'
        b' "thinking": "hmm", "signature": "EqQBCkYIBxgCKkB..."}, {"type": "text", "text": "a", "citations": []}]},'
        b' {"role": "user", "content": "\\u00e9t\\u00e9 \xf0\x9f\x98\x80"}], "future_field": {"x": [1, 2.50]}}')


async def test_the_request_goes_as_the_client_sent_it_with_its_headers_and_query(claude, fake):
    answer = await post(claude, RICH, path="/v1/messages?beta=true",
                        headers={"anthropic-beta": "interleaved-thinking-2025-05-14,context-management-2025-06-27"})
    assert answer.status_code == 200, answer.text
    sent = fake.requests[-1]
    assert sent.body == RICH  # byte for byte
    assert sent.path == "/v1/messages?beta=true"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-management-2025-06-27"
    assert sent.headers["x-api-key"] == "sk-ant-upstream" and "authorization" not in sent.headers
    assert "client-key" not in json.dumps(sent.headers)  # (the upstream's credential replaces the client's)


async def test_the_answer_reaches_the_client_as_it_came(claude, fake):
    original = json.dumps(anthropic_message([{"type": "text", "text": "Hi", "citations": [{"type": "x"}]}]),
                          indent=1).encode()
    fake.queue(Reply(body=original, headers=[("content-type", "application/json")]))
    answer = await post(claude, RICH)
    assert answer.status_code == 200 and answer.content == original
    assert answer.headers["request-id"].startswith("req_")


async def test_a_stream_is_relayed_byte_for_byte(claude, fake, caplog):
    events = anthropic_events(["Hel", "lo ", "\u2028w\u00f6rld \U0001f600"], thinking=["Let me see."],
                              final_usage=anthropic_usage(30, 7, cached=20))
    fake.queue(Reply.anthropic_stream(events))
    answer = await post(claude, {**json.loads(RICH), "stream": True})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert answer.content == b"".join(anthropic_frames(events))
    check_grammar(parse_events(answer.content))
    access = await access_record(caplog)
    assert (access["stop_reason"], access["input_tokens"], access["output_tokens"]) == ("end_turn", 30, 7)
    assert access["cache_read_input_tokens"] == 20 and access["usage_estimated"] is False


async def test_a_target_and_the_attribution_line_are_all_that_change(nursery, fake, tmp_path):
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.claude]
url = "{fake.root}"
protocol = "anthropic"
[upstreams.kept]
url = "{fake.root}"
protocol = "anthropic"
attribution_block = "keep"
[models]
"claude-opus-*" = {{ upstream = "claude", target = "claude-sonnet-4-6" }}
"claude-haiku-*" = {{ upstream = "kept" }}
''')
    system = [{"type": "text", "text": ATTRIBUTION}, {"type": "text", "text": "You are Claude Code.",
                                                      "cache_control": {"type": "ephemeral"}}]
    body = {"model": "claude-opus-4-6", "max_tokens": 9, "system": system, "top_k": 3,
            "messages": [{"role": "user", "content": "hi"}]}
    assert (await post(proxy, body)).status_code == 200
    assert fake.requests[-1].json == {**body, "model": "claude-sonnet-4-6", "system": system[1:]}
    assert (await post(proxy, {**body, "model": "claude-haiku-4-5"})).status_code == 200
    assert fake.requests[-1].json == {**body, "model": "claude-haiku-4-5"}  # (kept, and asked for as it was)


async def test_input_the_real_api_refuses_is_refused_before_any_upstream(claude, fake):
    answer = await post(claude, b'{"model": 1, "messages": "no"}')
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests == []


async def test_an_error_in_anthropics_shape_reaches_the_client_unmodified(claude, fake):
    refusal = anthropic_error(529, "overloaded_error", "Overloaded")
    refusal.headers += [("retry-after", "7"), ("anthropic-ratelimit-requests-remaining", "0")]
    fake.queue(refusal)
    answer = await post(claude, RICH)
    assert answer.status_code == 529 and answer.content == refusal.body
    assert answer.headers["request-id"] == "req_upstream" and answer.headers["retry-after"] == "7"
    assert answer.headers["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(anthropic.InternalServerError) as caught:  # (the SDK: OverloadedError is a 529)
        fake.queue(anthropic_error(529, "overloaded_error", "Overloaded"))
        await in_thread(lambda: sdk(claude).messages.create(model="claude-x", max_tokens=5,
                                                            messages=[{"role": "user", "content": "hi"}]))
    assert caught.value.status_code == 529 and caught.value.request_id == "req_upstream"


async def test_an_error_in_another_shape_is_given_anthropics(claude, fake):
    """llama.cpp's /v1/messages answers errors in OpenAI's shape."""
    fake.queue(Reply.json({"error": {"code": 400, "message": "the request exceeds the available context size",
                                     "type": "exceed_context_size_error"}}, status=400))
    answer = await post(claude, RICH)
    assert answer.status_code == 400
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("prompt is too long")


async def fallback_proxy(nursery, tmp_path, claude_fake: FakeUpstream, chat_fake: FakeUpstream):
    return await proxy_for(nursery, tmp_path, f'''
[upstreams.claude]
url = "{claude_fake.root}"
protocol = "anthropic"
[upstreams.deepseek]
url = "{chat_fake.url}"
[models]
"claude-*" = {{ upstream = "claude", fallbacks = [ "deepseek-chat@deepseek" ] }}
''')


@pytest.mark.parametrize("refusal", ["http_529", "http_429", "event_overloaded", "event_api_error"])
async def test_real_claude_first_then_a_chat_completions_fallback(nursery, tmp_path, refusal):
    claude_fake, chat_fake = FakeUpstream(), FakeUpstream()
    for fake in (claude_fake, chat_fake):
        await nursery.start(fake.serve)
    proxy = await fallback_proxy(nursery, tmp_path, claude_fake, chat_fake)
    started = anthropic_events(["never"])[:2]  # message_start and a ping went out before the upstream failed
    claude_fake.queue({
        "http_529": anthropic_error(529, "overloaded_error", "Overloaded"),
        "http_429": anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your limit"),
        "event_overloaded": Reply.anthropic_stream([*started, ("error", {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}})]),
        "event_api_error": Reply.anthropic_stream([*started, ("error", {"type": "error", "error": {
            "type": "api_error", "message": "Internal server error"}})]),
    }[refusal])
    chat_fake.queue(Reply.stream(text_chunks(["From ", "DeepSeek."])))
    answer = await post(proxy, {"model": "claude-sonnet-4-6", "max_tokens": 20, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]})
    events = parse_events(answer.content)
    check_grammar(events)
    assert text_of(events) == "From DeepSeek." and [name for name, _ in events].count("message_start") == 1
    assert chat_fake.requests[-1].json["model"] == "deepseek-chat" and len(claude_fake.requests) == 1


async def test_an_error_event_after_content_ends_the_stream_with_it(claude, fake):
    events = anthropic_events(["Half an ans", "wer"])[:5]  # message_start, ping, the block's start, two deltas
    error = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    fake.queue(Reply.anthropic_stream([*events, error]))
    answer = await post(claude, {**json.loads(RICH), "stream": True})
    assert answer.content == b"".join(anthropic_frames([*events, error]))  # (the upstream's own error event)
    check_grammar(parse_events(answer.content))


@pytest.mark.parametrize("cut", [False, True])
async def test_a_stream_cut_short_ends_with_an_error_not_a_short_answer(claude, fake, cut):
    """Its body ends (or its connection drops) before message_stop."""
    events = anthropic_events(["Half an ans", "wer"])[:5]
    fake.queue(Reply.anthropic_stream(events, cut=cut))
    answer = await post(claude, {**json.loads(RICH), "stream": True})
    parsed = parse_events(answer.content)
    check_grammar(parsed)
    assert parsed[-1][0] == "error" and text_of(parsed) == "Half an answer"
    assert ("connection" if cut else "message_stop") in parsed[-1][1]["error"]["message"]


async def test_pings_go_out_while_the_upstream_thinks_and_its_message_start_is_not_repeated(nursery, fake, tmp_path):
    proxy = await proxy_for(nursery, tmp_path, f'''
target_url = "{fake.root}"
ping_interval = 0.1
[upstreams.default]
protocol = "anthropic"
[models]
"claude-*" = {{ upstream = "default" }}
''')
    fake.queue(Reply.anthropic_stream(anthropic_events(["late"]), head_delay=0.35))
    answer = await post(proxy, {**json.loads(RICH), "stream": True})
    events = parse_events(answer.content)
    check_grammar(events)
    names = [name for name, _ in events]
    assert names.count("message_start") == 1 and names[:3] == ["message_start", "ping", "ping"]
    assert text_of(events) == "late"


async def test_a_client_that_leaves_stops_the_upstream(claude, fake):
    fake.queue(Reply.anthropic_stream(anthropic_events([f"w{i} " for i in range(500)]), delay=0.01))
    async with httpx.AsyncClient(timeout=20) as client:
        async with client.stream("POST", f"http://127.0.0.1:{claude.port}/v1/messages",
                                 json={**json.loads(RICH), "stream": True}, headers={"x-api-key": "k"}) as answer:
            pieces = answer.aiter_bytes()
            await anext(pieces)
            await pieces.aclose()
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)


async def test_count_tokens_asks_the_upstream_and_estimates_when_it_has_no_endpoint(claude, fake):
    body = {"model": "claude-opus-4-6", "messages": [{"role": "user", "content": "count me " * 50}]}
    fake.queue(Reply.json({"input_tokens": 4242}))
    answer = await post(claude, body, path="/v1/messages/count_tokens?beta=true")
    assert answer.json() == {"input_tokens": 4242}
    assert fake.requests[-1].path == "/v1/messages/count_tokens?beta=true"
    assert fake.requests[-1].json == body and fake.requests[-1].headers["x-api-key"] == "sk-ant-upstream"
    fake.queue(Reply.json({"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}},
                          status=404))
    estimated = (await post(claude, body, path="/v1/messages/count_tokens")).json()["input_tokens"]
    assert 100 < estimated < 200
    asked = len(fake.requests)
    assert (await post(claude, body, path="/v1/messages/count_tokens")).json() == {"input_tokens": estimated}
    assert len(fake.requests) == asked  # (an upstream without the endpoint is not asked again)


async def test_the_clients_own_key_goes_on_as_it_came(nursery, fake, tmp_path):
    proxy = await proxy_for(nursery, tmp_path, f'''
target_url = "{fake.root}"
[upstreams.default]
protocol = "anthropic"
[models]
"claude-*" = {{ upstream = "default" }}
''')
    await post(proxy, RICH, headers={"x-api-key": "sk-ant-client"})
    assert fake.requests[-1].headers["x-api-key"] == "sk-ant-client"
    await post(proxy, RICH, headers={"x-api-key": "", "authorization": "Bearer sk-ant-oat01-oauth"})
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-ant-oat01-oauth"  # (an OAuth token: Bearer)
    assert "x-api-key" not in fake.requests[-1].headers


async def test_both_sdk_calls_parse_the_passed_through_answers(claude, fake):
    client = sdk(claude)
    message = await in_thread(lambda: client.messages.create(
        model="claude-opus-4-6", max_tokens=20, messages=[{"role": "user", "content": "hi"}]))
    assert message.content[0].text.endswith("You said: hi") and message.usage.output_tokens > 0

    def streamed():
        with client.messages.stream(model="claude-opus-4-6", max_tokens=20,
                                    messages=[{"role": "user", "content": "again"}]) as stream:
            return "".join(stream.text_stream), stream.get_final_message()

    text, final = await in_thread(streamed)
    assert text.endswith("You said: again") and final.stop_reason == "end_turn"


async def test_a_file_from_the_files_api_reaches_an_anthropic_upstream_and_only_that(nursery, fake, tmp_path):
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.claude]
url = "{fake.root}"
protocol = "anthropic"
[upstreams.local]
url = "{fake.url}"
[models]
"claude-*" = {{ upstream = "claude" }}
"local-*" = {{ upstream = "local", target = "qwen3" }}
''')
    content = [{"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
               {"type": "text", "text": "Summarise it."}]
    body = {"model": "claude-opus-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": content}]}
    answer = await post(proxy, body, headers={"anthropic-beta": "files-api-2025-04-14"})
    assert answer.status_code == 200 and fake.requests[-1].json == body
    refused = await post(proxy, {**body, "model": "local-model"})
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert "file_011CNha8iCJcU1wXNR6q4V8w" in refused.json()["error"]["message"] and len(fake.requests) == 1


async def test_a_fallback_that_cannot_read_a_file_leaves_the_client_the_first_upstreams_answer(nursery, tmp_path):
    claude, local = FakeUpstream(), FakeUpstream()
    for fake in (claude, local):
        await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
[upstreams.claude]
url = "{claude.root}"
protocol = "anthropic"
[upstreams.local]
url = "{local.url}"
[models]
"claude-*" = {{ upstream = "claude", fallbacks = [ "qwen3@local" ] }}
''')
    claude.queue(anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit"))
    content = [{"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
               {"type": "text", "text": "What is in it?"}]
    answer = await post(proxy, {"model": "claude-opus-4-6", "max_tokens": 20,
                                "messages": [{"role": "user", "content": content}]})
    assert answer.status_code == 429 and answer.json()["error"]["type"] == "rate_limit_error"
    assert "exceeded your rate limit" in answer.json()["error"]["message"] and not local.requests
