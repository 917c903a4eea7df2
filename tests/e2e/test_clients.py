"""Client keys ([clients]): who may call, for which models, within which limits; and their usage."""

from __future__ import annotations

import json
import os
import sys

import httpx
import trio

from tests.support.proxy import post, proxy_for

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


async def team(nursery, fake, tmp_path, clients: str, *, token: str = ""):
    return await proxy_for(nursery, tmp_path, f'''
target_url = "{fake.url}"
api_key = "sk-upstream"
{f'auth_token = "{token}"' if token else ""}
{clients}
''', ALICE_KEY="sk-alice")


def key(value: str) -> dict[str, str]:
    return {"x-api-key": value}


async def test_an_unknown_key_is_refused_and_a_known_one_goes_with_the_upstreams_key(nursery, fake, tmp_path,
                                                                                     caplog):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "${ALICE_KEY}"\n')
    for headers in (key("sk-carol"), key(""), {"x-api-key": "", "authorization": "Bearer sk-alice-not"}):
        refused = await post(proxy, BODY, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert not fake.requests
    answered = await post(proxy, BODY, headers={"x-api-key": "", "authorization": "Bearer sk-alice"})
    assert answered.status_code == 200 and fake.requests[-1].headers["authorization"] == "Bearer sk-upstream"
    assert "sk-alice" not in caplog.text
    with trio.fail_after(5):
        while len(records := [r.access for r in caplog.records if getattr(r, "access", None)]) < 4:
            await trio.sleep(0.01)
    assert [record["client"] for record in records] == [None, None, None, "alice"]


async def test_a_model_outside_the_clients_list_is_refused_naming_it(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "sk-alice"\nmodels = ["claude-haiku-*"]\n')
    refused = await post(proxy, BODY, headers=key("sk-alice"))
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert "claude-sonnet-4-6" in refused.json()["error"]["message"] and not fake.requests
    counted = await post(proxy, {k: v for k, v in BODY.items() if k != "max_tokens"}, headers=key("sk-alice"),
                         path="/v1/messages/count_tokens")
    assert counted.status_code == 403
    assert (await post(proxy, {**BODY, "model": "claude-haiku-4-5"}, headers=key("sk-alice"))).status_code == 200


async def test_rpm_lets_exactly_its_number_of_concurrent_requests_through(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "sk-alice"\nrpm = 10\n')
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=20) as client, trio.open_nursery() as requests:
        for _ in range(20):
            requests.start_soon(lambda: _post_into(client, proxy, answers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 10 + [429] * 10
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error" and 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["anthropic-ratelimit-requests-limit"] == "10"
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    passed = next(answer for answer in answers if answer.status_code == 200)
    assert passed.headers["anthropic-ratelimit-requests-limit"] == "10"
    assert len(fake.requests) == 10


async def _post_into(client: httpx.AsyncClient, proxy, answers: list) -> None:
    answers.append(await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages", json=BODY, headers=key("sk-alice")))


async def test_tokens_per_minute_and_the_daily_budget_count_what_the_upstream_reported(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '''
[clients.alice]
key = "sk-alice"
tpm = 30
[clients.bob]
key = "sk-bob"
daily_tokens = 30
''')
    for who, kind in (("sk-alice", "tokens per minute"), ("sk-bob", "daily budget")):
        first = await post(proxy, BODY, headers=key(who))
        spent = first.json()["usage"]["input_tokens"] + first.json()["usage"]["output_tokens"]
        assert first.status_code == 200 and spent > 0
        for _ in range(30 // spent + 1):
            answer = await post(proxy, BODY, headers=key(who))
            if answer.status_code != 200:
                break
        assert answer.status_code == 429 and kind in answer.json()["error"]["message"]
    assert "resets at 00:00 UTC" in answer.json()["error"]["message"] and int(answer.headers["retry-after"]) > 0


async def test_usage_per_client_and_the_token_holder_sees_everyone(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "sk-alice"\n[clients.bob]\nkey = "sk-bob"\n',
                       token="admin-token")
    for who in ("sk-alice", "sk-alice", "sk-bob", "admin-token"):
        assert (await post(proxy, BODY, headers=key(who))).status_code == 200
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{proxy.port}/v1/usage"
        own = (await client.get(url, headers=key("sk-alice"))).json()["data"]
        every = (await client.get(url, headers=key("admin-token"))).json()["data"]
        refused = await client.get(url, headers=key("sk-nobody"))
    assert [(row["client"], row["model"], row["upstream"], row["requests"]) for row in own] == [
        ("alice", "claude-sonnet-4-6", "default", 2)]
    assert own[0]["input_tokens"] > 0 and own[0]["output_tokens"] > 0
    assert sorted((row["client"], row["requests"]) for row in every) == [("-", 1), ("alice", 2), ("bob", 1)]
    assert refused.status_code == 401


async def test_the_metrics_count_requests_and_tokens_per_client(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "sk-alice"\n')
    assert (await post(proxy, BODY, headers=key("sk-alice"))).status_code == 200
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{proxy.port}/metrics")).text
    lines = [line for line in text.splitlines() if 'client="alice"' in line]
    assert any(line.startswith("anthroproxy_requests_total{") and 'route="messages"' in line for line in lines)
    assert any(line.startswith("anthroproxy_tokens_total{") and 'kind="output"' in line for line in lines)


async def test_the_usage_command_prints_what_the_proxy_counted(nursery, fake, tmp_path):
    proxy = await team(nursery, fake, tmp_path, '[clients.alice]\nkey = "sk-alice"\n[clients.bob]\nkey = "sk-bob"\n',
                       token="admin-token")
    for who in ("sk-alice", "sk-bob", "sk-bob"):
        assert (await post(proxy, BODY, headers=key(who))).status_code == 200
    url = f"http://127.0.0.1:{proxy.port}"
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-bob"}
    own = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--url", url], env=env,
                                 capture_stdout=True)
    lines = own.stdout.decode().splitlines()
    assert lines[0].split()[:4] == ["date", "client", "model", "upstream"] and len(lines) == 2
    assert lines[1].split()[1:5] == ["bob", "claude-sonnet-4-6", "default", "2"]
    every = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--url", url, "--key", "admin-token",
                                    "--json"], capture_stdout=True)
    assert sorted(row["client"] for row in json.loads(every.stdout)) == ["alice", "bob"]
    refused = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--url", url, "--key", "sk-nobody"],
                                     capture_stderr=True, check=False)
    assert refused.returncode == 1 and b"401" in refused.stderr and b"sk-nobody" not in refused.stderr
    gone = await trio.run_process([sys.executable, "-m", "anthroproxy", "usage", "--url", "http://127.0.0.1:9"],
                                  capture_stderr=True, check=False)
    assert gone.returncode == 1 and b"cannot reach" in gone.stderr
