"""Instances that share what cools through a real Redis server (state_url), and
what happens when the server is away."""

from __future__ import annotations

import json
import os
import signal
import sys

import httpx
import pytest
import trio

from anthroproxy.state.admission import CREDITS
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply
from anthroproxy.upstream.balancer import rendezvous
from tests.backends.redis import RedisServer, RedisUnavailable, certificates
from tests.support.cli import start_cli, stop
from tests.support.proxy import post, proxy_for

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def redis(password: str | None = None) -> RedisServer:
    try:
        return RedisServer(password=password).start()
    except RedisUnavailable as exc:
        pytest.fail(f"a Redis server is needed for these tests and could not be had: {exc}")


@pytest.fixture
def store():
    server = redis()
    yield server
    server.stop()


async def upstreams(nursery) -> tuple[FakeUpstream, FakeUpstream]:
    found = FakeUpstream(), FakeUpstream()
    for fake in found:
        await nursery.start(fake.serve)
    return found


async def instance(nursery, tmp_path, name: str, primary: FakeUpstream, fallback: FakeUpstream, state_url: str):
    folder = tmp_path / name
    folder.mkdir()
    return await proxy_for(nursery, folder, f'''
state_url = "{state_url}"
[upstreams.main]
url = "{primary.url}"
api_key = "sk-main"
[upstreams.spare]
url = "{fallback.url}"
api_key = "sk-spare"
[models]
"claude-*" = {{ upstream = "main", target = "m1", fallbacks = [ "m2@spare" ] }}
''')


def rate_limited(seconds: int) -> Reply:
    """A 429 whose retry-after header says how long (not the default cooldown)."""
    return Reply.json({"error": {"message": "slow down", "type": "rate_limit_error"}}, status=429,
                      headers=[("retry-after", str(seconds))])


async def health(proxy) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{proxy.port}/health")).json()


async def test_a_429_seen_by_one_instance_cools_the_candidate_for_the_other_within_100_ms(nursery, tmp_path, store):
    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, store.url)
    two = await instance(nursery, tmp_path, "two", primary, fallback, store.url)
    assert (await health(one))["state"] == "ok" and (await health(two))["state"] == "ok"
    primary.queue(rate_limited(20))
    assert (await post(one, BODY)).status_code == 200  # (from the fallback)
    seen = trio.current_time()
    with trio.fail_after(0.1):
        while (await health(two))["upstreams"]["main"]["state"] != "cooling":
            await trio.sleep(0.002)
    assert trio.current_time() - seen < 0.1
    assert (await post(two, BODY)).status_code == 200
    assert len(primary.requests) == 1 and len(fallback.requests) == 2
    cooling = (await health(two))["upstreams"]["main"]["cooling_s"]
    assert 15 < next(iter(cooling.values())) <= 20


async def configured(nursery, tmp_path, name: str, toml: str, state_url: str):
    folder = tmp_path / name
    folder.mkdir()
    return await proxy_for(nursery, folder, f'state_url = "{state_url}"\n{toml}')


async def test_a_key_revoked_for_one_instance_is_never_tried_by_the_other(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    toml = f'''
[upstreams.pool]
url = "{fake.url}"
api_key = ["sk-one", "sk-two"]
[models]
"claude-*" = "m1@pool"
'''
    one = await configured(nursery, tmp_path, "one", toml, store.url)
    two = await configured(nursery, tmp_path, "two", toml, store.url)
    fake.queue(Reply.error(401, "invalid key", "authentication_error"))
    assert (await post(one, BODY)).status_code == 200
    revoked, good = (r.headers["authorization"] for r in fake.requests)
    await trio.sleep(0.1)
    for _ in range(4):  # (the keys take turns: without the news, two of these would go with the revoked key)
        assert (await post(two, BODY)).status_code == 200
    assert [r.headers["authorization"] for r in fake.requests[2:]] == [good] * 4


async def test_a_field_one_instance_found_refused_is_left_out_by_the_other(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    toml = f'''
[upstreams.openai]
url = "{fake.url}"
[models]
"claude-*" = "gpt-5-chat-latest@openai"
'''
    one = await configured(nursery, tmp_path, "one", toml, store.url)
    two = await configured(nursery, tmp_path, "two", toml, store.url)
    fake.queue(Reply.error(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model."))
    thinking = {**BODY, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert (await post(one, thinking)).status_code == 200
    await trio.sleep(0.1)
    assert (await post(two, thinking)).status_code == 200
    assert [r.json.get("reasoning_effort") for r in fake.requests] == ["low", None, None]


async def test_a_model_one_instance_found_only_on_responses_is_asked_there_by_the_other(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    toml = f'''
[upstreams.openai]
url = "{fake.url}"
[models]
"claude-*" = "gpt-5-codex@openai"
'''
    one = await configured(nursery, tmp_path, "one", toml, store.url)
    two = await configured(nursery, tmp_path, "two", toml, store.url)
    fake.queue(Reply.error(404, "This model is only supported in v1/responses and not in v1/chat/completions."))
    assert (await post(one, BODY)).status_code == 200
    await trio.sleep(0.1)
    assert (await post(two, BODY)).status_code == 200
    assert [r.path for r in fake.requests] == ["/v1/chat/completions", "/v1/responses", "/v1/responses"]


async def test_an_instance_that_starts_later_reads_what_cools_already(nursery, tmp_path, store):
    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, store.url)
    primary.queue(rate_limited(30))
    assert (await post(one, BODY)).status_code == 200
    await trio.sleep(0.05)
    late = await instance(nursery, tmp_path, "late", primary, fallback, store.url)
    assert (await health(late))["upstreams"]["main"]["state"] == "cooling"


async def test_without_the_store_the_proxy_serves_on_its_own_and_catches_up_when_it_returns(nursery, tmp_path,
                                                                                          caplog):
    server = RedisServer()  # (not started yet)
    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, server.url)
    assert (await health(one))["state"] == "unavailable"
    assert (await post(one, BODY)).status_code == 200
    warnings = [r for r in caplog.records if "state backend" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    server.start()
    try:
        with trio.fail_after(10):
            while (await health(one))["state"] != "ok":
                await trio.sleep(0.05)
        server.stop()  # (lost mid-run)
        with trio.fail_after(10):
            while (await health(one))["state"] != "unavailable":
                assert (await post(one, BODY)).status_code == 200
                await trio.sleep(0.05)
        with trio.fail_after(1):
            assert (await post(one, BODY)).status_code == 200
    finally:
        server.stop()


async def test_a_wrong_password_is_one_error_line_and_no_password_anywhere(nursery, tmp_path, caplog):
    server = redis(password="right-horse-battery")
    try:
        primary, fallback = await upstreams(nursery)
        good = await instance(nursery, tmp_path, "good", primary, fallback, server.url)
        bad_url = server.url.replace("right-horse-battery", "wrong-staple")
        bad = await instance(nursery, tmp_path, "bad", primary, fallback, bad_url)
        assert (await health(good))["state"] == "ok"
        assert (await health(bad))["state"] == "unavailable" and (await post(bad, BODY)).status_code == 200
        errors = [r for r in caplog.records if r.levelname == "ERROR" and "password" in r.getMessage()]
        assert len(errors) == 1
        shown = caplog.text + json.dumps(await health(good)) + json.dumps(await health(bad))
        assert "right-horse-battery" not in shown and "wrong-staple" not in shown
    finally:
        server.stop()


async def test_over_tls_instances_share_and_a_certificate_that_cannot_be_verified_is_a_store_away(
        nursery, tmp_path, caplog):
    folder = tmp_path / "tls"
    folder.mkdir()
    try:
        server = RedisServer(password="tls-horse-battery", tls=certificates(folder)).start()
    except RedisUnavailable as exc:
        pytest.fail(f"a Redis server with TLS is needed for this test and could not be had: {exc}")
    try:
        primary, fallback = await upstreams(nursery)
        one = await instance(nursery, tmp_path, "one", primary, fallback, server.url)
        two = await instance(nursery, tmp_path, "two", primary, fallback, server.url)
        assert server.url.startswith("rediss://") and (await health(two))["state"] == "ok"
        primary.queue(rate_limited(30))
        assert (await post(one, BODY)).status_code == 200
        with trio.fail_after(1):
            while (await health(two))["upstreams"]["main"]["state"] != "cooling":
                await trio.sleep(0.005)
        # (Without ssl_ca_certs, the system's authorities, which never signed the test's certificate.)
        doubting = await instance(nursery, tmp_path, "doubting", primary, fallback, server.url.partition("?")[0])
        assert (await health(doubting))["state"] == "unavailable" and (await post(doubting, BODY)).status_code == 200
        assert any(r.levelname == "WARNING" and "certificate" in r.getMessage() for r in caplog.records), caplog.text
        assert "tls-horse-battery" not in caplog.text
    finally:
        server.stop()


async def test_with_two_workers_a_429_seen_by_one_cools_the_candidate_for_the_other(nursery, tmp_path, store):
    primary, fallback = await upstreams(nursery)
    (tmp_path / "proxy.toml").write_text(f'''
[upstreams.main]
url = "{primary.url}"
[upstreams.spare]
url = "{fallback.url}"
[models]
"claude-*" = {{ upstream = "main", target = "m1", fallbacks = [ "m2@spare" ] }}
''')
    cli = await start_cli(nursery, "--config", str(tmp_path / "proxy.toml"), "--port", "0", "--workers", "2",
                          "--state-url", store.url, "--log-level", "INFO")
    try:
        primary.queue(rate_limited(30))
        for _ in range(10):  # (new connections: each lands on either worker)
            async with httpx.AsyncClient() as client:
                answer = await client.post(f"http://127.0.0.1:{cli.port}/v1/messages", json=BODY)
            assert answer.status_code == 200
            await trio.sleep(0.1)
        assert len(primary.requests) == 1 and len(fallback.requests) == 10
    finally:
        assert await stop(cli) == 0
    assert "sk-" not in cli.log and store.url not in cli.log


async def test_the_same_conversation_lands_on_the_same_replica_from_either_instance(nursery, tmp_path, store):
    replicas = await upstreams(nursery)
    toml = f'''
[upstreams.local]
url = ["{replicas[0].url}", "{replicas[1].url}"]
[models]
"claude-*" = "qwen@local"
'''
    one = await configured(nursery, tmp_path, "one", toml, store.url)
    two = await configured(nursery, tmp_path, "two", toml, store.url)
    urls = (replicas[0].url, replicas[1].url)
    homes = [rendezvous(f"session:{s}", urls) for s in map(str, range(100))]
    sessions = [str(n) for n, home in enumerate(homes) if home == urls[0]][:4] + \
        [str(n) for n, home in enumerate(homes) if home == urls[1]][:4]  # (conversations of both replicas)
    served = []
    for session in sessions:
        for proxy in (one, two, one, two):
            before = [len(r.requests) for r in replicas]
            assert (await post(proxy, BODY, headers={"x-claude-code-session-id": session})).status_code == 200
            served.append((session, [len(r.requests) for r in replicas] != [before[0] + 1, before[1]]))
    for session in sessions:
        assert len({second for s, second in served if s == session}) == 1  # four turns, one replica
    assert {second for _, second in served} == {True, False}  # (and the conversations use both)


def limited(fake: FakeUpstream, **limits: int) -> str:
    settings = "\n".join(f"{name} = {value}" for name, value in limits.items())
    return f'''
[upstreams.main]
url = "{fake.url}"
[models]
"claude-*" = "m1@main"
[clients.alice]
key = "alice-key"
models = ["claude-*"]
{settings}
[clients.bob]
key = "bob-key"
'''


ALICE = {"x-api-key": "alice-key"}


async def test_rpm_lets_exactly_its_count_through_across_two_instances(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    one = await configured(nursery, tmp_path, "one", limited(fake, rpm=10), store.url)
    two = await configured(nursery, tmp_path, "two", limited(fake, rpm=10), store.url)
    statuses = []

    async def ask(proxy) -> None:
        statuses.append((await post(proxy, BODY, headers=ALICE)).status_code)

    async with trio.open_nursery() as burst:
        for index in range(20):
            burst.start_soon(ask, (one, two)[index % 2])
    assert sorted(statuses) == [200] * 10 + [429] * 10
    assert len(fake.requests) == 10
    refused = await post(two, BODY, headers=ALICE)
    assert refused.status_code == 429 and refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    streamed = await post(one, {**BODY, "stream": True}, headers=ALICE)  # (refused before any event)
    assert streamed.status_code == 429 and streamed.json()["error"]["type"] == "rate_limit_error"


async def test_tokens_per_minute_and_the_daily_budget_hold_across_instances(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)  # (each answer: 10 tokens in, 5 out)
    one = await configured(nursery, tmp_path, "one", limited(fake, tpm=40), store.url)
    two = await configured(nursery, tmp_path, "two", limited(fake, tpm=40), store.url)
    for proxy in (one, two, one):
        assert (await post(proxy, BODY, headers=ALICE)).status_code == 200
        await trio.sleep(0.05)  # (what a request spent is written after it)
    refused = await post(two, BODY, headers=ALICE)
    assert refused.status_code == 429 and "40 tokens per minute" in refused.json()["error"]["message"]

    three = await configured(nursery, tmp_path, "three", limited(fake, daily_tokens=30), store.url.removesuffix("/0") + "/1")
    four = await configured(nursery, tmp_path, "four", limited(fake, daily_tokens=30), store.url.removesuffix("/0") + "/1")
    for proxy in (three, four):
        assert (await post(proxy, BODY, headers=ALICE)).status_code == 200
        await trio.sleep(0.05)
    refused = await post(three, BODY, headers=ALICE)
    assert refused.status_code == 429 and "resets at 00:00 UTC" in refused.json()["error"]["message"]


async def test_usage_shows_every_instances_requests(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    one = await configured(nursery, tmp_path, "one", limited(fake), store.url)
    two = await configured(nursery, tmp_path, "two", limited(fake), store.url)
    for proxy, key in ((one, "alice-key"), (two, "alice-key"), (two, "bob-key")):
        assert (await post(proxy, BODY, headers={"x-api-key": key})).status_code == 200
    await trio.sleep(0.1)
    async with httpx.AsyncClient() as client:
        mine = (await client.get(f"http://127.0.0.1:{one.port}/v1/usage", headers=ALICE)).json()["data"]
    assert [(row["client"], row["requests"], row["input_tokens"], row["output_tokens"]) for row in mine] == [
        ("alice", 2, 20, 10)]
    (tmp_path / "team.toml").write_text(f'state_url = "${{TEAM_STATE}}"\n{limited(fake)}')
    printed = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--config",
                                      str(tmp_path / "team.toml")], env={**os.environ, "TEAM_STATE": store.url},
                                     capture_stdout=True)
    lines = printed.stdout.decode().splitlines()
    assert lines[0].split()[:5] == ["date", "client", "model", "upstream", "requests"]
    assert sorted(line.split()[1:5] for line in lines[1:]) == [["alice", "claude-sonnet-4-6", "main", "2"],
                                                               ["bob", "claude-sonnet-4-6", "main", "1"]]
    store.stop()
    gone = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--config",
                                   str(tmp_path / "team.toml")], env={**os.environ, "TEAM_STATE": store.url},
                                  capture_stderr=True, check=False)
    assert gone.returncode == 1 and b"cannot read the state backend" in gone.stderr


async def test_a_store_that_hangs_or_dies_never_holds_a_limited_clients_request(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    one = await configured(nursery, tmp_path, "one", limited(fake, rpm=3), store.url)
    assert (await post(one, BODY, headers=ALICE)).status_code == 200
    store.process.send_signal(signal.SIGSTOP)  # (answers nothing, closes nothing)
    try:
        with trio.fail_after(2):  # (without the bound on the wait, this would hang)
            assert (await post(one, BODY, headers=ALICE)).status_code == 200
    finally:
        store.process.send_signal(signal.SIGCONT)
    store.stop()
    with trio.fail_after(2):
        assert (await post(one, BODY, headers=ALICE)).status_code == 200
        assert (await post(one, BODY, headers=ALICE)).status_code == 429  # (this process's own count: 3 a minute)
    assert (await health(one))["state"] == "unavailable"


async def test_with_two_workers_rpm_lets_exactly_its_count_through(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    (tmp_path / "proxy.toml").write_text(limited(fake, rpm=10))
    cli = await start_cli(nursery, "--config", str(tmp_path / "proxy.toml"), "--port", "0", "--workers", "2",
                          "--state-url", store.url, "--log-level", "INFO")
    statuses, pids = [], set()

    async def ask() -> None:
        async with httpx.AsyncClient() as client:  # (a connection each: the kernel spreads them over the workers)
            answer = await client.post(f"http://127.0.0.1:{cli.port}/v1/messages", json=BODY, headers=ALICE)
            statuses.append(answer.status_code)
            pids.add((await client.get(f"http://127.0.0.1:{cli.port}/health")).json()["pid"])

    try:
        async with trio.open_nursery() as burst:
            for _ in range(20):
                burst.start_soon(ask)
    finally:
        assert await stop(cli) == 0
    assert sorted(statuses) == [200] * 10 + [429] * 10 and len(pids) == 2
    assert "alice-key" not in cli.log


async def test_what_an_instance_learned_while_the_store_was_away_reaches_the_others_when_it_returns(
        nursery, tmp_path):
    server = RedisServer()  # (not started yet)
    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, server.url)
    two = await instance(nursery, tmp_path, "two", primary, fallback, server.url)
    primary.queue(rate_limited(60))
    assert (await post(one, BODY)).status_code == 200  # (learned while the store is away)
    assert (await health(two))["upstreams"]["main"]["state"] == "ok"
    server.start()
    try:
        with trio.fail_after(15):  # (the instances reconnect with backoff)
            while (await health(two))["upstreams"]["main"]["state"] != "cooling":
                await trio.sleep(0.05)
        assert (await health(one))["state"] == (await health(two))["state"] == "ok"
    finally:
        server.stop()


async def test_a_request_refused_for_its_body_or_model_is_not_counted_against_rpm(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    one = await configured(nursery, tmp_path, "one", limited(fake, rpm=2), store.url)
    for bad in (b"{not json", json.dumps({**BODY, "max_tokens": "many"}).encode(), {**BODY, "model": "gpt-4o"}):
        assert (await post(one, bad, headers=ALICE)).status_code in (400, 403)
    await trio.sleep(0.05)  # (taken back by the writer)
    assert [(await post(one, BODY, headers=ALICE)).status_code for _ in range(3)] == [200, 200, 429]


async def requests_counted(store: RedisServer, client: str) -> int:
    import coredis

    async with coredis.Redis.from_url(store.url) as redis:
        return await redis.zcard(f"anthroproxy:limits:{client}:requests")


async def test_far_from_its_rpm_a_client_is_admitted_on_credits_and_never_past_it(nursery, tmp_path, store):
    fake, _ = await upstreams(nursery)
    one = await configured(nursery, tmp_path, "one", limited(fake, rpm=100), store.url)
    two = await configured(nursery, tmp_path, "two", limited(fake, rpm=100), store.url)
    assert (await post(one, BODY, headers=ALICE)).status_code == 200
    assert await requests_counted(store, "alice") == 1 + CREDITS  # (counted ahead: the next ones ask nobody)
    statuses = []

    async def ask(proxy) -> None:
        statuses.append((await post(proxy, BODY, headers=ALICE)).status_code)

    async with trio.open_nursery() as burst:
        for index in range(160):
            burst.start_soon(ask, (one, two)[index % 2])
    admitted = 1 + statuses.count(200)
    assert 100 - 2 * CREDITS <= admitted <= 100 and await requests_counted(store, "alice") <= 100
    assert set(statuses) == {200, 429}


async def dashboard_snapshot(proxy) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", f"http://127.0.0.1:{proxy.port}/dashboard/events") as answer:
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    return json.loads(line[6:])
    raise AssertionError("no snapshot")


async def session_totals(proxy, session: str) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(f"http://127.0.0.1:{proxy.port}/v1/sessions/{session}")).json()


async def test_the_dashboard_and_the_sessions_count_every_instance_and_each_alone_while_the_store_is_away(
        nursery, tmp_path):
    server = redis()
    try:
        primary, fallback = await upstreams(nursery)
        one = await instance(nursery, tmp_path, "one", primary, fallback, server.url)
        two = await instance(nursery, tmp_path, "two", primary, fallback, server.url)
        session = {"x-claude-code-session-id": "one-session-two-instances"}
        for proxy, count in ((one, 3), (two, 2)):
            for _ in range(count):
                assert (await post(proxy, BODY, headers=session)).status_code == 200
        with trio.fail_after(10):  # (the others share theirs once told that someone watches: a second or two)
            while True:
                shown = await dashboard_snapshot(one)
                totals = [await session_totals(proxy, session["x-claude-code-session-id"]) for proxy in (one, two)]
                if (shown["processes"] == 2 and len(shown["recent"]) == 5
                        and [found.get("requests") for found in totals] == [5, 5]):
                    break
                await trio.sleep(0.2)
        assert sum(shown["traffic"]["requests"]) * 10 == pytest.approx(5)
        assert totals[0]["output_tokens"] == totals[1]["output_tokens"] > 0
        assert len({row["request_id"] for row in shown["recent"]}) == 5  # (each request once)
        server.stop()  # (away: each instance shows its own figures)
        with trio.fail_after(10):
            while (await health(one))["state"] != "unavailable":
                await trio.sleep(0.05)
        with trio.fail_after(3):  # (the snapshot of the second before may be served still)
            while (alone := await dashboard_snapshot(one))["processes"] != 1:
                await trio.sleep(0.2)
        assert len(alone["recent"]) == 3
        assert (await session_totals(two, session["x-claude-code-session-id"]))["requests"] == 2
    finally:
        server.stop()


async def test_news_an_instance_does_not_understand_leaves_it_connected(nursery, tmp_path, store, caplog):
    """An instance of another version may publish what this one does not know
    (a rolling upgrade): it is passed over, not a reason to reconnect."""
    import coredis

    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, store.url)
    async with coredis.Redis.from_url(store.url) as redis:
        for channel in ("anthroproxy:learned", "anthroproxy:dashboard"):
            for news in ('{"what": "is this"}', "[1, 2, 3]", "not json", '{"watching": []}'):
                await redis.publish(channel, news)
    await trio.sleep(0.3)
    assert (await health(one))["state"] == "ok"
    assert not [r for r in caplog.records if "state backend" in r.getMessage() and r.levelname != "DEBUG"]
    primary.queue(rate_limited(20))  # (and it still hears what it does understand)
    two = await instance(nursery, tmp_path, "two", primary, fallback, store.url)
    assert (await post(two, BODY)).status_code == 200
    with trio.fail_after(1):
        while (await health(one))["upstreams"]["main"]["state"] != "cooling":
            await trio.sleep(0.01)


async def test_a_gone_instances_share_leaves_the_dashboard_and_then_the_store(nursery, tmp_path, store, monkeypatch):
    """A share that stops changing (its instance stopped) is left out after 3 s
    by this instance's own clock, and taken out of the store after FORGET_S."""
    import coredis

    from anthroproxy.state import fleet

    monkeypatch.setattr(fleet, "FORGET_S", 5.0)
    primary, fallback = await upstreams(nursery)
    one = await instance(nursery, tmp_path, "one", primary, fallback, store.url)
    await instance(nursery, tmp_path, "two", primary, fallback, store.url)
    ghost = {"at": 1.0, "active_streams": 0, "seconds": [], "minutes": [], "recent": []}  # (its clock is wrong, too)
    async with coredis.Redis.from_url(store.url, decode_responses=True) as redis:
        await redis.hset("anthroproxy:dashboard:parts", {"ghost": json.dumps(ghost), "odd": '{"at": "x"}'})
        seen = []
        with trio.fail_after(12):
            while not seen or seen[-1] != 2 or await redis.hexists("anthroproxy:dashboard:parts", "ghost"):
                seen.append((await dashboard_snapshot(one))["processes"])
                await trio.sleep(0.25)
    assert 3 in seen  # (new to this instance: shown until it has not changed for 3 s)


async def test_sessions_counted_while_the_store_was_away_reach_it_when_it_returns(nursery, tmp_path):
    from anthroproxy.state import fleet

    server = RedisServer()  # (not started yet)
    try:
        primary, fallback = await upstreams(nursery)
        one = await instance(nursery, tmp_path, "one", primary, fallback, server.url)
        count = fleet.SHARES_PER_CALL + 44  # (more than one write carries)
        async with httpx.AsyncClient(timeout=10) as client:
            for index in range(count):
                answer = await client.post(f"http://127.0.0.1:{one.port}/v1/messages", json=BODY,
                                           headers={"x-api-key": "client-key", "x-claude-code-session-id": f"s{index}"})
                assert answer.status_code == 200
        server.start()
        two = await instance(nursery, tmp_path, "two", primary, fallback, server.url)
        with trio.fail_after(10):
            for index in (0, count // 2, count - 1):
                while (await session_totals(two, f"s{index}")).get("requests") != 1:
                    await trio.sleep(0.1)
    finally:
        server.stop()
