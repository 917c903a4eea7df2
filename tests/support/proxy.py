"""The proxy in a test's own trio run, and the official Python SDK pointed at it."""

from __future__ import annotations

import json

import anthropic
import httpx
import trio

from anthroproxy import Config, serve
from anthroproxy.config import load_config
from anthroproxy.testing.fake_upstream import FakeUpstream


async def start_proxy(nursery, fake: FakeUpstream, **overrides):
    """The proxy on 127.0.0.1, port 0, in front of ``fake``; ``overrides`` are Config fields."""
    options = {"port": 0, "target_url": fake.url, "model_mapping": "claude-3:gpt-4o", "default_model": "fake-default"}
    return await nursery.start(serve, Config(**{**options, **overrides}))


_sdk_clients: list[anthropic.Anthropic] = []


def sdk(server, **kwargs) -> anthropic.Anthropic:
    """The official Python SDK pointed at the proxy (closed after the test by the
    e2e conftest's fixture). Use it from a thread (``in_thread``)."""
    options = {"base_url": f"http://127.0.0.1:{server.port}", "api_key": "client-key", "max_retries": 0, "timeout": 20}
    client = anthropic.Anthropic(**{**options, **kwargs})
    _sdk_clients.append(client)
    return client


def close_sdk_clients() -> None:
    while _sdk_clients:
        _sdk_clients.pop().close()


async def in_thread(fn, *args):
    return await trio.to_thread.run_sync(fn, *args)


async def proxy_for(nursery, tmp_path, toml: str, **variables: str):
    """The proxy, configured by a config file as a user writes it."""
    (tmp_path / "proxy.toml").write_text(toml)
    config = load_config(["--config", str(tmp_path / "proxy.toml"), "--port", "0", "--log-level", "DEBUG"],
                         variables, None)
    return await nursery.start(serve, config)


async def access_record(caplog) -> dict:
    """The request's access record (written once the answer ended: the client may have it first)."""
    with trio.fail_after(5):
        while not (records := [r.access for r in caplog.records if getattr(r, "access", None)]):
            await trio.sleep(0.01)
    (record,) = records
    return record


async def post(proxy, body: bytes | dict, *, headers: dict | None = None, path: str = "/v1/messages",
               stream: bool = False) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.post(f"http://127.0.0.1:{proxy.port}{path}", content=content, headers={
            "content-type": "application/json", "x-api-key": "client-key", "anthropic-version": "2023-06-01",
            **(headers or {})})
