"""Graceful drain: Server.shutdown() (what SIGINT/SIGTERM trigger in the CLI)."""

import socket

import httpx
import pytest
import trio

from anthroproxy import Config, serve
from anthroproxy.testing.fake_upstream import Reply, chunk, text_chunks
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import RawHTTP, get, messages_body, post


async def run_server(nursery, fake, **overrides):
    """Start serve() in its own task; returns (server, done event)."""
    done = trio.Event()
    config = Config(port=0, target_url=fake.url, **overrides)

    async def serve_then_signal(task_status=trio.TASK_STATUS_IGNORED):
        await serve(config, task_status=task_status)
        done.set()

    server = await nursery.start(serve_then_signal)
    return server, done


async def test_live_streams_finish_and_new_connections_are_refused(nursery, fake):
    server, done = await run_server(nursery, fake)
    fake.queue(Reply.stream(text_chunks([f"w{i} " for i in range(20)]), delay=0.02))
    started = trio.Event()
    received = []

    async def stream():
        async with httpx.AsyncClient(timeout=10) as client:
            body = messages_body(stream=True)
            async with client.stream("POST", f"http://127.0.0.1:{server.port}/v1/messages", json=body) as response:
                async for data in response.aiter_bytes():
                    received.append(data)
                    started.set()

    async with trio.open_nursery() as clients:
        clients.start_soon(stream)
        await started.wait()
        server.shutdown()
        await trio.sleep(0.05)
        assert not done.is_set()  # the stream is still running...
        with pytest.raises(OSError):  # ...but new connections are refused already
            await trio.open_tcp_stream("127.0.0.1", server.port)
        with trio.fail_after(10):
            await done.wait()
    events = parse_events(b"".join(received))
    check_grammar(events)
    assert text_of(events) == "".join(f"w{i} " for i in range(20))
    assert events[-1][0] == "message_stop"


async def test_idle_keep_alive_connections_are_closed_at_once(nursery, fake, connect):
    server, done = await run_server(nursery, fake)
    client = await connect(server.port)
    await client.send(get("/health"))
    assert (await client.response("GET"))[0] == 200
    server.shutdown()
    with trio.fail_after(2):
        await done.wait()
        assert await client.is_closed_by_server()


async def test_streams_still_running_after_the_grace_period_end_with_an_error_event(nursery, fake):
    server, done = await run_server(nursery, fake, shutdown_grace=0.3)
    fake.queue(Reply.stream([chunk({"content": "forever"})], done=False, hang=True))
    async with httpx.AsyncClient(timeout=10) as client:
        body = messages_body(stream=True)
        async with client.stream("POST", f"http://127.0.0.1:{server.port}/v1/messages", json=body) as response:
            received = []
            async for data in response.aiter_bytes():
                received.append(data)
                if b"forever" in data:
                    server.shutdown()
    events = parse_events(b"".join(received))
    check_grammar(events)
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    with trio.fail_after(5):
        await done.wait()
        await fake.wait_for(lambda: fake.disconnects == 1)  # the upstream request was cancelled too


async def test_a_slow_reader_at_the_end_of_the_grace_period_still_gets_a_well_formed_stream(nursery, fake):
    """The drain cuts the wait for the upstream, never a write half-way through a chunk."""
    server, done = await run_server(nursery, fake, shutdown_grace=0.3)
    fake.queue(Reply.stream([chunk({"content": "y" * 60_000}) for _ in range(100)], done=False, hang=True))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    client = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    await client.send_all(post("/v1/messages", messages_body(stream=True)))
    await trio.sleep(0.3)  # not reading: the proxy is blocked writing to us
    server.shutdown()
    await trio.sleep(0.7)  # the grace period ends while the proxy is still blocked
    reader = RawHTTP(client)
    with trio.fail_after(10):
        status, _, body, _ = await reader.response()
    events = parse_events(body)
    check_grammar(events)
    assert status == 200 and events[-1][1]["error"]["type"] == "overloaded_error"
    await client.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_requests_waiting_for_the_upstream_at_the_end_of_the_grace_period_get_529(nursery, fake, stream):
    server, done = await run_server(nursery, fake, shutdown_grace=0.3)
    fake.queue(Reply(head_delay=30))

    async def shut_down_once_the_upstream_has_the_request():
        await fake.wait_for(lambda: len(fake.requests) == 1)
        server.shutdown()

    nursery.start_soon(shut_down_once_the_upstream_has_the_request)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{server.port}/v1/messages", json=messages_body(stream=stream))
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
    with trio.fail_after(5):
        await done.wait()
        await fake.wait_for(lambda: fake.disconnects == 1)
