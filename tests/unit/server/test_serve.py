"""The HTTP shell on its own, over real sockets, serving a tiny application
that is not the proxy: what the application gets, what it answers, what the
shell refuses itself and hands to the application to render, keep-alive, a
client that leaves, the drain, the connection limit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import trio

from anthroproxy import server
from anthroproxy.server.serve import split_target
from tests.support.http import RawHTTP, get, post


def settings(**changes) -> server.HTTPSettings:
    values = dict(host="127.0.0.1", port=0, max_body_bytes=1024, max_header_bytes=4096, max_connections=16,
                  header_timeout=5.0, body_timeout=5.0, keepalive_timeout=5.0, shutdown_grace=5.0)
    return server.HTTPSettings(**{**values, **changes})


@dataclass
class EchoApp:
    """Answers a JSON echo of what it was given; ``/fail`` raises, ``/stream``
    streams, ``/wait`` waits for the upstream (an interruptible wait) until cut."""

    handled: list[server.Request] = field(default_factory=list)
    failures: list[tuple[server.Request, Exception]] = field(default_factory=list)
    done: list[server.Request] = field(default_factory=list)  # (finished)
    cut: list[Exception] = field(default_factory=list)
    waiting: trio.Event = field(default_factory=trio.Event)

    def handle(self, request: server.Request):
        self.handled.append(request)
        request.responder.headers.append(("x-app", "echo"))
        return getattr(self, request.path.strip("/") or "echo", self.echo)(request)

    async def echo(self, request: server.Request) -> None:
        body = json.dumps({"method": request.method, "path": request.path, "query": request.query,
                           "body": request.body.decode(), "header": request.headers.get("x-test")}).encode()
        await request.responder.send_body(200, body, "application/json")

    async def fail(self, request: server.Request) -> None:
        raise LookupError("the application's own failure")

    async def stream(self, request: server.Request) -> None:
        for piece in (b"data: one\n\n", b"data: two\n\n"):
            await request.responder.write(piece)
        await request.responder.end()

    async def wait(self, request: server.Request) -> None:
        self.waiting.set()
        try:
            with request.interrupter.guard():
                await trio.sleep_forever()
        except server.ShuttingDown as exc:
            self.cut.append(exc)
            await request.responder.send_body(503, b"cut", "text/plain")

    def failed(self, request: server.Request, error: Exception) -> server.ErrorResponse:
        self.failures.append((request, error))
        status = error.status if isinstance(error, server.HTTPError) else 500
        return server.ErrorResponse(status, json.dumps({"error": type(error).__name__}).encode(),
                                    headers=(("x-rendered-by", "app"),))

    def finished(self, request: server.Request) -> None:
        self.done.append(request)


async def start(nursery, app: EchoApp, **changes) -> server.Server:
    return await nursery.start(server.serve_http, settings(**changes), app)


async def finished(app: EchoApp, count: int) -> list[server.Request]:
    """The requests the shell has finished, once there are ``count`` (the client
    may read an answer before the shell has called ``finished``)."""
    with trio.fail_after(5):
        while len(app.done) < count:
            await trio.sleep(0.001)
    return app.done


async def test_the_application_gets_the_request_and_answers_it(nursery):
    app = EchoApp()
    srv = await start(nursery, app)
    client = await RawHTTP.connect(srv.port)
    await client.send(post("/echo?beta=true#frag", b"hello", [("x-test", "yes")]))
    status, headers, body, _ = await client.response()
    assert status == 200 and headers["x-app"] == "echo" and headers["content-type"] == "application/json"
    assert json.loads(body) == {"method": "POST", "path": "/echo", "query": "beta=true", "body": "hello",
                                "header": "yes"}
    await client.send(get("/echo"))  # the same connection: keep-alive
    assert (await client.response("GET"))[0] == 200
    assert await finished(app, 2) == app.handled and app.failures == []
    await client.aclose()


async def test_a_head_request_gets_the_head_alone(nursery):
    srv = await start(nursery, EchoApp())
    client = await RawHTTP.connect(srv.port)
    await client.send(b"HEAD /echo HTTP/1.1\r\nhost: x\r\n\r\n")
    status, headers, body, _ = await client.response("HEAD")
    assert status == 200 and int(headers["content-length"]) > 0 and body == b""
    await client.aclose()


async def test_a_failure_in_the_application_is_rendered_by_the_application(nursery):
    app = EchoApp()
    srv = await start(nursery, app)
    client = await RawHTTP.connect(srv.port)
    await client.send(get("/fail"))
    status, headers, body, _ = await client.response("GET")
    assert status == 500 and headers["x-rendered-by"] == "app" and headers["x-app"] == "echo"
    assert json.loads(body) == {"error": "LookupError"}
    (request, error), = app.failures
    assert isinstance(error, LookupError) and request.path == "/fail" and await finished(app, 1) == [request]
    await client.send(get("/echo"))  # the connection still serves
    assert (await client.response("GET"))[0] == 200
    await client.aclose()


@pytest.mark.parametrize(("raw", "refusal"), [
    (b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n", server.ContentTooLarge),
    (b"GARBAGE\r\n\r\n", server.BadRequest),
    (b"GET /echo HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 8000 + b"\r\n\r\n", server.HeadersTooLarge),
    (b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", server.BadRequest),
])
async def test_what_the_shell_refuses_itself_the_application_renders(nursery, raw, refusal):
    app = EchoApp()
    srv = await start(nursery, app)
    client = await RawHTTP.connect(srv.port)
    await client.send(raw)
    status, headers, _, _ = await client.response()
    assert status == refusal.status and headers["x-rendered-by"] == "app"
    (request, error), = app.failures
    assert type(error) is refusal and await finished(app, 1) == [request]
    await client.aclose()


async def test_a_head_too_slow_to_arrive_is_a_request_timeout(nursery, autojump_clock):
    app = EchoApp()
    srv = await start(nursery, app, header_timeout=2.0)
    client = await RawHTTP.connect(srv.port)
    await client.send(b"GET /echo HTTP/1.1\r\n")  # and no more
    status, _, _, _ = await client.response("GET")
    assert status == 408 and isinstance(app.failures[0][1], server.RequestTimeout)
    assert app.failures[0][0].method == "-"  # (refused before it could be read)
    await client.aclose()


async def test_a_stream_goes_out_chunked_as_server_sent_events(nursery):
    srv = await start(nursery, EchoApp())
    client = await RawHTTP.connect(srv.port)
    await client.send(get("/stream"))
    status, headers, body, _ = await client.response("GET")
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked" and body == b"data: one\n\ndata: two\n\n"
    await client.aclose()


async def test_a_client_that_leaves_cancels_its_request(nursery):
    app = EchoApp()
    srv = await start(nursery, app)
    client = await RawHTTP.connect(srv.port)
    await client.send(get("/wait"))
    await app.waiting.wait()
    await client.aclose()
    assert (await finished(app, 1))[0].client_gone and app.cut == [] and app.failures == []


async def test_the_drain_cuts_a_wait_for_the_upstream_once_the_grace_is_over(nursery, autojump_clock):
    app = EchoApp()
    srv = await start(nursery, app, shutdown_grace=3.0)
    client = await RawHTTP.connect(srv.port)
    await client.send(get("/wait"))
    await app.waiting.wait()
    srv.shutdown()
    status, headers, body, _ = await client.response("GET")
    assert status == 503 and body == b"cut" and headers["connection"] == "close"
    assert len(app.cut) == 1 and isinstance(app.cut[0], server.ShuttingDown)
    await srv.closed.wait()
    await client.aclose()


async def test_over_the_connection_limit_an_idle_connection_makes_room_else_the_newcomer_is_refused(nursery):
    app = EchoApp()
    srv = await start(nursery, app, max_connections=1)
    idle = await RawHTTP.connect(srv.port)
    await idle.send(get("/echo"))
    assert (await idle.response("GET"))[0] == 200  # now idle, kept alive
    busy = await RawHTTP.connect(srv.port)
    await busy.send(get("/wait"))
    await app.waiting.wait()
    assert await idle.is_closed_by_server()  # it made room
    newcomer = await RawHTTP.connect(srv.port)
    await newcomer.send(get("/echo"))
    status, _, _, _ = await newcomer.response("GET")
    assert status == server.Overloaded.status and isinstance(app.failures[-1][1], server.Overloaded)
    for client in (idle, busy, newcomer):
        await client.aclose()


def test_split_target_drops_the_fragment():
    assert split_target("/v1/models?limit=2&after_id=a#x") == ("/v1/models", "limit=2&after_id=a")
    assert split_target("/") == ("/", "")
