"""Graceful drain: Server.shutdown() (what SIGINT/SIGTERM trigger in the CLI)."""

import httpx
import pytest
import trio

from anthroproxy import Config, serve
from anthroproxy.fake_upstream import Reply, chunk, text_chunks
from tests.e2e.conftest import get, messages_body
from tests.helpers import check_grammar, parse_events, text_of


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
        with trio.fail_after(10):
            await done.wait()
    events = parse_events(b"".join(received))
    check_grammar(events)
    assert text_of(events) == "".join(f"w{i} " for i in range(20))
    assert events[-1][0] == "message_stop"
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", server.port)


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
