"""Liveness, backpressure, upstream faults and hostile input, over real sockets."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, chunk, completion, text_chunks
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import RawHTTP, get, messages_body, post
from tests.support.proxy import start_proxy


async def stream_events(port: int, body: dict | None = None, timeout: float = 10) -> tuple[int, list, float]:
    """(status, events, seconds to the response head)."""
    started = trio.current_time()
    async with httpx.AsyncClient(timeout=timeout) as client:
        async with client.stream("POST", f"http://127.0.0.1:{port}/v1/messages",
                                 json=body or messages_body(stream=True)) as response:
            head = trio.current_time() - started
            data = await response.aread()
    if response.status_code != 200:
        return response.status_code, json.loads(data), head
    return 200, parse_events(data), head


def names(events) -> list[str]:
    return [name for name, _ in events]


# ---- liveness ---------------------------------------------------------------------------------


async def test_pings_while_the_upstream_is_silent_then_a_timeout_error(nursery, fake, caplog):
    proxy = await start_proxy(nursery, fake, ping_interval=0.2, upstream_read_timeout=1.0)
    fake.queue(Reply.stream([chunk({"content": "thinking hard"})], done=False, hang=True))
    started = trio.current_time()
    status, events, _ = await stream_events(proxy.port)
    elapsed = trio.current_time() - started
    assert status == 200
    check_grammar(events)
    after_text = names(events)[names(events).index("content_block_delta"):]
    assert after_text.count("ping") >= 3  # one every 0.2 s of silence
    assert events[-1][1]["error"] == {"type": "timeout_error",
                                      "message": "the upstream sent nothing for 1 s mid-stream"}
    assert 0.9 < elapsed < 5
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)  # and the upstream request was closed
    assert any("ended with an error event, the upstream timed out" in r.getMessage() for r in caplog.records)


async def test_pings_before_the_upstream_answers_keep_the_client_waiting(nursery, fake):
    proxy = await start_proxy(nursery, fake, ping_interval=0.15)
    fake.queue(Reply(**{**vars(Reply.stream(text_chunks(["finally"]))), "head_delay": 0.8}))
    status, events, head = await stream_events(proxy.port)
    assert status == 200 and head < 0.6  # the response began before the upstream answered
    check_grammar(events)
    assert names(events)[:3] == ["message_start", "ping", "ping"] and text_of(events) == "finally"
    assert events[-1][0] == "message_stop"


async def test_an_upstream_error_after_pings_began_is_an_error_event(nursery, fake):
    proxy = await start_proxy(nursery, fake, ping_interval=0.15)
    fake.queue(Reply(**{**vars(Reply.error(429, "slow down")), "head_delay": 0.5}))
    status, events, _ = await stream_events(proxy.port)
    assert status == 200
    check_grammar(events)
    assert events[-1][1]["error"] == {"type": "rate_limit_error", "message": "slow down"}


async def test_no_answer_within_the_limit_and_no_ping_yet_is_a_504(nursery, fake):
    proxy = await start_proxy(nursery, fake, ping_interval=5, upstream_read_timeout=0.3)
    fake.queue(Reply(head_delay=30))
    status, body, _ = await stream_events(proxy.port)
    assert status == 504 and body["error"] == {"type": "timeout_error",
                                               "message": "the upstream sent no answer within 0.3 s"}


async def test_a_slow_reader_gets_backpressure_not_buffering(nursery, fake):
    """The proxy holds one chunk at a time: while the client does not read, the
    upstream is held back by TCP, not drained into the proxy's memory."""
    proxy = await start_proxy(nursery, fake)
    piece = "z" * 60_000
    frames = 500  # 30 MB of text
    fake.queue(Reply.stream(text_chunks([piece] * frames)))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", proxy.port))
    client = RawHTTP(trio.SocketStream(trio.socket.from_stdlib_socket(sock)))
    await client.send(post("/v1/messages", messages_body(stream=True)))
    await trio.sleep(1.5)  # not reading
    held_back = frames - fake.frames_sent
    assert fake.frames_sent * len(piece) < 15_000_000 and held_back > 250, fake.frames_sent
    with trio.fail_after(30):
        status, _, body, _ = await client.response()
    assert status == 200 and text_of(parse_events(body)) == piece * frames
    await client.aclose()


async def test_a_client_that_leaves_while_sending_its_body_costs_no_upstream_request(connect, proxy, fake, caplog):
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n" + b'{"model":' * 10)
    await trio.sleep(0.1)
    await client.aclose()
    await trio.sleep(0.2)
    assert fake.requests == []
    other = await connect(proxy.port)
    await other.send(get("/health"))
    assert (await other.response("GET"))[0] == 200


# ---- faults from the upstream -------------------------------------------------------------------


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize(
    ("reply", "status", "said"),
    [
        (Reply(status=200, body=b"", headers=[("content-type", "application/json")]), 502,
         "sent a malformed or empty answer: the upstream answered HTTP 200 with a body that is not JSON"),
        (Reply.json(completion(None)), 502, "sent a malformed or empty answer: the upstream's answer was empty"),
        (Reply(status=502, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
               headers=[("content-type", "text/html")]), 502, "answered HTTP 502: <html>"),
        (Reply.json({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]}, 200), 200, None),
    ],
)
async def test_json_path_faults_map_to_errors_and_say_what_the_upstream_did(proxy, fake, caplog, reply, status, said):
    fake.queue(reply)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body())
    assert response.status_code == status
    if said is None:
        assert response.json()["content"] == [{"type": "text", "text": "x"}]
        return
    assert response.json()["error"]["type"] == "api_error"
    assert any(f"the upstream {said}" in line for line in warnings(caplog)), warnings(caplog)


@pytest.mark.parametrize(
    ("frames", "error_type", "said"),
    [
        ([b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n', b"data: {oops\n\n"], "api_error",
         "sent a malformed or empty answer: the upstream sent a stream chunk that is not JSON"),
        ([b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"error",'
          b'"error":{"message":"provider died","code":502}}]}\n\n'], "api_error", "reported an error in its stream"),
        ([b'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n',
          b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"],
         "api_error", "sent a malformed or empty answer: the upstream's answer was empty"),
    ],
)
async def test_stream_faults_end_with_an_error_event_and_a_log_line(proxy, fake, caplog, frames, error_type, said):
    fake.queue(Reply.raw_stream(frames))
    status, events, _ = await stream_events(proxy.port)
    assert status == 200
    check_grammar(events)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == error_type
    assert any(said in line for line in warnings(caplog)), warnings(caplog)


async def test_dns_failure_is_502(nursery, fake, caplog):
    proxy = await start_proxy(nursery, fake, target_url="http://upstream.nonexistent.invalid/v1")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body())
    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"
    assert "cannot connect to the upstream" in response.json()["error"]["message"]
    assert any("the upstream could not be reached" in line for line in warnings(caplog))


# ---- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_non_json_content_types_are_named_in_a_400(connect, proxy, content_type):
    client = await connect(proxy.port)
    body = json.dumps(messages_body()).encode()
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
                      % (content_type.encode(), len(body), body))
    status, _, answer, _ = await client.response()
    assert status == 400
    assert json.loads(answer)["error"]["message"] == f"content-type: expected application/json, got {content_type!r}"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.api+json", None])
async def test_json_content_types_and_none_are_accepted(proxy, content_type):
    headers = {"content-type": content_type} if content_type else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages",
                                     content=json.dumps(messages_body()), headers=headers)
    assert response.status_code == 200


async def test_at_the_connection_limit_the_longest_idle_connection_makes_room(nursery, fake, connect):
    proxy = await start_proxy(nursery, fake, max_connections=3)
    idle = []
    for _ in range(3):
        client = await connect(proxy.port)
        await client.send(get("/health"))
        assert (await client.response("GET"))[0] == 200
        idle.append(client)
    newcomer = await connect(proxy.port)
    await newcomer.send(get("/health"))
    assert (await newcomer.response("GET"))[0] == 200
    with trio.fail_after(5):
        assert await idle[0].is_closed_by_server()  # the oldest idle one was closed


async def test_at_the_connection_limit_with_none_idle_a_newcomer_gets_529(nursery, fake, connect, caplog):
    proxy = await start_proxy(nursery, fake, max_connections=2)
    fake.default = lambda request: Reply.stream([chunk({"content": "busy"})], done=False, hang=True)
    busy = [await connect(proxy.port) for _ in range(2)]
    for client in busy:
        await client.send(post("/v1/messages", messages_body(stream=True)))
    await fake.wait_for(lambda: len(fake.requests) == 2)
    newcomer = await connect(proxy.port)
    await newcomer.send(get("/health"))
    status, headers, body, _ = await newcomer.response("GET")
    assert status == 529 and headers["connection"] == "close"
    assert json.loads(body)["error"]["type"] == "overloaded_error"
    assert any("connection limit (2) reached" in line for line in warnings(caplog))


async def test_a_lone_surrogate_from_the_client_is_a_400_naming_the_field_and_sends_nothing(proxy, fake):
    body = json.dumps(messages_body("half \ud800 a pair")).encode()  # json.dumps writes it as the escape "\ud800"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", content=body,
                                     headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "messages.0.content: a lone surrogate (half of a UTF-16 pair) is not valid Unicode: "
                   "no low surrogate in string"}
    assert fake.requests == []


async def test_a_lone_surrogate_escape_from_the_upstream_is_passed_on_escaped(proxy, fake):
    fake.queue(Reply(status=200, body=b'{"choices":[{"index":0,"message":{"role":"assistant","content":"\\udfff!"},'
                                     b'"finish_reason":"stop"}]}', headers=[("content-type", "application/json")]))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=messages_body())
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "\udfff!"
    assert b'"\\udfff!"' in response.content
