"""The proxy in a test's own trio run, and the official Python SDK pointed at it."""

from __future__ import annotations

import anthropic
import trio

from anthroproxy import Config, serve
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
