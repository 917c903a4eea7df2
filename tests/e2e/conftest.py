"""End-to-end fixtures: a fake upstream and the proxy, both on 127.0.0.1 port 0,
in the test's own trio run. What tests call directly is in tests/support/."""

from __future__ import annotations

import logging

import pytest

from anthroproxy.testing.fake_upstream import FakeUpstream
from tests.support.http import RawHTTP
from tests.support.llama import started
from tests.support.proxy import close_sdk_clients, start_proxy


@pytest.fixture(autouse=True)
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="anthroproxy")


@pytest.fixture
async def fake(nursery) -> FakeUpstream:
    upstream = FakeUpstream()
    await nursery.start(upstream.serve)
    return upstream


@pytest.fixture
async def proxy(nursery, fake):
    return await start_proxy(nursery, fake)


@pytest.fixture
async def connect():
    """connect(port) -> RawHTTP; every connection is closed after the test."""
    opened: list[RawHTTP] = []

    async def open_one(port: int) -> RawHTTP:
        client = await RawHTTP.connect(port)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


@pytest.fixture(autouse=True)
def sdk_clients_closed():
    yield
    close_sdk_clients()


@pytest.fixture(scope="session")
def llama():
    """llama.cpp's server with the tiny model (tests/backends/tiny_model.py), for every test that wants it."""
    server = started("tiny", context=4096)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_think():
    """The same, with the model that reasons, and the server's reasoning parser on."""
    server = started("tiny-think", context=4096, extra=("--reasoning-format", "deepseek"))
    yield server
    server.stop()
