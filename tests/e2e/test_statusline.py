"""``anthroproxy statusline`` as Claude Code runs it: the JSON it documents on
stdin, the proxy found from ANTHROPIC_BASE_URL with the key Claude Code sends;
and the per-session totals behind it, across workers too."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import FakeUpstream, Reply
from tests.backends.redis import RedisServer, RedisUnavailable
from tests.support.cli import start_cli, stop
from tests.support.proxy import post, proxy_for

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def claude_codes_input(session: str) -> str:
    """The object Claude Code writes to a statusLine command's stdin (its documented fields)."""
    return json.dumps({
        "hook_event_name": "Status", "session_id": session, "transcript_path": "/tmp/transcript.jsonl",
        "cwd": "/work", "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": "/work", "project_dir": "/work"}, "version": "2.1.0",
        "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 0.01, "total_duration_ms": 1000, "total_api_duration_ms": 500,
                 "total_lines_added": 0, "total_lines_removed": 0},
    })


async def statusline(session: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("ANTHROPIC_")}
    return await trio.run_process([sys.executable, "-m", "anthroproxy", "statusline", *args],
                                  stdin=claude_codes_input(session).encode(), capture_stdout=True,
                                  capture_stderr=True, env={**clean, **env}, check=False)


async def test_the_status_line_shows_the_sessions_target_tokens_and_failovers(nursery, tmp_path):
    main, spare = FakeUpstream(), FakeUpstream()
    for fake in (main, spare):
        await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
auth_token = "team-token"
[upstreams.main]
url = "{main.url}"
[upstreams.spare]
url = "{spare.url}"
[models]
"claude-*" = {{ upstream = "main", target = "m1", fallbacks = [ "m2@spare" ] }}
''')
    session = {"x-claude-code-session-id": "5f0c6c7e-1c1b-4c43-9f0e-2a0f1e3d9a11", "x-api-key": "team-token"}
    main.queue(Reply.error(503, "down", "server_error"))
    for _ in range(3):
        assert (await post(proxy, BODY, headers=session)).status_code == 200
    assert (await post(proxy, BODY, headers={"x-api-key": "team-token"})).status_code == 200  # (no session)
    env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{proxy.port}", "ANTHROPIC_AUTH_TOKEN": "team-token"}
    shown = await statusline(session["x-claude-code-session-id"], env)
    assert shown.returncode == 0 and shown.stderr == b""
    line = shown.stdout.decode().strip()
    # Three answers of 10 input and 5 output tokens each; the first failed over from main to the spare, where
    # the others went while main cooled.
    assert line == "m2@spare · 30 in (0% cached) · 15 out · 1 failover", line
    other = await statusline("another-session", env)
    assert other.stdout.decode().strip() == "anthroproxy · Sonnet 4.5 · no requests yet"
    refused = await statusline(session["x-claude-code-session-id"], {**env, "ANTHROPIC_AUTH_TOKEN": "wrong"})
    assert refused.returncode == 0 and "401" in refused.stdout.decode()


async def test_without_a_proxy_the_status_line_prints_a_hint_and_exits_0():
    with trio.socket.socket() as probe:  # (a port nobody listens on)
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shown = await statusline("s", {}, "--url", f"http://127.0.0.1:{port}")
    assert shown.returncode == 0 and shown.stdout.decode().strip() == f"anthroproxy: no proxy at http://127.0.0.1:{port}"


async def test_a_clients_key_sees_only_its_own_sessions(nursery, tmp_path):
    fake = FakeUpstream()
    await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
target_url = "{fake.url}/v1"
[clients.alice]
key = "alice-key"
[clients.bob]
key = "bob-key"
''')
    assert (await post(proxy, BODY, headers={"x-api-key": "alice-key", "x-claude-code-session-id": "s-a"})
            ).status_code == 200
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{proxy.port}/v1/sessions/s-a"
        own = await client.get(url, headers={"x-api-key": "alice-key"})
        other = await client.get(url, headers={"x-api-key": "bob-key"})
    assert own.status_code == 200 and own.json()["requests"] == 1
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found_error"
    # Bob sending Alice's session id counts in a session of his own: hers is not his to add to or read.
    assert (await post(proxy, BODY, headers={"x-api-key": "bob-key", "x-claude-code-session-id": "s-a"})
            ).status_code == 200
    async with httpx.AsyncClient() as client:
        hers = await client.get(url, headers={"x-api-key": "alice-key"})
        his = await client.get(url, headers={"x-api-key": "bob-key"})
    assert hers.json()["requests"] == 1 and hers.json()["client"] == "alice"
    assert his.json()["requests"] == 1 and his.json()["client"] == "bob"


async def test_a_session_id_too_long_or_strange_is_not_kept_and_never_a_500(nursery, tmp_path):
    fake = FakeUpstream()
    await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'target_url = "{fake.url}/v1"\n')
    huge = "s" * 129
    assert (await post(proxy, BODY, headers={"x-claude-code-session-id": huge})).status_code == 200
    async with httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{proxy.port}/v1/sessions/"
        kept = await client.get(base + huge)
        odd = [await client.get(base + path) for path in ("%ED%A0%80", "%00", "a/b", "x" * 5000)]
    assert kept.status_code == 404
    assert [answer.status_code for answer in odd] == [404] * 4, [answer.text for answer in odd]


@pytest.mark.parametrize("shared_through", ["their folder", "a state backend"])
async def test_with_workers_the_dashboard_and_the_sessions_count_every_worker(nursery, shared_through):
    fake = FakeUpstream()
    await nursery.start(fake.serve)
    store = None
    if shared_through == "a state backend":
        try:
            store = RedisServer().start()
        except RedisUnavailable as exc:
            pytest.fail(f"a Redis server is needed for this test and could not be had: {exc}")
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url, "--log-level", "INFO",
                          *(["--state-url", store.url] if store else []))
    base = f"http://127.0.0.1:{cli.port}"
    try:
        pids = set()
        for _ in range(12):  # (a connection each: spread over the workers)
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(f"{base}/v1/messages", json=BODY,
                                           headers={"x-claude-code-session-id": "shared-session"})
                assert answer.status_code == 200
                pids.add((await client.get(f"{base}/health")).json()["pid"])
        assert len(pids) == 2
        with trio.fail_after(10):
            while True:
                async with httpx.AsyncClient(timeout=10) as client:
                    totals = (await client.get(f"{base}/v1/sessions/shared-session")).json()
                    async with client.stream("GET", f"{base}/dashboard/events") as events:
                        async for line in events.aiter_lines():
                            if line.startswith("data: "):
                                snapshot = json.loads(line[6:])
                                break
                if totals.get("requests") == 12 and snapshot["processes"] == 2 and len(snapshot["recent"]) == 12:
                    break
                await trio.sleep(0.2)
        if store is not None:  # (the figures went through the store: a share each, one session)
            import coredis

            async with coredis.Redis.from_url(store.url, decode_responses=True) as redis:
                assert await redis.hlen("anthroproxy:dashboard:parts") >= 1
                assert len(await redis.keys("anthroproxy:session:*")) == 1
    finally:
        assert await stop(cli) == 0
        if store is not None:
            store.stop()
