"""Several upstreams over real sockets: routes by model and by what a request
needs, failover before any content, cooling, key pools, replicas and sticky
conversations, with three fake upstreams configured as a user writes it."""

from __future__ import annotations

import json
import logging

import anthropic
import httpx
import pytest
import trio

from anthroproxy import serve
from anthroproxy.config import load_config
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, chunk, completion, error_chunk, text_chunks
from anthroproxy.upstream.balancer import rendezvous
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.proxy import in_thread, sdk

ASK = [{"role": "user", "content": "hi"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.fixture
async def fakes(nursery) -> dict[str, FakeUpstream]:
    started = {}
    for name in ("main", "spare", "local"):
        started[name] = FakeUpstream()
        await nursery.start(started[name].serve)
    return started


def unused_url() -> str:
    """A URL nothing listens on: connections are refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


async def proxy_with(nursery, tmp_path, toml: str, environ: dict | None = None, **flags):
    path = tmp_path / "proxy.toml"
    path.write_text(toml)
    argv = ["--config", str(path), "--port", "0", *(f"--{k.replace('_', '-')}={v}" for k, v in flags.items())]
    return await nursery.start(serve, load_config(argv, environ or {}, None))


def config(fakes, models: str, extra: str = "") -> str:
    return f"""
target_url = "{fakes['main'].url}"
default_model = "main-model"

[upstreams.spare]
url = "{fakes['spare'].url}"

[upstreams.local]
url = "{fakes['local'].url}"
{extra}
[models]
{models}
"""


def create(proxy, **kwargs):
    return lambda: sdk(proxy).messages.create(**{"model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK,
                                                 **kwargs})


def final(proxy, **kwargs):
    def run():
        with sdk(proxy).messages.stream(**{"model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK,
                                           **kwargs}) as stream:
            return stream.get_final_message()
    return run


def served(fake: FakeUpstream) -> list[str]:
    return [request.json["model"] for request in fake.requests]


SONNET_WITH_SPARE = '''"claude-sonnet-*" = { target = "main-model", fallbacks = [ { upstream = "spare", target = "spare-model" } ] }'''


# ---- routes -----------------------------------------------------------------------------------


async def test_each_model_goes_to_its_upstream_as_its_target(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-haiku-*" = { upstream = "local", target = "qwen3:8b" }
"claude-sonnet-*" = "deepseek-chat@spare"
"claude-3" = "gpt-4o"'''))
    for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-3-opus", "claude-other"):
        message = await in_thread(create(proxy, model=model))
        assert message.model == model
    assert (served(fakes["local"]), served(fakes["spare"]), served(fakes["main"])) == (
        ["qwen3:8b"], ["deepseek-chat"], ["gpt-4o", "main-model"])


async def test_scenario_routes_the_first_that_applies_wins(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
[models."claude-sonnet-*"]
target = "plain"
thinking = { target = "thinker" }
images = { upstream = "local", target = "seer" }
web_search = { upstream = "spare", target = "searcher" }
long_context = { over = 1000, upstream = "spare", target = "long" }'''))
    image = [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                       "data": PNG}}, {"type": "text", "text": "?"}]}]
    asks = [{}, {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000},
            {"messages": image, "thinking": {"type": "adaptive"}},
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            {"messages": [{"role": "user", "content": "many words " * 500}], "thinking": {"type": "adaptive"}}]
    for ask in asks:
        await in_thread(create(proxy, **ask))
    assert served(fakes["main"]) == ["plain", "thinker"]
    assert served(fakes["local"]) == ["seer"] and served(fakes["spare"]) == ["searcher", "long"]


async def test_the_access_log_and_the_metrics_say_which_route(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = { target = "plain", thinking = { upstream = "local", target = "thinker" } }'''))
    await in_thread(create(proxy, thinking={"type": "adaptive"}))
    with trio.fail_after(5):  # (the line is written once the answer went out: the client may be quicker)
        while not (logged := [r.access for r in caplog.records
                              if getattr(r, "access", None) and r.access["path"] == "/v1/messages"]):
            await trio.sleep(0.01)
    (record,) = logged
    assert (record["model_route"], record["upstream"], record["target"]) == ("thinking", "local", "thinker")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{proxy.port}/metrics")).text
    assert 'anthroproxy_routes_total{model_route="thinking",upstream="local"} 1.0' in text
    assert 'anthroproxy_upstream_requests_total{outcome="ok",upstream="local"} 1.0' in text


# ---- failover ---------------------------------------------------------------------------------


def with_head_delay(reply: Reply, seconds: float) -> Reply:
    return Reply(**{**vars(reply), "head_delay": seconds})


TRIGGERS = {
    **{f"HTTP {status}": (lambda status=status: Reply.error(status, f"failure {status}"))
       for status in (408, 429, 500, 502, 503, 504, 529)},
    "an error before content": lambda: Reply.stream([chunk({"role": "assistant"}), error_chunk("engine died", 500)],
                                                    done=False),
    "a stream cut before content": lambda: Reply.stream([chunk({"role": "assistant"})], done=False, cut=True),
    "an empty answer": lambda: Reply.json(completion(None)),
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
@pytest.mark.parametrize("run", [create, final], ids=["json", "stream"])
async def test_each_failure_before_content_moves_to_the_fallback(nursery, tmp_path, fakes, trigger, run, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    failure = TRIGGERS[trigger]()
    if run is create and failure.frames:  # (a JSON request gets the same fault as a JSON answer)
        failure = Reply.error(502, "bad gateway")
    fakes["main"].queue(failure)
    message = await in_thread(run(proxy))
    assert message.content[0].text.startswith("Hello from anthroproxy's fake upstream")
    assert served(fakes["main"]) == ["main-model"] and served(fakes["spare"]) == ["spare-model"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("failing over from main-model@default" in w and "to spare-model@spare" in w for w in warnings)


@pytest.mark.parametrize("run", [create, final], ids=["json", "stream"])
async def test_connection_failures_and_timeouts_move_on(nursery, tmp_path, fakes, run):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = { target = "m", upstream = "down", fallbacks = [
    { upstream = "slow", target = "m" }, { upstream = "spare", target = "spare-model" } ] }''', f'''
[upstreams.down]
url = "{unused_url()}"

[upstreams.slow]
url = "{fakes['local'].url}"
read_timeout = 0.3
'''))
    def too_late(request) -> Reply:
        answer = Reply.stream(text_chunks(["too late"])) if request.json.get("stream") else Reply.json(
            completion("too late"))
        return with_head_delay(answer, 5)

    fakes["local"].default = too_late
    message = await in_thread(run(proxy))
    assert message.content[0].text.startswith("Hello from") and served(fakes["spare"]) == ["spare-model"]


async def test_a_stream_whose_pings_went_out_still_moves_before_content(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), ping_interval=0.1)
    fakes["main"].queue(with_head_delay(Reply.error(503, "busy"), 0.5))
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages",
                                     json={"model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK, "stream": True})
    events = parse_events(response.content)
    check_grammar(events)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "ping"] and names.count("message_start") == 1
    assert text_of(events).startswith("Hello from") and names[-1] == "message_stop"


async def test_no_failover_once_content_went_out(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.stream([chunk({"content": "half an ans"}), error_chunk("engine died", 500)], done=False))
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages",
                                     json={"model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK, "stream": True})
    events = parse_events(response.content)
    check_grammar(events)
    assert text_of(events) == "half an ans" and events[-1][0] == "error"
    assert fakes["spare"].requests == []  # never replayed elsewhere


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_the_clients_mistakes_do_not_move_on(nursery, tmp_path, fakes, status):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.error(status, "your mistake"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == status and fakes["spare"].requests == []


async def test_a_failed_candidate_cools_and_is_tried_again_after_it(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), failover_cooldown=0.5)
    fakes["main"].queue(Reply.error(503, "busy"))
    for _ in range(3):
        await in_thread(create(proxy))
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 3)  # skipped while it cools
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"http://127.0.0.1:{proxy.port}/health")).json()["upstreams"]
    assert health["spare"] == {"state": "ok"} and health["default"]["state"] == "cooling"
    assert 0 < health["default"]["cooling_s"]["main-model"] <= 0.5
    await trio.sleep(0.6)
    await in_thread(create(proxy))
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (2, 3)


async def test_a_429_cools_for_its_retry_after(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), failover_cooldown=0.1,
                             api_key="sk-main-key")
    fakes["main"].queue(Reply.json({"error": {"message": "slow down"}}, status=429, headers=[("retry-after", "1")]))
    await in_thread(create(proxy))
    await trio.sleep(0.3)  # past the cooldown, not past the retry-after
    await in_thread(create(proxy))
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 2)


async def test_a_429_to_the_clients_own_key_moves_on_but_cools_nothing(nursery, tmp_path, fakes):
    """With no key configured each client brings its own: one client's rate
    limit says nothing about the next client's, who still gets the primary."""
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.json({"error": {"message": "slow down"}}, status=429, headers=[("retry-after", "60")]))
    await in_thread(create(proxy))
    await in_thread(lambda: sdk(proxy, api_key="sk-another-user").messages.create(
        model="claude-sonnet-4", max_tokens=50, messages=ASK))
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (2, 1)
    assert fakes["main"].requests[1].headers["authorization"] == "Bearer sk-another-user"


async def test_when_every_candidate_is_down_the_client_gets_the_last_failure(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = { target = "a", fallbacks = [ "b@spare", "c@local" ] }'''))
    fakes["main"].queue(Reply.json({"error": {"message": "a is busy"}}, status=429, headers=[("retry-after", "20")]))
    fakes["spare"].queue(Reply.json({"error": {"message": "b is busy"}}, status=429, headers=[("retry-after", "3")]))
    fakes["local"].queue(Reply.error(503, "c is down"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 503 and "c is down" in caught.value.message
    assert "retry-after" not in caught.value.response.headers  # a 503 says nothing of when to come back
    assert [len(f.requests) for f in fakes.values()] == [1, 1, 1]  # each at most once: no loop


async def test_when_the_last_failure_is_a_429_it_carries_the_soonest_retry_after(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = { target = "a", fallbacks = [ "b@spare", "c@local" ] }'''))
    fakes["main"].queue(Reply.json({"error": {"message": "a is busy"}}, status=429, headers=[("retry-after", "3")]))
    fakes["spare"].queue(Reply.error(503, "b is down"))
    fakes["local"].queue(Reply.json({"error": {"message": "c is busy"}}, status=429, headers=[("retry-after", "20")]))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await in_thread(create(proxy))
    assert caught.value.response.headers["retry-after"] == "3" and "c is busy" in caught.value.message


async def test_when_all_cool_the_first_to_recover_is_tried_rather_than_none(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), failover_cooldown=60)
    fakes["main"].queue(Reply.error(503, "down"))
    fakes["spare"].queue(Reply.json({"error": {"message": "busy"}}, status=429, headers=[("retry-after", "2")]))
    with pytest.raises(anthropic.RateLimitError):
        await in_thread(create(proxy))
    message = await in_thread(create(proxy))  # both cool: spare (2 s) before main (60 s)
    assert message.content and (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 2)


# ---- keys and replicas --------------------------------------------------------------------------


def keys_config(fakes) -> str:
    return config(fakes, '"claude-sonnet-*" = "ds-model@pool"', f'''
[upstreams.pool]
url = "{fakes['spare'].url}"
api_keys = ["${{KEY_1}}", "${{KEY_2}}"]
headers = {{ "X-Title" = "my-team" }}
''')


async def test_a_key_pool_is_taken_in_turn_with_the_upstreams_headers(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes), {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    for _ in range(4):
        await in_thread(create(proxy))
    requests = fakes["spare"].requests
    assert [r.headers["authorization"] for r in requests] == ["Bearer sk-one", "Bearer sk-two"] * 2
    assert all(r.headers["x-title"] == "my-team" for r in requests)


async def test_a_refused_key_is_taken_out_and_the_next_key_answers(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes), {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    fakes["spare"].queue(Reply.error(401, "invalid key", "authentication_error"))
    for _ in range(3):
        await in_thread(create(proxy))
    assert [r.headers["authorization"] for r in fakes["spare"].requests] == [
        "Bearer sk-one", "Bearer sk-two", "Bearer sk-two", "Bearer sk-two"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused key 1 of upstream pool" in errors[0] and "sk-one" not in errors[0]


async def test_a_401_with_no_other_key_is_the_clients_answer(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.error(401, "invalid key", "authentication_error"))
    with pytest.raises(anthropic.AuthenticationError):
        await in_thread(create(proxy))
    assert fakes["spare"].requests == []  # a key problem: not the fallback's business
    await in_thread(create(proxy))  # the key was the client's own: nothing cools for the next client
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (2, 0)


async def test_an_upstream_key_refused_with_no_other_key_is_taken_out(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE, '[upstreams.default]\napi_key = "sk-main"\n'))
    fakes["main"].queue(Reply.error(401, "invalid key", "authentication_error"))
    with pytest.raises(anthropic.AuthenticationError):
        await in_thread(create(proxy))
    await in_thread(create(proxy))  # the proxy's own key is bad: the fallback answers meanwhile
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused key 1 of upstream default" in errors[0] and "sk-main" not in errors[0]


def replicas_config(fakes) -> str:
    return config(fakes, '"claude-sonnet-*" = "qwen@replicas"', f'''
[upstreams.replicas]
url = ["{fakes['spare'].url}", "{fakes['local'].url}"]
''')


async def test_a_conversation_leaves_its_replica_when_that_one_is_clearly_busier(nursery, tmp_path, fakes):
    """One replica holds slow answers. New conversations that belong to it
    (their rendezvous choice) go there until it has BUSIER_BY more requests in
    flight than the other; then to the other."""
    proxy = await proxy_with(nursery, tmp_path, replicas_config(fakes))
    fakes["spare"].default = lambda request: with_head_delay(Reply.json(completion("slow")), 30)
    url = f"http://127.0.0.1:{proxy.port}/v1/messages"
    urls = (fakes["local"].url, fakes["spare"].url)
    sessions = [s for s in map(str, range(200)) if rendezvous(f"session:{s}", urls) == fakes["spare"].url][:4]
    async with httpx.AsyncClient(timeout=10) as client:
        async with trio.open_nursery() as requests:
            for index, session in enumerate(sessions):
                answered = trio.Event()

                async def ask(session=session, answered=answered) -> None:
                    await client.post(url, json={"model": "claude-sonnet-4", "max_tokens": 5, "messages": ASK},
                                      headers={"x-claude-code-session-id": session})
                    answered.set()

                local_before = len(fakes["local"].requests)
                requests.start_soon(ask)
                with trio.fail_after(5):
                    while len(fakes["spare"].requests) + len(fakes["local"].requests) <= index:
                        await trio.sleep(0.01)  # (either replica may take it: no single fake to wait on)
                    if len(fakes["local"].requests) > local_before:
                        await answered.wait()
            assert (len(fakes["spare"].requests), len(fakes["local"].requests)) == (2, 2)
            requests.cancel_scope.cancel()


async def test_a_conversation_sticks_to_its_replica(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, replicas_config(fakes))
    turns = [{"role": "user", "content": "first question"}]
    used = []
    for turn in range(3):
        await in_thread(create(proxy, messages=turns, extra_headers={"x-claude-code-session-id": "s-1"}))
        used.append("spare" if fakes["spare"].requests and len(fakes["spare"].requests) > used.count("spare")
                    else "local")
        turns = [*turns, {"role": "assistant", "content": "an answer"}, {"role": "user", "content": f"turn {turn}"}]
    assert len(set(used)) == 1  # every turn on the replica of the first
    fakes[used[0]].queue(Reply.error(503, "down"))  # that replica fails: the conversation moves, and stays moved
    await in_thread(create(proxy, messages=turns, extra_headers={"x-claude-code-session-id": "s-1"}))
    await in_thread(create(proxy, messages=turns, extra_headers={"x-claude-code-session-id": "s-1"}))
    other = "local" if used[0] == "spare" else "spare"
    assert len(fakes[other].requests) == 2 and len(fakes[used[0]].requests) == 4


async def test_a_refused_key_then_a_rate_limited_one_moves_to_the_fallback(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes).replace(
        '"ds-model@pool"', '"ds-model@pool|spare-model@local"'), {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    fakes["spare"].queue(Reply.error(401, "invalid key", "authentication_error"))
    fakes["spare"].queue(Reply.json({"error": {"message": "slow down"}}, status=429))
    message = await in_thread(create(proxy))
    assert message.content[0].text.startswith("Hello from")
    assert [r.headers["authorization"] for r in fakes["spare"].requests] == ["Bearer sk-one", "Bearer sk-two"]
    assert served(fakes["local"]) == ["spare-model"]


async def test_after_a_refused_key_its_choice_comes_first_then_the_route_in_order(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes).replace(
        '"ds-model@pool"', '"first@pool|second@local|third@pool"'), {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    fakes["spare"].queue(Reply.error(401, "invalid key", "authentication_error"))
    fakes["spare"].queue(Reply.error(503, "busy"))
    await in_thread(create(proxy))
    assert (served(fakes["spare"]), served(fakes["local"])) == (["first", "first"], ["second"])


async def test_when_every_key_is_refused_the_client_gets_the_401(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes).replace(
        '"ds-model@pool"', '"first@pool|second@local"'), {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    for _ in range(2):
        fakes["spare"].queue(Reply.error(401, "invalid key", "authentication_error"))
    with pytest.raises(anthropic.AuthenticationError):
        await in_thread(create(proxy))
    assert len(fakes["spare"].requests) == 2 and fakes["local"].requests == []
    await in_thread(create(proxy))  # both keys are out: the rest of the route answers meanwhile
    assert served(fakes["local"]) == ["second"]


async def test_a_403_takes_a_key_out_for_that_model_only(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = "main-model|spare-model@spare"
"claude-haiku-*" = "small"'''), api_key="sk-main-key")
    fakes["main"].queue(Reply.error(403, "this key has no access to main-model", "permission_error"))
    with pytest.raises(anthropic.PermissionDeniedError):
        await in_thread(create(proxy))
    await in_thread(create(proxy))
    await in_thread(create(proxy, model="claude-haiku-4"))
    assert (served(fakes["main"]), served(fakes["spare"])) == (["main-model", "small"], ["spare-model"])
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "not used for main-model for an hour" in errors[0]


async def test_a_credential_in_a_header_refused_is_taken_out_like_a_key(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "m@azure|spare-model@spare"', f'''
[upstreams.azure]
url = "{fakes['local'].url}"
headers = {{ "api-key" = "azure-secret-value" }}
'''))
    fakes["local"].queue(Reply.error(401, "Access denied due to invalid subscription key", "authentication_error"))
    with pytest.raises(anthropic.AuthenticationError):
        await in_thread(create(proxy))
    await in_thread(create(proxy))  # the proxy's credential, not the client's: the fallback answers meanwhile
    assert (len(fakes["local"].requests), served(fakes["spare"])) == (1, ["spare-model"])
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused its credential of upstream azure" in errors[0]


async def test_a_silent_replica_is_tried_once_whatever_its_keys(nursery, tmp_path, fakes):
    """Three keys on two replicas are six candidates; the one that does not
    answer in time is one URL, and the next key would meet the same silence."""
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "m@replicas"', f'''
[upstreams.replicas]
url = ["{fakes['spare'].url}", "{fakes['local'].url}"]
api_keys = ["k-one-1234", "k-two-1234", "k-three-12"]
read_timeout = 0.3
'''))
    fakes["spare"].default = lambda request: with_head_delay(Reply.json(completion("too late")), 5)
    urls = (fakes["spare"].url, fakes["local"].url)
    session = next(s for s in map(str, range(100)) if rendezvous(f"session:{s}", urls) == fakes["spare"].url)
    for _ in range(2):  # (a conversation whose replica is the silent one)
        message = await in_thread(create(proxy, extra_headers={"x-claude-code-session-id": session}))
        assert message.content[0].text.startswith("Hello from")
    assert (len(fakes["spare"].requests), len(fakes["local"].requests)) == (1, 2)


async def test_a_replica_that_failed_cools_alone(nursery, tmp_path, fakes):
    """A 503 from one replica sends the next request to the other replica of the
    same upstream, not to the route's fallback."""
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "qwen@replicas|spare@default"', f'''
[upstreams.replicas]
url = ["{fakes['spare'].url}", "{fakes['local'].url}"]
'''))
    fakes["spare"].queue(Reply.error(503, "one replica is down"))
    urls = (fakes["spare"].url, fakes["local"].url)
    sessions = [s for s in map(str, range(200)) if rendezvous(f"session:{s}", urls) == fakes["spare"].url][:3]
    for session in sessions:  # (new conversations whose home is the replica that fails)
        await in_thread(create(proxy, extra_headers={"x-claude-code-session-id": session}))
    assert (len(fakes["spare"].requests), len(fakes["local"].requests), len(fakes["main"].requests)) == (1, 3, 0)


async def test_a_failure_after_content_is_counted_and_cools(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.stream([chunk({"content": "half"}), error_chunk("engine died", 500)], done=False))
    async with httpx.AsyncClient(timeout=10) as client:
        url = f"http://127.0.0.1:{proxy.port}"
        first = await client.post(f"{url}/v1/messages", json={"model": "claude-sonnet-4", "max_tokens": 50,
                                                              "messages": ASK, "stream": True})
        assert parse_events(first.content)[-1][0] == "error" and fakes["spare"].requests == []
        await client.post(f"{url}/v1/messages", json={"model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK})
        metrics = (await client.get(f"{url}/metrics")).text
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 1)  # the main one cools meanwhile
    assert 'anthroproxy_upstream_requests_total{outcome="in_stream",upstream="default"} 1.0' in metrics


async def test_an_error_code_4xx_inside_the_stream_does_not_move_on(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE))
    fakes["main"].queue(Reply.stream([chunk({"role": "assistant"}), error_chunk("prompt too long", 400)], done=False))
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json={
            "model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK, "stream": True})
    events = parse_events(response.content)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "invalid_request_error"
    assert fakes["spare"].requests == []


async def test_a_402_to_a_configured_key_moves_on_and_takes_the_key_out(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), api_key="sk-main-key")
    fakes["main"].queue(Reply.error(402, "insufficient balance"))
    for _ in range(2):
        assert (await in_thread(create(proxy))).content
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (1, 2)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused key 1 of upstream default" in errors[0]


async def test_a_request_flagged_by_moderation_is_the_clients_answer_and_cools_nothing(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, SONNET_WITH_SPARE), api_key="sk-main-key")
    fakes["main"].queue(Reply.error(403, "Your request was flagged by our moderation system"))
    with pytest.raises(anthropic.PermissionDeniedError):
        await in_thread(create(proxy))
    await in_thread(create(proxy))  # the key is fine: the next request uses it
    assert (len(fakes["main"].requests), len(fakes["spare"].requests)) == (2, 0)


async def test_a_key_in_a_header_replaces_the_clients_and_never_shows(nursery, tmp_path, fakes, caplog):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "m@azure"', f'''
[upstreams.azure]
url = "{fakes['spare'].url}"
headers = {{ "api-key" = "azure-secret-value", "Authorization" = "Bearer sk-configured-bearer" }}
'''))
    fakes["spare"].queue(Reply.error(500, "bad api-key azure-secret-value; token sk-configured-bearer"))
    with pytest.raises(anthropic.InternalServerError) as caught:
        await in_thread(create(proxy))
    await in_thread(create(proxy))
    shown = caught.value.message + caplog.text
    assert "azure-secret-value" not in shown and "sk-configured-bearer" not in shown and "[redacted]" in shown
    sent = fakes["spare"].requests[-1].headers
    assert (sent["authorization"], sent["api-key"]) == ("Bearer sk-configured-bearer", "azure-secret-value")
    assert "client-key" not in str(fakes["spare"].requests[0].headers)  # the client's key never goes there


async def test_health_shows_upstreams_only_with_the_token_and_no_credentials_in_urls(nursery, tmp_path, fakes):
    spare, local = (fakes[name].url.replace("http://", "http://user:s3cret@") for name in ("spare", "local"))
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "m@replicas"', f'''
[upstreams.replicas]
url = ["{spare}", "{local}"]
'''), auth_token="proxy-token")
    fakes["spare"].queue(Reply.error(503, "down"))
    session = next(s for s in map(str, range(100)) if rendezvous(f"session:{s}", (spare, local)) == spare)
    async with httpx.AsyncClient(timeout=10) as client:
        url = f"http://127.0.0.1:{proxy.port}"
        await client.post(f"{url}/v1/messages", headers={"x-api-key": "proxy-token", "x-claude-code-session-id": session},
                          json={"model": "claude-sonnet-4", "max_tokens": 5, "messages": ASK})  # (to the spare first)
        anonymous = (await client.get(f"{url}/health")).json()
        known = (await client.get(f"{url}/health", headers={"authorization": "Bearer proxy-token"})).json()
    assert anonymous["status"] == "ok" and "upstreams" not in anonymous
    shown = json.dumps(known["upstreams"])
    assert known["upstreams"]["replicas"]["state"] == "cooling"
    assert "user" not in shown and "s3cret" not in shown and f"m at {fakes['spare'].url}" in shown


async def cut_by_silence(proxy, upstream: FakeUpstream) -> list:
    """A stream whose upstream sends one chunk and then nothing: its events,
    which must end within 5 s (no ping or global limit comes sooner)."""
    upstream.queue(Reply.stream([chunk({"role": "assistant", "content": "one "})], done=False, hang=True))
    async with httpx.AsyncClient(timeout=10) as client:
        with trio.fail_after(5):
            response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json={
                "model": "claude-sonnet-4", "max_tokens": 50, "messages": ASK, "stream": True})
    return parse_events(response.content)


async def test_an_upstreams_read_timeout_applies_in_the_middle_of_a_stream(nursery, tmp_path, fakes):
    """And the silence cools that model alone: the replica did answer."""
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-sonnet-*" = "m@slow|spare-model@spare"
"claude-haiku-*" = "other@slow|other@spare"''', f'''
[upstreams.slow]
url = "{fakes['local'].url}"
read_timeout = 0.3
'''), upstream_read_timeout=60, ping_interval=30)  # (neither a ping nor the global limit comes within 5 s)
    events = await cut_by_silence(proxy, fakes["local"])
    assert text_of(events) == "one " and events[-1][0] == "error" and "0.3 s" in events[-1][1]["error"]["message"]
    await in_thread(create(proxy, model="claude-haiku-4"))
    await in_thread(create(proxy))
    assert (served(fakes["local"]), served(fakes["spare"])) == (["m", "other"], ["spare-model"])


async def test_after_a_failover_the_next_upstreams_read_timeout_holds(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-sonnet-*" = "m@spare|m@slow"', f'''
[upstreams.slow]
url = "{fakes['local'].url}"
read_timeout = 0.3
'''), upstream_read_timeout=60, ping_interval=30)
    fakes["spare"].queue(with_head_delay(Reply.error(503, "busy"), 0.1))  # (the watcher is waiting by then)
    events = await cut_by_silence(proxy, fakes["local"])
    assert text_of(events) == "one " and "0.3 s" in events[-1][1]["error"]["message"]


# ---- the rest follows the route -----------------------------------------------------------------


async def test_the_refused_field_memory_is_per_upstream_and_model(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-haiku-*" = "same-name@local"
"claude-sonnet-*" = "same-name"'''))
    history = [{"role": "user", "content": "x"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                                 {"type": "text", "text": "y"}]},
               {"role": "user", "content": "z"}]
    fakes["local"].queue(Reply.error(400, "'reasoning_content' was unexpected"))
    for model in ("claude-haiku-4", "claude-haiku-4", "claude-sonnet-4"):
        await in_thread(create(proxy, model=model, messages=history))
    local = [r.json["messages"][1] for r in fakes["local"].requests]
    assert ["reasoning_content" in m for m in local] == [True, False, False]
    assert "reasoning_content" in fakes["main"].requests[0].json["messages"][1]  # the other upstream still gets it


async def test_count_tokens_upstream_asks_the_routed_upstream(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '"claude-haiku-*" = "small@local"'),
                             count_tokens="upstream")
    fakes["local"].queue(Reply.json({"count": 77}))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens",
                                     json={"model": "claude-haiku-4", "messages": ASK})
    assert response.json() == {"input_tokens": 77}
    assert fakes["local"].requests[0].path == "/tokenize" and fakes["main"].requests == []


async def test_models_lists_every_routed_name(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, config(fakes, '''
"claude-haiku-4-5" = { upstream = "local", target = "qwen3:8b", display_name = "Qwen (as Haiku)" }
"claude-sonnet-4-6" = "deepseek-chat@spare|qwen3:32b@local"
"claude-*" = "anything"'''))
    async with httpx.AsyncClient() as client:
        listed = (await client.get(f"http://127.0.0.1:{proxy.port}/v1/models")).json()["data"]
    assert [(m["id"], m["display_name"]) for m in listed] == [
        ("claude-haiku-4-5", "Qwen (as Haiku)"), ("claude-sonnet-4-6", "Claude Sonnet 4.6 (deepseek-chat)")]


async def test_an_upstream_without_a_key_passes_the_clients_key(nursery, tmp_path, fakes):
    proxy = await proxy_with(nursery, tmp_path, keys_config(fakes) + '"claude-haiku-*" = "small@local"\n',
                             {"KEY_1": "sk-one", "KEY_2": "sk-two"})
    await in_thread(lambda: sdk(proxy, api_key="sk-client").messages.create(
        model="claude-haiku-4", max_tokens=5, messages=ASK))
    await in_thread(lambda: sdk(proxy, api_key="sk-client").messages.create(
        model="claude-sonnet-4", max_tokens=5, messages=ASK))
    assert fakes["local"].requests[0].headers["authorization"] == "Bearer sk-client"
    assert fakes["spare"].requests[0].headers["authorization"] == "Bearer sk-one"


async def test_a_single_url_set_up_is_one_candidate(nursery, fake):
    """No [upstreams], no fallbacks: a failure is the client's answer, as it always was."""
    from tests.support.proxy import start_proxy

    proxy = await start_proxy(nursery, fake)
    fake.queue(Reply.error(503, "down"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await in_thread(create(proxy))
    assert caught.value.status_code == 503 and len(fake.requests) == 1
    message = await in_thread(create(proxy))  # (cooling never stops the only candidate)
    assert message.content and len(fake.requests) == 2
