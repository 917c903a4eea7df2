"""The hand-rolled HTTP/1.1 server over real sockets: routing, keep-alive,
pipelining, request framing, limits, timeouts and protocol garbage."""

import json
import socket
import struct

import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, chunk, completion
from tests.support.http import get, messages_body, post
from tests.support.proxy import start_proxy


def error_of(body: bytes) -> dict:
    payload = json.loads(body)
    assert payload["type"] == "error" and set(payload["error"]) == {"type", "message"}
    assert payload["request_id"].startswith("req_")
    return payload["error"]


async def test_health(connect, proxy):
    client = await connect(proxy.port)
    await client.send(get("/health"))
    status, headers, body, _ = await client.response("GET")
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["request-id"].startswith("req_")
    payload = json.loads(body)
    assert payload["status"] == "ok" and isinstance(payload["uptime"], float) and payload["uptime"] >= 0


async def test_unknown_path_and_wrong_method(connect, proxy):
    client = await connect(proxy.port)
    await client.send(post("/v1/complete", {}))
    status, _, body, _ = await client.response()
    assert status == 404 and error_of(body)["type"] == "not_found_error"
    await client.send(get("/v1/messages?beta=true"))
    status, headers, body, _ = await client.response("GET")
    assert status == 405 and headers["allow"] == "POST"
    assert error_of(body)["type"] == "invalid_request_error"
    # both errors left the connection usable
    await client.send(get("/health"))
    assert (await client.response("GET"))[0] == 200


async def test_keep_alive_serves_many_requests_on_one_connection(connect, proxy, fake):
    client = await connect(proxy.port)
    for i in range(3):
        await client.send(post("/v1/messages?beta=true", messages_body(f"turn {i}")))
        status, _, body, _ = await client.response()
        assert status == 200
        assert f"turn {i}" in json.loads(body)["content"][0]["text"]
    assert not client.closed


async def test_pipelined_requests_are_answered_in_order(connect, proxy, fake):
    client = await connect(proxy.port)
    await client.send(
        post("/v1/messages", messages_body("first")) + get("/health") + post("/v1/messages", messages_body("third"))
    )
    first, second, third = [await client.response(m) for m in ("POST", "GET", "POST")]
    assert "first" in json.loads(first[2])["content"][0]["text"]
    assert json.loads(second[2])["status"] == "ok"
    assert "third" in json.loads(third[2])["content"][0]["text"]


async def test_chunked_request_body(connect, proxy):
    body = json.dumps(messages_body("chunky")).encode()
    head = b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    client = await connect(proxy.port)
    await client.send(head + chunks + b"0\r\n\r\n")
    status, _, answer, _ = await client.response()
    assert status == 200 and "chunky" in json.loads(answer)["content"][0]["text"]


async def test_expect_100_continue(connect, proxy):
    body = json.dumps(messages_body("after continue")).encode()
    client = await connect(proxy.port)
    await client.send(
        b"POST /v1/messages HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    assert await client.stream.receive_some(1024) == b"HTTP/1.1 100 \r\n\r\n"
    await client.send(body)
    status, _, answer, _ = await client.response()
    assert status == 200 and "after continue" in json.loads(answer)["content"][0]["text"]


async def test_body_over_the_limit_by_content_length_is_413_without_reading_it(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, max_body_bytes=1000)
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n")
    status, headers, body, informational = await client.response()
    assert status == 413 and informational == [] and headers["connection"] == "close"
    assert error_of(body)["type"] == "request_too_large"
    assert fake.requests == []


async def test_chunked_body_over_the_limit_is_413(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, max_body_bytes=1000)
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
    await client.send(b"400\r\n" + b"x" * 1024 + b"\r\n")
    status, _, body, _ = await client.response()
    assert status == 413 and error_of(body)["type"] == "request_too_large"
    assert await client.is_closed_by_server()


async def test_oversized_headers_are_431(connect, proxy):
    client = await connect(proxy.port)
    await client.send(b"GET /health HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
    status, _, body, _ = await client.response("GET")
    assert status == 431 and error_of(body)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "garbage",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nno colon in this header\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
     b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ncontent-length: nope\r\n\r\n"],
)
async def test_protocol_garbage_gets_400_and_disturbs_no_one(connect, proxy, garbage):
    bystander = await connect(proxy.port)
    await bystander.send(b"GET /health HTTP/1.1\r\nhost: t\r\n")  # half a request, in flight
    client = await connect(proxy.port)
    await client.send(garbage)
    status, _, body, _ = await client.response("GET")
    assert status == 400 and error_of(body)["type"] == "invalid_request_error"
    assert await client.is_closed_by_server()
    await bystander.send(b"\r\n")
    assert (await bystander.response("GET"))[0] == 200


async def test_bad_chunked_framing_is_400(connect, proxy):
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")
    status, _, body, _ = await client.response()
    assert status == 400 and "malformed" in error_of(body)["message"]


async def test_slow_request_head_is_cut_off(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, header_timeout=0.3)
    client = await connect(proxy.port)
    await client.send(b"GET /health HTTP/1.1\r\nhost: t\r\n")  # never finished
    with trio.fail_after(5):
        status, _, body, _ = await client.response("GET")
    assert status == 408 and error_of(body)["type"] == "timeout_error"
    assert await client.is_closed_by_server()


async def test_silent_new_connection_is_closed_after_the_header_timeout(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, header_timeout=0.3)
    client = await connect(proxy.port)
    with trio.fail_after(5):
        assert await client.is_closed_by_server()


async def test_idle_keep_alive_connection_is_closed(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, keepalive_timeout=0.3)
    client = await connect(proxy.port)
    await client.send(get("/health"))
    assert (await client.response("GET"))[0] == 200
    with trio.fail_after(5):
        assert await client.is_closed_by_server()


async def test_slow_body_is_408(connect, nursery, fake):
    proxy = await start_proxy(nursery, fake, body_timeout=0.3)
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{")
    with trio.fail_after(5):
        status, _, body, _ = await client.response()
    assert status == 408 and error_of(body)["type"] == "timeout_error"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "request body: not valid JSON"),
        (b"", "request body: expected a JSON object, got an empty body"),
        (b"[1]", "request body: expected a JSON object, got an array"),
        (b'{"model": "x", "max_tokens": 1, "messages": "\xff\xfe"}', "request body: not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "request body: JSON nested too deeply"),
        (json.dumps({"max_tokens": 5, "messages": []}).encode(), "model: field required"),
        (json.dumps({"model": "m", "max_tokens": "5", "messages": []}).encode(), "max_tokens: expected a non-negative integer"),
        (json.dumps({"model": "m", "max_tokens": 5}).encode(), "messages: field required"),
        (json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": {"a": 1}}]}).encode(),
         "messages.0.content: expected a string or an array of content blocks, got an object"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(connect, proxy, fake, body, fragment):
    client = await connect(proxy.port)
    await client.send(post("/v1/messages", body))
    status, _, answer, _ = await client.response()
    error = error_of(answer)
    assert status == 400 and error["type"] == "invalid_request_error"
    assert error["message"].startswith(fragment), error["message"]
    assert fake.requests == []
    await client.send(get("/health"))  # and the connection still serves
    assert (await client.response("GET"))[0] == 200


async def test_head_gets_the_head_alone_and_the_server_survives(connect, proxy):
    client = await connect(proxy.port)
    await client.send(b"HEAD /health HTTP/1.1\r\nhost: t\r\n\r\n")
    status, headers, body, _ = await client.response("HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    await client.send(b"HEAD /nowhere HTTP/1.1\r\nhost: t\r\n\r\n")
    status, _, body, _ = await client.response("HEAD")
    assert status == 404 and body == b""
    other = await connect(proxy.port)
    await other.send(get("/health"))
    assert (await other.response("GET"))[0] == 200


PIPELINED_FILLER = b"GET /health HTTP/1.1\r\nhost: t\r\nx-pad: " + b"a" * 1000 + b"\r\n\r\n"


async def test_disconnect_behind_a_megabyte_of_pipelined_requests_still_cancels_the_upstream(connect, proxy, fake):
    fake.queue(Reply.stream([chunk({"content": "x"})], done=False, hang=True))
    client = await connect(proxy.port)
    await client.send(post("/v1/messages", messages_body(stream=True)) + PIPELINED_FILLER * 1200)
    await fake.wait_for(lambda: len(fake.requests) == 1)
    await trio.sleep(0.2)
    await client.aclose()
    with trio.fail_after(5):
        await fake.wait_for(lambda: fake.disconnects == 1)


async def test_reset_while_an_error_reply_is_pending_leaves_the_server_serving(connect, proxy, fake):
    fake.queue(Reply(**{**vars(Reply.error(401, "bad key")), "head_delay": 0.5}))
    sock = socket.socket()
    sock.connect(("127.0.0.1", proxy.port))
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    await stream.send_all(post("/v1/messages", messages_body()) + PIPELINED_FILLER * 1200)
    await fake.wait_for(lambda: len(fake.requests) == 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    await stream.aclose()
    await trio.sleep(1)
    client = await connect(proxy.port)
    await client.send(get("/health"))
    assert (await client.response("GET"))[0] == 200


async def test_pipelined_overflow_closes_the_connection_after_the_current_response(connect, proxy, fake):
    client = await connect(proxy.port)
    fake.queue(Reply(**{**vars(Reply.json(completion("slow"))), "head_delay": 0.3}))
    await client.send(post("/v1/messages", messages_body()) + PIPELINED_FILLER * 1200)
    status, headers, body, _ = await client.response()
    assert status == 200 and headers["connection"] == "close"
    assert json.loads(body)["content"][0]["text"] == "slow"
    with trio.fail_after(5):
        assert await client.is_closed_by_server()


@pytest.mark.parametrize(
    "line", [b"x-api-key : sk-SECRET-KEY", b"Authorization Bearer sk-SECRET-KEY", b"x-api-key: sk-SECRET-KEY\x00"]
)
async def test_malformed_header_lines_are_not_echoed(connect, proxy, caplog, line):
    client = await connect(proxy.port)
    await client.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\n" + line + b"\r\n\r\n")
    status, _, body, _ = await client.response()
    assert status == 400 and b"SECRET" not in body
    assert "SECRET" not in caplog.text
