"""Hostile requests over real sockets: every field of a few rich requests,
replaced by each hostile value or deleted (tests/hostile.py), is answered with
a 200 or an Anthropic-shaped 4xx, never a 5xx or a dropped connection, and the
server keeps serving."""

from __future__ import annotations

import json
import logging

import httpx
import trio

from tests.support.events import check_grammar, parse_events
from tests.support.hostile import all_variants
from tests.support.http import messages_body
from tests.support.proxy import start_proxy

PATHS = ("/v1/messages", "/v1/messages/count_tokens")
CONCURRENCY = 8


def problem(response: httpx.Response, path: str) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500 or response.status_code < 200 or 300 <= response.status_code < 400:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        ok = (body.get("type") == "error" and isinstance(body["error"].get("type"), str)
              and isinstance(body["error"].get("message"), str))
        return None if ok else f"HTTP {response.status_code} not in Anthropic's error shape: {body}"
    if path.endswith("count_tokens"):
        count = response.json().get("input_tokens")
        return None if isinstance(count, int) and count > 0 else f"count {response.text[:200]}"
    if response.headers["content-type"].startswith("text/event-stream"):
        events = parse_events(response.content)
        check_grammar(events)
        errors = [payload for name, payload in events if name == "error"]
        return f"a stream that ended in {errors[0]}" if errors else None
    message = response.json()
    return None if message.get("type") == "message" else f"200 that is not a message: {response.text[:300]}"


async def test_hostile_requests_get_a_200_or_an_anthropic_4xx_and_the_server_keeps_serving(nursery, fake, caplog):
    caplog.set_level(logging.WARNING, logger="anthroproxy")  # (thousands of requests: no DEBUG records kept)
    proxy = await start_proxy(nursery, fake)
    base = f"http://127.0.0.1:{proxy.port}"
    failures: list[str] = []
    statuses: dict[int, int] = {}
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def send(client: httpx.AsyncClient, what: str, data: bytes, path: str) -> None:
        async with limiter:
            try:
                response = await client.post(base + path, content=data, headers={"content-type": "application/json"})
            except httpx.HTTPError as exc:
                failures.append(f"{path} {what}: the connection failed ({exc!r})")
                return
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        try:
            found = problem(response, path)
        except (AssertionError, ValueError, KeyError) as exc:
            found = f"a malformed answer ({exc!r}): {response.text[:300]}"
        if found:
            failures.append(f"{path} {what}: {found}")

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        async with trio.open_nursery() as senders:
            for what, data in all_variants():
                for path in PATHS:
                    senders.start_soon(send, client, what, data, path)
        assert not failures, f"{len(failures)} failures, e.g.:\n" + "\n".join(failures[:30])
        assert statuses.get(200, 0) > 1000 and sum(n for s, n in statuses.items() if s >= 400) > 1000, statuses
        response = await client.post(base + "/v1/messages", json=messages_body("still there?"))
    assert response.status_code == 200 and "still there?" in json.dumps(response.json())
