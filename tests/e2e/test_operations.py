"""What operators and Claude Code ask of a running proxy beyond /v1/messages:
count_tokens, /v1/models, the base URL probe, /metrics, request ids."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from anthroproxy.config.capabilities import CapabilityTable
from anthroproxy.testing.fake_upstream import Reply, text_chunks, usage
from anthroproxy.translate.request import to_openai
from anthroproxy.translate.tokens import PER_MESSAGE, REPLY_PRIMING, estimate_payload
from tests.support.http import messages_body
from tests.support.metrics import metric_values
from tests.support.proxy import in_thread, sdk, start_proxy

TOKEN = "proxy-token-77"


async def call(port: int, method: str, path: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.request(method, f"http://127.0.0.1:{port}{path}", **kwargs)


# ---- count_tokens ------------------------------------------------------------------------------


async def test_count_tokens_estimates_the_request_the_upstream_would_get(proxy, fake):
    body = messages_body("Count me, please: how many tokens is this?", system="You are terse.",
                         tools=[{"name": "read", "description": "Read a file",
                                 "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}])
    del body["max_tokens"]  # optional here
    response = await call(proxy.port, "POST", "/v1/messages/count_tokens?beta=true", json=body)
    assert response.status_code == 200, response.text
    expected = estimate_payload(to_openai({**body, "max_tokens": 1}, "gpt-4o").payload)
    assert response.json() == {"input_tokens": expected}
    assert response.headers["request-id"].startswith("req_")
    assert fake.requests == []  # local: nothing goes upstream


async def test_the_sdk_counts_tokens_through_the_proxy(proxy):
    client = sdk(proxy)
    counted = await in_thread(lambda: client.messages.count_tokens(
        model="claude-3-5-haiku-20241022", messages=[{"role": "user", "content": "Hello, world"}]))
    body = {"model": "claude-3-5-haiku-20241022", "max_tokens": 1,
            "messages": [{"role": "user", "content": "Hello, world"}]}
    assert counted.input_tokens == estimate_payload(to_openai(body, "gpt-4o").payload)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", {"model": "claude-x", "max_tokens": 5}, {"model": "claude-x", "max_tokens": 5, "messages": []},
     {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
     {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
     {"model": "claude-x", "max_tokens": "5", "messages": [{"role": "user", "content": "x"}]}],
)
async def test_count_tokens_refuses_what_messages_refuses_with_the_same_400(proxy, body):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    counted = await call(proxy.port, "POST", "/v1/messages/count_tokens", content=content, headers=headers)
    sent = await call(proxy.port, "POST", "/v1/messages", content=content, headers=headers)
    assert counted.status_code == sent.status_code == 400
    assert counted.json()["error"] == sent.json()["error"]
    assert counted.json()["error"]["type"] == "invalid_request_error"


async def test_count_tokens_needs_the_proxy_token_like_messages(nursery, fake):
    proxy = await start_proxy(nursery, fake, auth_token=TOKEN)
    assert (await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body())).status_code == 401
    allowed = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body(),
                         headers={"x-api-key": TOKEN})
    assert allowed.status_code == 200


async def test_upstream_counting_asks_vllms_tokenize_with_the_chat(nursery, fake):
    proxy = await start_proxy(nursery, fake, count_tokens="upstream", api_key="sk-up")
    fake.queue(Reply.json({"count": 1234, "max_model_len": 32768, "tokens": list(range(1234))}),
               Reply.json({"count": 99, "max_model_len": 32768, "tokens": list(range(99))}))
    response = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
    assert response.json() == {"input_tokens": 1234}
    request = fake.requests[-1]
    assert request.path == "/tokenize"  # beside /v1, at the server's root
    assert request.json == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                            "add_generation_prompt": True}
    assert request.headers["authorization"] == "Bearer sk-up"
    assert request.headers["x-request-id"] == response.headers["request-id"]
    again = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
    assert again.json() == {"input_tokens": 99} and len(fake.requests) == 2


async def test_upstream_counting_falls_to_llama_cpps_text_form_and_remembers_it(nursery, fake):
    proxy = await start_proxy(nursery, fake, count_tokens="upstream")
    fake.queue(Reply.json({"tokens": []}), Reply.json({"tokens": [1] * 7}), Reply.json({"tokens": [1] * 8}))
    first = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
    assert first.json() == {"input_tokens": 7 + REPLY_PRIMING + PER_MESSAGE}
    assert "messages" in fake.requests[0].json and fake.requests[1].json == {"content": "user\nhi"}
    second = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
    assert second.json() == {"input_tokens": 8 + REPLY_PRIMING + PER_MESSAGE}
    assert len(fake.requests) == 3 and fake.requests[2].json == {"content": "user\nhi"}


async def test_a_model_tokenize_cannot_count_is_asked_about_once(nursery, fake, caplog):
    proxy = await start_proxy(nursery, fake, count_tokens="upstream")
    fake.queue(Reply.error(404, "The model `gpt-4o` does not exist."), Reply.json({"count": 7}))
    estimate = estimate_payload(to_openai(messages_body("hi"), "gpt-4o").payload)
    for _ in range(3):
        response = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
        assert response.json() == {"input_tokens": estimate}
    assert len(fake.requests) == 1
    assert any("its token counts are estimated from now on" in r.getMessage() for r in caplog.records)
    # Another target model is still counted upstream (vLLM answers 404 for a model it does not serve).
    other = await call(proxy.port, "POST", "/v1/messages/count_tokens", json={**messages_body("hi"), "model": "x"})
    assert other.json() == {"input_tokens": 7} and fake.requests[-1].json["model"] == "fake-default"


async def test_a_key_the_tokenizer_quotes_back_is_not_logged(nursery, fake, caplog):
    proxy = await start_proxy(nursery, fake, count_tokens="upstream", api_key="sk-SECRET-999")
    fake.queue(Reply.error(401, "Incorrect API key provided: sk-SECRET-999"))
    response = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))
    assert response.status_code == 200
    assert "SECRET" not in caplog.text and "[redacted]" in caplog.text


async def test_images_of_any_size_are_counted(proxy):
    import base64
    import struct

    flat = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 0, 10) + b"\x08\x02\x00\x00\x00"
    source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(flat).decode()}
    body = messages_body()
    body["messages"][0]["content"] = [{"type": "image", "source": source}, {"type": "text", "text": "what is it?"}]
    response = await call(proxy.port, "POST", "/v1/messages/count_tokens", json=body)
    assert response.status_code == 200 and response.json()["input_tokens"] > 765  # counted as 1024x1024


async def test_a_failing_tokenize_is_estimated_and_asked_again_next_time(nursery, fake):
    proxy = await start_proxy(nursery, fake, count_tokens="upstream")
    fake.queue(Reply.error(500, "tokenizer crashed"), Reply.json({"count": 5}))
    estimate = estimate_payload(to_openai(messages_body("hi"), "gpt-4o").payload)
    assert (await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))).json() == {
        "input_tokens": estimate}
    assert (await call(proxy.port, "POST", "/v1/messages/count_tokens", json=messages_body("hi"))).json() == {
        "input_tokens": 5}


# ---- /v1/models ------------------------------------------------------------------------------------

MAPPING = "claude-opus-4-1:o3,claude-*:gpt-4o,claude-3-5-haiku-20241022:qwen3:32b,gpt-4o:gpt-4o"
CAPABILITIES = CapabilityTable.from_mapping({"qwen3*": {"max_input_tokens": 32768, "max_output_tokens": 8192}})


async def test_models_lists_the_plain_names_of_the_mapping(nursery, fake):
    proxy = await start_proxy(nursery, fake, model_mapping=MAPPING, model_capabilities=CAPABILITIES)
    response = await call(proxy.port, "GET", "/v1/models?limit=1000", headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 200
    page = response.json()
    assert [model["id"] for model in page["data"]] == ["claude-opus-4-1", "claude-3-5-haiku-20241022", "gpt-4o"]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (False, "claude-opus-4-1", "gpt-4o")
    haiku = page["data"][1]
    assert haiku == {"type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude 3.5 Haiku (qwen3:32b)",
                     "created_at": "2024-10-22T00:00:00Z", "max_input_tokens": 32768, "max_tokens": 8192}
    assert page["data"][0]["max_tokens"] is None  # the table says nothing of o3's limits


async def test_the_sdk_pages_through_models_and_retrieves_one(nursery, fake):
    proxy = await start_proxy(nursery, fake, model_mapping=MAPPING, model_capabilities=CAPABILITIES)
    client = sdk(proxy)
    listed = await in_thread(lambda: [model.id for model in client.models.list(limit=1)])  # follows has_more
    assert listed == ["claude-opus-4-1", "claude-3-5-haiku-20241022", "gpt-4o"]
    first = await in_thread(lambda: client.models.list(limit=2))
    assert first.has_more and first.last_id == "claude-3-5-haiku-20241022"
    haiku = await in_thread(lambda: client.models.retrieve("claude-3-5-haiku-20241022"))
    assert (haiku.display_name, haiku.max_input_tokens, haiku.created_at.year) == ("Claude 3.5 Haiku (qwen3:32b)",
                                                                                   32768, 2024)
    caught = await in_thread(lambda: client.models.retrieve("claude-sonnet-4-5"))  # by the glob
    assert caught.display_name == "Claude Sonnet 4.5 (gpt-4o)"
    import anthropic

    with pytest.raises(anthropic.NotFoundError):
        await in_thread(lambda: client.models.retrieve("mistral-large"))


async def test_display_names_come_from_the_config_file(nursery, fake, tmp_path):
    from anthroproxy.config import load_config

    path = tmp_path / "proxy.toml"
    path.write_text('[models]\n"claude-sonnet-4-5" = { target = "gpt-5", display_name = "Sonnet (GPT-5)" }\n')
    config = load_config(["--config", str(path), "--port", "0", "--target-url", fake.url], {}, None)
    from anthroproxy import serve

    proxy = await nursery.start(serve, config)
    page = (await call(proxy.port, "GET", "/v1/models")).json()
    assert [(m["id"], m["display_name"]) for m in page["data"]] == [("claude-sonnet-4-5", "Sonnet (GPT-5)")]


@pytest.mark.parametrize(("path", "status"), [("/v1/models?limit=0", 400), ("/v1/models?after_id=nope", 400),
                                              ("/v1/models/nope", 404)])
async def test_model_errors_have_the_anthropic_shape(proxy, path, status):
    response = await call(proxy.port, "GET", path)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == ("invalid_request_error" if status == 400 else "not_found_error")


# ---- the base URL, /metrics, request ids ----------------------------------------------------------


async def test_the_base_url_answers_get_and_head_without_a_token(nursery, fake):
    proxy = await start_proxy(nursery, fake, auth_token=TOKEN)
    got = await call(proxy.port, "GET", "/")
    assert got.status_code == 200 and got.json()["name"] == "anthroproxy"
    head = await call(proxy.port, "HEAD", "/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(got.content))
    assert (await call(proxy.port, "GET", "/metrics")).status_code == 200
    assert (await call(proxy.port, "GET", "/v1/models")).status_code == 401


async def test_metrics_count_what_happened(nursery, fake):
    proxy = await start_proxy(nursery, fake)
    fake.queue(Reply.stream(text_chunks(["Hel", "lo"], final_usage=usage(20, 2, cached=5))),
               Reply.error(503, "busy"),
               Reply.stream(text_chunks(["never", " ends"])[:2], done=False, hang=True))
    assert (await call(proxy.port, "POST", "/v1/messages", json=messages_body(stream=True))).status_code == 200
    assert (await call(proxy.port, "POST", "/v1/messages", json=messages_body())).status_code == 503
    async with httpx.AsyncClient(timeout=20) as client:  # a client that leaves mid-stream
        async with client.stream("POST", f"http://127.0.0.1:{proxy.port}/v1/messages",
                                 json=messages_body(stream=True)) as response:
            async for _ in response.aiter_bytes():
                break
            during = metric_values((await call(proxy.port, "GET", "/metrics")).text)
    assert during[("anthroproxy_active_streams", ())] == 1
    with trio.fail_after(10):
        while True:
            response = await call(proxy.port, "GET", "/metrics")
            values = metric_values(response.text)
            if values[("anthroproxy_client_disconnects_total", ())] == 1:
                break
            await trio.sleep(0.02)
    assert response.headers["content-type"].startswith("text/plain")
    assert values[("anthroproxy_requests_total", (("client", ""), ("model", "gpt-4o"), ("route", "messages"), ("status", "200")))] == 2
    assert values[("anthroproxy_requests_total", (("client", ""), ("model", "gpt-4o"), ("route", "messages"), ("status", "503")))] == 1
    assert values[("anthroproxy_tokens_total", (("client", ""), ("kind", "input"), ("model", "gpt-4o")))] == 15  # less the cached
    assert values[("anthroproxy_tokens_total", (("client", ""), ("kind", "cache_read"), ("model", "gpt-4o")))] == 5
    assert values[("anthroproxy_upstream_errors_total", (("kind", "http_503"),))] == 1
    assert values[("anthroproxy_upstream_cancellations_total", ())] == 1
    assert values[("anthroproxy_active_streams", ())] == 0
    assert values[("anthroproxy_time_to_first_event_seconds_count", (("model", "gpt-4o"),))] == 2
    assert values[("anthroproxy_request_duration_seconds_count", (("route", "messages"),))] == 3


async def test_the_request_id_is_returned_logged_and_sent_upstream(proxy, fake, caplog):
    fake.queue(Reply.stream(text_chunks(["Hi"], final_usage=usage(10, 5))))
    response = await call(proxy.port, "POST", "/v1/messages", json=messages_body(stream=True))
    request_id = response.headers["request-id"]
    assert fake.requests[-1].headers["x-request-id"] == request_id
    with trio.fail_after(5):  # (logged once the response has ended)
        while not (logged := [r for r in caplog.records if getattr(r, "access", None)]):
            await trio.sleep(0.01)
    (record,) = logged
    assert record.access["request_id"] == request_id
    assert record.access["first_event_ms"] is not None and record.access["output_tokens"] == 5


async def test_a_backend_that_reports_no_usage_adds_no_tokens_to_the_metrics(proxy, fake, caplog):
    fake.queue(Reply.stream(text_chunks(["Hello", " there"])[:-1]))  # no usage chunk
    response = await call(proxy.port, "POST", "/v1/messages", json=messages_body(stream=True))
    assert response.status_code == 200
    with trio.fail_after(5):
        while not (logged := [r.access for r in caplog.records if getattr(r, "access", None)]):
            await trio.sleep(0.01)
    assert logged[0]["usage_estimated"] is True and logged[0]["output_tokens"] > 0
    values = metric_values((await call(proxy.port, "GET", "/metrics")).text)
    assert not any(name == "anthroproxy_tokens_total" for name, _ in values)


async def test_a_request_refused_before_routing_is_logged_and_counted(proxy, connect, caplog):
    client = await connect(proxy.port)
    await client.send(b"NOT HTTP AT ALL\r\n\r\n")
    status, headers, body, _ = await client.response()
    assert status == 400 and json.loads(body)["request_id"] == headers["request-id"]
    with trio.fail_after(5):
        while not (logged := [r.access for r in caplog.records if getattr(r, "access", None)]):
            await trio.sleep(0.01)
    assert {k: logged[0][k] for k in ("request_id", "method", "path", "status", "error")} == {
        "request_id": headers["request-id"], "method": "-", "path": "-", "status": 400, "error": "invalid_request_error"}
    values = metric_values((await call(proxy.port, "GET", "/metrics")).text)
    assert values[("anthroproxy_requests_total", (("client", ""), ("model", ""), ("route", "none"), ("status", "400")))] == 1
