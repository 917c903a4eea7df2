"""Upstream failures as the official SDK sees them: HTTP errors before the first
byte, an ``event: error`` after it, and the proxy serving on afterwards."""

import anthropic
import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, chunk, completion, sse_frames
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import messages_body
from tests.support.proxy import in_thread, sdk, start_proxy

STATUS_CASES = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (413, anthropic.APIStatusError, "request_too_large"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (503, anthropic.InternalServerError, "overloaded_error"),
    (504, anthropic.InternalServerError, "timeout_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


def create(proxy, **kwargs):
    return lambda: sdk(proxy).messages.create(
        model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}], **kwargs)


def consume_stream(proxy):
    def run():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=10,
                                        messages=[{"role": "user", "content": "hi"}]) as stream:
            return "".join(stream.text_stream)
    return run


@pytest.mark.parametrize(("status", "exception", "error_type"), STATUS_CASES)
@pytest.mark.parametrize("streaming", [False, True])
async def test_upstream_status_maps_to_the_sdk_exception(proxy, fake, status, exception, error_type, streaming):
    fake.queue(Reply.error(status, f"upstream says {status}"))
    call = consume_stream(proxy) if streaming else create(proxy)
    with pytest.raises(exception) as caught:
        await in_thread(call)
    error = caught.value
    assert error.status_code == status
    assert error.body["error"] == {"type": error_type, "message": f"upstream says {status}"}
    assert error.request_id.startswith("req_")


async def test_retry_after_is_forwarded(proxy, fake):
    fake.queue(Reply.json({"error": {"message": "slow down"}}, 429, headers=[("retry-after", "3")]))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await in_thread(create(proxy))
    assert caught.value.response.headers["retry-after"] == "3"


async def test_context_length_error_is_a_400_claude_code_can_recognise(proxy, fake):
    fake.queue(Reply.error(500, "This model's maximum context length is 131072 tokens. However, you requested 140000 "
                                "tokens (139000 in the messages, 1000 in the completion).", code="context_length_exceeded"))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await in_thread(create(proxy))
    assert caught.value.body["error"]["message"].startswith("prompt is too long: 140000 tokens > 131072 maximum")


async def test_unreachable_upstream_is_502(nursery, fake):
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    closed_port = listener.socket.getsockname()[1]
    await listener.aclose()
    proxy = await start_proxy(nursery, fake, target_url=f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"
    assert "cannot connect to the upstream" in caught.value.body["error"]["message"]


async def test_non_json_answer_is_502(proxy, fake):
    fake.queue(Reply(status=200, body=b"<html>hello</html>", headers=[("content-type", "text/html")]))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 502 and "not JSON" in caught.value.body["error"]["message"]


async def test_html_error_page_keeps_its_text(proxy, fake):
    fake.queue(Reply(status=502, body=b"<html><h1>502 Bad Gateway</h1></html>", headers=[("content-type", "text/html")]))
    with pytest.raises(anthropic.InternalServerError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 502 and "502 Bad Gateway" in caught.value.body["error"]["message"]


async def raw_stream(proxy, headers: dict | None = None) -> tuple[int, bytes]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body(stream=True),
                                     headers=headers)
        return response.status_code, response.content


async def test_error_chunk_before_any_content_is_an_http_error(proxy, fake):
    fake.queue(Reply.stream([{"error": {"message": "Provider rate limited", "code": 429}}]))
    status, body = await raw_stream(proxy)
    assert status == 429 and b'"rate_limit_error"' in body and b"Provider rate limited" in body


async def test_error_chunk_mid_stream_is_an_error_event(proxy, fake):
    fake.queue(Reply.stream([chunk({"content": "partial "}), {"error": {"message": "CUDA out of memory", "code": 500}}],
                            done=False))
    status, body = await raw_stream(proxy)
    events = parse_events(body)
    assert status == 200
    check_grammar(events)
    assert text_of(events) == "partial "
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "CUDA out of memory"}})

    fake.queue(Reply.stream([chunk({"content": "partial "}), {"error": {"message": "CUDA out of memory"}}], done=False))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(consume_stream(proxy))
    assert "CUDA out of memory" in str(caught.value)


async def test_stream_cut_without_done_is_an_error_event(proxy, fake):
    fake.queue(Reply.stream([chunk({"role": "assistant"}), chunk({"content": "half an ans"})], done=False, cut=True))
    status, body = await raw_stream(proxy)
    events = parse_events(body)
    check_grammar(events)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [name for name, _ in events]


async def test_empty_200_stream_is_an_http_error(proxy, fake):
    fake.queue(Reply.raw_stream([]))
    status, body = await raw_stream(proxy)
    assert status == 502 and b"ended before [DONE]" in body


async def test_server_keeps_serving_after_every_kind_of_failure(proxy, fake):
    fake.queue(Reply.error(500, "x"), Reply.stream([chunk({"content": "a"})], done=False, cut=True),
               Reply.raw_stream([b"data: {broken\n\n"]))
    for _ in range(3):
        await raw_stream(proxy)
    fake.queue(Reply.json(completion("still here")))
    message = await in_thread(create(proxy))
    assert message.content[0].text == "still here"


async def test_named_error_event_from_upstream(proxy, fake):
    fake.queue(Reply.raw_stream(sse_frames([chunk({"content": "ok"})], done=False)
                                + [b'event: error\ndata: {"message": "boom"}\n\n']))
    _, body = await raw_stream(proxy)
    assert parse_events(body)[-1][1]["error"]["message"] == "boom"


async def test_upstream_timeout_before_the_answer_is_504(nursery, fake):
    proxy = await start_proxy(nursery, fake, upstream_read_timeout=0.3)
    fake.queue(Reply.json(completion("too late"), headers=None), Reply.stream([chunk({"content": "x"})]))
    fake.replies[0].head_delay = fake.replies[1].head_delay = 2
    with pytest.raises(anthropic.InternalServerError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 504 and caught.value.body["error"]["type"] == "timeout_error"
    status, body = await raw_stream(proxy)
    assert status == 504 and b"timeout_error" in body


async def test_upstream_silence_mid_stream_ends_with_a_timeout_error_event(nursery, fake):
    proxy = await start_proxy(nursery, fake, upstream_read_timeout=0.3)
    fake.queue(Reply.stream([chunk({"content": "started"})], done=False, hang=True))
    status, body = await raw_stream(proxy)
    events = parse_events(body)
    assert status == 200 and text_of(events) == "started"
    assert events[-1][1]["error"]["type"] == "timeout_error"


async def test_a_key_quoted_in_an_upstream_error_is_redacted(proxy, fake, caplog):
    fake.queue(Reply.error(401, "Incorrect API key provided: client-key. Find your key at ..."))
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await in_thread(create(proxy))
    assert caught.value.body["error"]["message"] == "Incorrect API key provided: [redacted]. Find your key at ..."
    assert "client-key" not in caplog.text


async def test_upstream_redirect_is_a_502_naming_the_location(proxy, fake):
    fake.queue(Reply(status=308, body=b"", headers=[("location", "https://elsewhere.example/v1/chat/completions")]))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 502
    assert "https://elsewhere.example/v1/chat/completions" in caught.value.body["error"]["message"]


async def test_a_key_quoted_in_a_mid_stream_error_is_redacted(proxy, fake, caplog):
    fake.queue(Reply.stream([chunk({"content": "a"}), {"error": {"message": "key client-key revoked"}}], done=False))
    status, body = await raw_stream(proxy, {"x-api-key": "client-key"})
    assert status == 200 and b"key [redacted] revoked" in body and b"client-key" not in body
    assert "client-key" not in caplog.text
