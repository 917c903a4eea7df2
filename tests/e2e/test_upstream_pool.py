"""The upstream pool: light traffic reuses one warm connection, requests in
flight are counted (replicas are balanced by that count), and every response
is counted back however it ends."""

import json

import httpx
import pytest
import trio

from anthroproxy.core.errors import UpstreamError, UpstreamTimeout
from anthroproxy.testing.fake_upstream import Reply, completion, text_chunks
from anthroproxy.upstream.pool import Pool, tls_context
from tests.support.http import messages_body


async def test_one_request_at_a_time_reuses_one_upstream_connection(proxy, fake):
    async with httpx.AsyncClient(timeout=10) as client:
        for streaming in (True, False, True, False, True):
            response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages",
                                         json=messages_body(stream=streaming))
            assert response.status_code == 200
    assert len(fake.requests) == 5
    assert fake.connections == 1  # (taking turns over the clients opened one connection per request)


def open_pool(url: str) -> Pool:
    return Pool(url, connect_timeout=5, read_timeout=30, tls=tls_context(None))


@pytest.fixture
async def pool(fake):
    pool = open_pool(fake.url)
    yield pool
    await pool.aclose()


PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
BODY, STREAM_BODY = json.dumps(PAYLOAD).encode(), json.dumps({**PAYLOAD, "stream": True}).encode()
ENDPOINT = "/chat/completions"


async def test_requests_in_flight_are_counted_until_each_close(pool, fake):
    fake.queue(Reply.stream(text_chunks(["a"])), Reply.stream(text_chunks(["b"])))
    first = await pool.send(ENDPOINT, STREAM_BODY, {}, stream=True)
    second = await pool.send(ENDPOINT, STREAM_BODY, {}, stream=True)
    assert pool.busy == 2 and fake.connections == 2
    await first.aclose()
    fake.queue(Reply.stream(text_chunks(["c"])))
    third = await pool.send(ENDPOINT, STREAM_BODY, {}, stream=True)
    assert pool.busy == 2
    for answer in (second, third, third):  # (a second close changes nothing)
        await answer.aclose()
    assert pool.busy == 0


async def test_an_answer_read_to_its_end_hands_its_connection_back(pool, fake):
    fake.queue(Reply.stream(text_chunks(["a"])), Reply.stream(text_chunks(["b"])))
    for _ in range(2):
        answer = await pool.send(ENDPOINT, STREAM_BODY, {}, stream=True)
        body = b""
        while chunk := await answer.receive():
            body += chunk
        assert body.endswith(b"data: [DONE]\n\n")
        await answer.aclose()
    assert fake.connections == 1 and pool.busy == 0


async def test_failed_requests_hand_their_client_back(pool, fake):
    fake.queue(Reply.error(500, "boom"), Reply.json(completion("ok")), Reply.json({}, status=302))
    with pytest.raises(UpstreamError):
        await pool.send(ENDPOINT, BODY, {}, stream=False)
    answer = await pool.send(ENDPOINT, BODY, {}, stream=False)
    assert (await answer.read_json(1 << 20))["choices"][0]["message"]["content"] == "ok"
    with pytest.raises(UpstreamError):
        await pool.send(ENDPOINT, BODY, {}, stream=False)
    with trio.move_on_after(0):  # cancelled before it could connect
        await pool.send(ENDPOINT, BODY, {}, stream=False)
    fake.queue(Reply(head_delay=5, body=b"{}"))
    with trio.move_on_after(0.2):  # cancelled while it waits for the answer
        await pool.send(ENDPOINT, BODY, {}, stream=False)
    assert pool.busy == 0


async def test_an_unreachable_upstream_hands_its_client_back():
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        pool = open_pool(f"http://127.0.0.1:{port}/v1")
        with pytest.raises(UpstreamError):
            await pool.send(ENDPOINT, BODY, {}, stream=False)
        assert pool.busy == 0
        await pool.aclose()


async def test_a_connection_the_upstream_closes_as_the_next_request_goes_out_is_retried_once(proxy, fake):
    """llama.cpp's server closes the connection after each stream, though it says keep-alive."""
    fake.queue(Reply(**{**vars(Reply.stream(text_chunks(["one"]))), "close_before_next": True}))
    async with httpx.AsyncClient(timeout=10) as client:
        for streaming in (True, True, False):
            response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages",
                                         json=messages_body(stream=streaming))
            assert response.status_code == 200, response.text
    assert fake.unanswered == 1 and len(fake.requests) == 3 and fake.connections == 2  # (3 answered)


async def test_a_server_that_took_the_request_and_closed_is_not_sent_it_twice(proxy, fake):
    fake.queue(Reply(head_delay=0.3, drop=True))
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body())
    assert response.status_code == 502 and "Server disconnected" in response.json()["error"]["message"]
    assert len(fake.requests) == 1


async def test_an_error_whose_body_never_ends_is_a_timeout_not_its_status(fake):
    """A 401 whose body stalls is a silent upstream (its replica cools), not a refused key (out for an hour)."""
    pool = Pool(fake.url, connect_timeout=5, read_timeout=0.3, tls=tls_context(None))
    fake.queue(Reply(status=401, frames=[b'{"error": {"message": "bad k'], hang=True,
                     headers=[("content-type", "application/json")]))
    with pytest.raises(UpstreamTimeout):
        await pool.send(ENDPOINT, BODY, {}, stream=False)
    assert pool.busy == 0
    await pool.aclose()


@pytest.mark.parametrize("headers", [
    {"content-type": "application/json", "accept": "text/event-stream", "user-agent": "anthroproxy/1",
     "accept-encoding": "identity", "authorization": "Bearer k", "x-request-id": "req_1"},
    {"content-type": "application/json", "accept": "application/json", "x-api-key": "k",
     "anthropic-version": "2023-06-01", "anthropic-beta": "a,b"},
    {"Host": "other.example", "X-Mixed-Case": "v"},
])
@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v1/messages?beta=true", "https://api.example.com/v1/responses",
                                 "http://[::1]:8000/chat"])
async def test_requests_go_with_the_headers_httpxs_client_would_send(headers, url):
    pool = open_pool("http://127.0.0.1:9/v1")
    try:
        target = httpx.URL(url)
        expected = pool.client.build_request("POST", target, content=b"x" * 123, headers=headers).headers.raw
        assert pool.raw_headers(target, headers, 123) == expected
        with pytest.raises(UnicodeEncodeError):
            pool.client.build_request("POST", target, content=b"", headers={"x-name": "caf\u00e9"})
        with pytest.raises(UnicodeEncodeError):
            pool.raw_headers(target, {"x-name": "caf\u00e9"}, 0)
    finally:
        await pool.aclose()
