"""Access control, upstream TLS, and secrets kept out of every log line."""

from __future__ import annotations

import json
import logging
import ssl

import httpx
import pytest
import trio
import trustme

from anthroproxy import Config, serve
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, chunk, completion, text_chunks
from tests.support.http import messages_body
from tests.support.proxy import start_proxy

TOKEN = "proxy-token-5f2c"


async def ask(port: int, headers: dict | None = None, *, stream: bool = False, path: str = "/v1/messages"):
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"http://127.0.0.1:{port}{path}", json=messages_body(stream=stream),
                                 headers=headers or {})


# ---- the proxy's own token -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"x-api-key": "wrong"}, 401),
        ({"authorization": f"Bearer {TOKEN}x"}, 401),
        ({"authorization": TOKEN}, 401),  # not a bearer token
        ({"x-api-key": TOKEN}, 200),
        ({"authorization": f"Bearer {TOKEN}"}, 200),
    ],
)
async def test_auth_token_is_required_when_set(nursery, fake, headers, status):
    proxy = await start_proxy(nursery, fake, auth_token=TOKEN)
    response = await ask(proxy.port, headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["type"] == "authentication_error"
        assert fake.requests == []


async def test_health_stays_open_and_the_token_never_goes_upstream(nursery, fake):
    proxy = await start_proxy(nursery, fake, auth_token=TOKEN)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{proxy.port}/health")).status_code == 200
    await ask(proxy.port, {"x-api-key": TOKEN})
    assert "authorization" not in fake.requests[-1].headers  # no upstream key configured: none sent
    keyed = await start_proxy(nursery, fake, auth_token=TOKEN, api_key="sk-upstream")
    await ask(keyed.port, {"authorization": f"Bearer {TOKEN}"})
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-upstream"


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_cookie_set_for_one_user_never_goes_back_with_anothers_request(proxy, fake, stream):
    """Pass-through mode: each user brings their own key, and the proxy keeps no upstream cookies."""
    set_cookie = [("set-cookie", "__cf_bm=user-a-session; Path=/; HttpOnly"), ("set-cookie", "sid=a; Path=/v1")]
    first = Reply.stream(text_chunks(["hi"])) if stream else Reply.json(completion("hi"))
    fake.queue(Reply(**{**vars(first), "headers": [*first.headers, *set_cookie]}))
    await ask(proxy.port, {"x-api-key": "sk-user-a"}, stream=stream)
    await ask(proxy.port, {"x-api-key": "sk-user-b"}, stream=stream)
    await ask(proxy.port, {"x-api-key": "sk-user-a"}, stream=stream)
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer sk-user-a", "Bearer sk-user-b",
                                                                   "Bearer sk-user-a"]
    assert all("cookie" not in r.headers for r in fake.requests), [r.headers for r in fake.requests]


async def serve_on(nursery, **overrides):
    done = trio.Event()

    async def run(task_status=trio.TASK_STATUS_IGNORED):
        await serve(Config(port=0, **overrides), task_status=task_status)
        done.set()

    return await nursery.start(run)


async def test_listening_beyond_loopback_without_a_token_warns(nursery, caplog):
    await serve_on(nursery, host="0.0.0.0")
    assert any("listening on 0.0.0.0 without --auth-token" in r.getMessage() for r in caplog.records)
    caplog.clear()
    await serve_on(nursery, host="0.0.0.0", auth_token=TOKEN)
    await serve_on(nursery, host="127.0.0.1")
    assert not any("without --auth-token" in r.getMessage() for r in caplog.records)


# ---- upstream TLS --------------------------------------------------------------------------------


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


async def tls_upstream(nursery, authority: trustme.CA) -> FakeUpstream:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    upstream = FakeUpstream()
    await nursery.start(lambda task_status: upstream.serve(tls=context, task_status=task_status))
    return upstream


async def test_upstream_certificates_are_verified_by_default(nursery, authority):
    upstream = await tls_upstream(nursery, authority)
    proxy = await start_proxy(nursery, upstream)
    response = await ask(proxy.port)
    assert response.status_code == 502 and "CERTIFICATE_VERIFY_FAILED" in response.json()["error"]["message"]
    assert upstream.requests == []


async def test_a_ca_bundle_given_by_flag_is_trusted(nursery, authority, tmp_path):
    upstream = await tls_upstream(nursery, authority)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    proxy = await start_proxy(nursery, upstream, ca_bundle=str(bundle))
    upstream.queue(Reply.stream(text_chunks(["over TLS"])))
    response = await ask(proxy.port, stream=True)
    assert response.status_code == 200 and b"over TLS" in response.content
    assert upstream.url.startswith("https://")


async def test_ssl_cert_file_is_honoured(nursery, authority, tmp_path, monkeypatch):
    upstream = await tls_upstream(nursery, authority)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    proxy = await start_proxy(nursery, upstream)
    assert (await ask(proxy.port)).status_code == 200


async def test_tls_to_a_plain_http_server_is_502(nursery, fake):
    proxy = await start_proxy(nursery, fake, target_url=fake.url.replace("http://", "https://"))
    response = await ask(proxy.port)
    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"


# ---- secrets in logs -----------------------------------------------------------------------------

SECRETS = ("sk-UPSTREAM-0a1b", "sk-CLIENT-2c3d", "BEARER-4e5f", TOKEN)


async def test_no_secret_in_any_log_line_at_any_level(nursery, fake, caplog, connect):
    """A full run at DEBUG through every path that touches a credential."""
    caplog.set_level(logging.DEBUG)  # every logger: anthroproxy, httpx, httpcore, trio
    upstream_key, client_key, bearer, _ = SECRETS
    keyed = await start_proxy(nursery, fake, api_key=upstream_key)
    passthrough = await start_proxy(nursery, fake)
    guarded = await start_proxy(nursery, fake, auth_token=TOKEN)
    credentials = {"x-api-key": client_key, "authorization": f"Bearer {bearer}"}
    fake.queue(
        Reply.stream(text_chunks(["ok"])),
        Reply.error(401, f"Incorrect API key provided: {upstream_key}"),
        Reply.error(401, f"Incorrect API key provided: {client_key}"),
        Reply.stream([chunk({"content": "a"}), {"error": {"message": f"key {client_key} revoked"}}], done=False),
    )
    for proxy, stream in ((keyed, True), (keyed, False), (passthrough, False), (passthrough, True)):
        await ask(proxy.port, credentials, stream=stream)
    for headers in ({"x-api-key": "wrong"}, {"x-api-key": TOKEN}, {"authorization": f"Bearer {TOKEN}"}):
        await ask(guarded.port, headers)
    raw = await connect(keyed.port)  # a malformed head carrying a key
    await raw.send(b"POST /v1/messages HTTP/1.1\r\nhost: t\r\nx-api-key : " + client_key.encode() + b"\r\n\r\n")
    await raw.response()
    await ask(keyed.port, credentials, path="/v1/nowhere")
    text = caplog.text + "\n".join(json.dumps(r.args, default=str) for r in caplog.records)
    assert len(caplog.records) > 20
    for secret in SECRETS:
        assert secret not in text, secret
