"""/v1/messages through the official Python SDK and raw HTTP, against the fake
upstream: what the client sees and what the upstream was sent."""

import json
from contextlib import aclosing

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, chunk, completion, sse_frames, text_chunks, usage
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import messages_body
from tests.support.proxy import in_thread, sdk, start_proxy

ANTHROPIC_ONLY_KEYS = {"top_k", "thinking", "context_management", "output_config", "service_tier", "container",
                       "mcp_servers", "cache_control", "metadata", "system", "stop_sequences"}


async def test_create_returns_an_anthropic_message(proxy, fake):
    fake.queue(Reply.json(completion("Paris.", final_usage=usage(prompt=120, completion=3, cached=100))))
    message = await in_thread(lambda: sdk(proxy).messages.create(
        model="claude-3-5-haiku-20241022", max_tokens=50, system="Be terse.",
        messages=[{"role": "user", "content": "Capital of France?"}],
    ))
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == "claude-3-5-haiku-20241022"  # the name the client asked for
    assert [block.text for block in message.content] == ["Paris."]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (20, 3, 100)

    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.json == {
        "model": "gpt-4o",  # claude-3 prefix mapping
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of France?"}],
        "max_tokens": 50,
    }
    assert sent.headers["authorization"] == "Bearer client-key"  # no upstream key configured: passed through
    assert not any(name.startswith(("anthropic-", "x-api-key", "x-stainless")) for name in sent.headers)


async def test_configured_upstream_key_replaces_the_clients(nursery, fake):
    proxy = await start_proxy(nursery, fake, api_key="sk-upstream")
    await in_thread(lambda: sdk(proxy).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]))
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-upstream"


async def test_bearer_client_credential_is_passed_through(proxy, fake):
    await in_thread(lambda: sdk(proxy, api_key=None, auth_token="oauth-token").messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]))
    assert fake.requests[-1].headers["authorization"] == "Bearer oauth-token"


async def test_stream_with_the_sdk(proxy, fake):
    fake.queue(Reply.stream(text_chunks(["The ", "answer ", "is ", "42."], final_usage=usage(prompt=30, completion=4))))

    def run():
        with sdk(proxy).messages.stream(model="claude-opus-4", max_tokens=100,
                                        messages=[{"role": "user", "content": "?"}]) as stream:
            pieces = list(stream.text_stream)
            return pieces, stream.get_final_message()

    pieces, final = await in_thread(run)
    assert pieces == ["The ", "answer ", "is ", "42."]
    assert final.content[0].text == "The answer is 42." and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 4)
    assert final.model == "claude-opus-4"
    sent = fake.requests[-1].json
    assert sent["model"] == "fake-default"  # no mapping matched
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_beta_endpoint_and_a_claude_code_shaped_request(proxy, fake):
    """Claude Code posts to /v1/messages?beta=true with beta-only fields; none reaches the upstream."""
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>r</system-reminder>"},
                                         {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": [{"type": "text", "text": "mid-conversation", "cache_control": {"type": "ephemeral"}}]},
        ],
        "metadata": {"user_id": '{"device_id":"abc"}'},
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "extra_body": {"top_k": 40, "speed": "fast"},
    }

    def run():
        with sdk(proxy).beta.messages.stream(**body, betas=["claude-code-20250219"]) as stream:
            return "".join(stream.text_stream)

    text = await in_thread(run)
    assert text.endswith("You said: <system-reminder>r</system-reminder>\n\nsay hi")
    sent = fake.requests[-1].json
    assert not ANTHROPIC_ONLY_KEYS & set(sent)
    assert sent["user"] == '{"device_id":"abc"}' and sent["max_tokens"] == 128000
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "system"]
    assert "cache_control" not in json.dumps(sent)


async def test_split_multibyte_characters_and_unicode_line_separators(proxy, fake):
    text = "na\u00efve \u2028 caf\u00e9 \u2029 \u0085 \U0001f600 end"
    data = b"".join(sse_frames(text_chunks([text])))
    cut = data.index("\U0001f600".encode()) + 2  # inside the emoji's four bytes
    fake.queue(Reply.raw_stream([data[:cut], data[cut:cut + 1], data[cut + 1:]], delay=0.01))

    def run():
        with sdk(proxy).messages.stream(model="m", max_tokens=9, messages=[{"role": "user", "content": "?"}]) as stream:
            return "".join(stream.text_stream)

    assert await in_thread(run) == text


async def test_fifty_concurrent_streams_each_get_their_own_answer(proxy, fake):
    fake.default = lambda request: Reply.stream(
        text_chunks(["echo:", " ", request.json["messages"][-1]["content"]]), delay=0.01)
    results = {}

    async def one(client, i):
        body = messages_body(f"stream-{i}", stream=True)
        async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            results[i] = parse_events(await response.aread())

    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client, trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(one, client, i)
    assert len(results) == 50
    for i, events in results.items():
        check_grammar(events)
        assert text_of(events) == f"echo: stream-{i}"
    assert len(fake.requests) == 50


async def test_client_disconnect_mid_stream_cancels_the_upstream(proxy, fake):
    # The upstream sends one word, then would keep the response open forever.
    fake.queue(Reply.stream([chunk({"content": "first"})], done=False, hang=True))
    async with httpx.AsyncClient(timeout=10) as client:
        body = messages_body(stream=True)
        async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages", json=body) as response:
            async with aclosing(response.aiter_bytes()) as received:
                async for data in received:
                    if b"first" in data:
                        break  # leaving the block closes the connection
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)
    # and the proxy carries on serving
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{proxy.port}/health")).status_code == 200


@pytest.mark.parametrize("stream", [True, False])
async def test_client_disconnect_while_the_upstream_thinks_cancels_it(proxy, fake, stream):
    # The upstream sends nothing, not even its response head, before the client gives up.
    fake.queue(Reply(head_delay=30))
    async with httpx.AsyncClient(timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body(stream=stream))
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)


async def test_request_log_line_has_models_status_and_tokens(proxy, fake, caplog):
    fake.queue(Reply.stream(text_chunks(["hi"], final_usage=usage(prompt=11, completion=2))))
    async with httpx.AsyncClient() as client:
        await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages?beta=true", json=messages_body(stream=True))
    with trio.fail_after(5):  # the server logs once the exchange is over, after the client has its answer
        while not (lines := [r.getMessage() for r in caplog.records if r.levelname == "INFO"]):
            await trio.sleep(0.01)
    assert lines[0].startswith("POST /v1/messages claude-3-5-haiku-20241022 -> gpt-4o 200 stream "), lines
    assert lines[0].endswith("in=11 out=2 stop=end_turn " + lines[0].rsplit(" ", 1)[1]), lines
    assert "req_" in lines[0]
