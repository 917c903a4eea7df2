"""A client slower than its stream: a proxy whose writes block on the client
must not take that for an upstream gone silent."""

from __future__ import annotations

import socket

import trio

from anthroproxy import Config, serve
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, text_chunks
from tests.support.events import parse_events, text_of


async def test_a_slow_client_is_not_a_silent_upstream(nursery):
    """The upstream sends its whole answer at once; the client takes longer
    than the upstream read timeout to read it. The stream must end whole,
    not with a timeout the upstream did nothing to earn."""
    fake = FakeUpstream()
    await nursery.start(fake.serve)
    proxy = await nursery.start(serve, Config(port=0, target_url=fake.url, upstream_read_timeout=0.3))
    pieces = ["x" * 4000] * 2000  # 8 MB of text: more than the sockets between proxy and client hold
    fake.queue(Reply.stream(text_chunks(pieces)))
    client = socket.create_connection(("127.0.0.1", proxy.port))
    body = b'{"model": "claude-3-5-haiku", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    client.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n"
                   b"content-length: %d\r\n\r\n%b" % (len(body), body))
    await trio.sleep(1.0)  # reading nothing meanwhile: the proxy's writes block
    client.setblocking(False)
    received = bytearray()
    with trio.fail_after(20):
        while True:
            await trio.lowlevel.wait_readable(client)
            data = client.recv(1 << 20)
            if not data:
                break
            received.extend(data)
    client.close()
    head, _, chunked = bytes(received).partition(b"\r\n\r\n")
    decoded = b"".join(chunked.split(b"\r\n")[1::2])  # (the chunk payloads, between their size lines)
    events = parse_events(decoded)
    assert events[-1][0] == "message_stop" and text_of(events) == "".join(pieces)
