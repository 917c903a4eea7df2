"""The live dashboard in a real headless Chromium, in front of a proxy under
scripted traffic; its event stream and limits over plain HTTP. Screenshots
go to tests/artifacts/ (README's picture is one of them)."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from anthroproxy.api.app import ProxyApp
from anthroproxy.config.load import load_config
from anthroproxy.observe import live as live_module
from anthroproxy.observe.live import Live
from anthroproxy.proxy import http_settings
from anthroproxy.server import serve_http
from anthroproxy.state.fleet import Fleet
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, text_chunks
from anthroproxy.upstream.upstreams import Upstreams
from tests.backends.chromium import BrowserUnavailable, browser
from tests.support.proxy import in_thread, post, proxy_for

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
KEYS = {"admin": "admin-token", "alice": "alice-key", "bob": "bob-key"}


@pytest.fixture(scope="module")
def chromium():
    try:
        driver = browser()
    except BrowserUnavailable as exc:
        pytest.fail(f"headless Chromium is needed for the dashboard's tests and could not be had: {exc}")
    yield driver
    driver.quit()


@pytest.fixture
async def team(nursery, tmp_path):
    main, spare = FakeUpstream(), FakeUpstream()
    for fake in (main, spare):
        await nursery.start(fake.serve)
    proxy = await proxy_for(nursery, tmp_path, f'''
auth_token = "{KEYS['admin']}"
[upstreams.main]
url = "{main.url}"
api_key = "sk-main-secret"
[upstreams.spare]
url = "{spare.url}"
api_key = "sk-spare-secret"
[models]
"claude-*" = {{ upstream = "main", target = "m1", fallbacks = [ "m2@spare" ] }}
[clients.alice]
key = "{KEYS['alice']}"
rpm = 100
daily_tokens = 100000
[clients.bob]
key = "{KEYS['bob']}"
''')
    return proxy, main, spare


async def traffic(proxy, *clients: str, stream: bool = True) -> None:
    for name in clients:
        answer = await post(proxy, {**BODY, "stream": stream}, headers={"x-api-key": KEYS[name]})
        assert answer.status_code == 200


def page(driver, proxy, key: str | None) -> None:
    """The dashboard, opened afresh, given ``key`` when it asks for one."""
    driver.get(f"http://127.0.0.1:{proxy.port}/dashboard")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"http://127.0.0.1:{proxy.port}/dashboard")
    wait_for(driver, "!document.getElementById('ask').hidden")
    if key is not None:
        driver.find_element("id", "key").send_keys(key)
        driver.find_element("css selector", "#ask button").click()


def wait_for(driver, condition: str, timeout: float = 5.0):
    """Poll a JavaScript expression until it is truthy; its value."""
    driver.set_script_timeout(timeout + 1)
    return driver.execute_async_script(f"""
        const done = arguments[arguments.length - 1], until = Date.now() + {timeout * 1000};
        (function poll() {{
            let value; try {{ value = ({condition}); }} catch (e) {{ value = null; }}
            if (value || Date.now() > until) return done(value || null);
            setTimeout(poll, 50);
        }})();""")


def column(driver, table: str, index: int) -> list[str]:
    return driver.execute_script(
        f"return [...document.querySelectorAll('#{table} tbody tr')].map(r => r.cells[{index}].textContent)")


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


BLANK = """return [...document.querySelectorAll('.chart canvas')].map(canvas => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
    return painted;
});"""


def screenshot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


async def test_the_dashboard_draws_its_charts_and_the_recent_requests_with_no_console_errors(team, chromium):
    proxy, main, spare = team
    await traffic(proxy, "alice", "bob", "alice")
    await traffic(proxy, "bob", stream=False)

    def look():
        chromium.get_log("browser")  # (what came before this page)
        page(chromium, proxy, KEYS["admin"])
        assert wait_for(chromium, "document.querySelectorAll('#recent tbody tr').length >= 4")
        painted = chromium.execute_script(BLANK)
        screenshot(chromium, "dashboard")
        return painted, column(chromium, "recent", 2), column(chromium, "clients", 0), console_errors(chromium)

    painted, routes, clients, errors = await in_thread(look)
    assert len(painted) >= 4 and all(count > 1000 for count in painted), painted  # (four charts, each drawn)
    assert routes[0] == "claude-sonnet-4-5 → m1@main"
    assert clients == ["alice", "bob"]
    assert errors == []


async def test_a_429_shows_as_cooling_within_2_s_and_as_ok_when_its_cooldown_ends(team, chromium):
    proxy, main, spare = team
    await in_thread(page, chromium, proxy, KEYS["admin"])
    assert await in_thread(wait_for, chromium, "document.querySelector('#upstreams tr[data-upstream=main]')")
    main.queue(Reply.json({"error": {"message": "slow down"}}, status=429, headers=[("retry-after", "3")]))
    await traffic(proxy, "alice")  # (answered by the spare)
    seen = trio.current_time()
    state = "document.querySelector('#upstreams tr[data-upstream=main]').cells[2].textContent"
    assert await in_thread(wait_for, chromium, f"{state} === 'cooling'", 2.0)
    assert trio.current_time() - seen < 2.0
    cooling = await in_thread(chromium.execute_script,
                              "return document.querySelector('#upstreams tr[data-upstream=main]').cells[5].textContent")
    assert "m1" in cooling and "HTTP 429" in cooling
    await in_thread(screenshot, chromium, "dashboard-cooling")
    assert await in_thread(wait_for, chromium, f"{state} === 'ok'", 5.0)


async def test_a_clients_key_shows_only_that_clients_rows(team, chromium):
    proxy, _, _ = team
    await traffic(proxy, "alice", "bob", "bob")

    def look():
        page(chromium, proxy, KEYS["alice"])
        assert wait_for(chromium, "document.querySelectorAll('#recent tbody tr').length >= 1")
        return column(chromium, "recent", 1), column(chromium, "clients", 0)

    recent, clients = await in_thread(look)
    assert recent == ["alice"] and clients == ["alice"]


async def test_a_wrong_key_shows_nothing_but_the_empty_page(team, chromium):
    proxy, _, _ = team
    await traffic(proxy, "alice")

    def look():
        page(chromium, proxy, "not-a-key")
        assert wait_for(chromium, "!document.getElementById('refused').hidden")
        return chromium.execute_script("""return [document.getElementById('board').hidden,
            document.querySelectorAll('#recent tbody tr').length, document.body.innerText]""")

    hidden, rows, text = await in_thread(look)
    assert hidden and rows == 0 and "alice" not in text


async def snapshot(proxy, key: str | None) -> dict:
    headers = {"x-api-key": key} if key else {}
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", f"http://127.0.0.1:{proxy.port}/dashboard/events", headers=headers) as answer:
            assert answer.status_code == 200, await answer.aread()
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    return json.loads(line[6:])
    raise AssertionError("no snapshot")


async def test_the_event_stream_needs_a_key_and_the_page_is_locked_to_its_own_files(team):
    proxy, _, _ = team
    async with httpx.AsyncClient(timeout=10) as client:
        url = f"http://127.0.0.1:{proxy.port}"
        refused = await client.get(f"{url}/dashboard/events", headers={"x-api-key": "wrong"})
        shown = await client.get(f"{url}/dashboard")
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    policy = shown.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    assert "sk-main-secret" not in json.dumps(await snapshot(proxy, KEYS["admin"]))


async def test_at_most_32_dashboards_are_open_at_once(team):
    proxy, _, _ = team
    url = f"http://127.0.0.1:{proxy.port}/dashboard/events"
    headers = {"x-api-key": KEYS["admin"]}
    opened = trio.Semaphore(0)

    async def watch():
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("GET", url, headers=headers) as answer:
                assert answer.status_code == 200
                first = True
                async for _ in answer.aiter_bytes():
                    if first:
                        opened.release()
                        first = False

    async with trio.open_nursery() as watchers:
        for _ in range(32):
            watchers.start_soon(watch)
        with trio.fail_after(10):
            for _ in range(32):
                await opened.acquire()
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.get(url, headers=headers)
        watchers.cancel_scope.cancel()
    assert refused.status_code == 503 and refused.json()["error"]["type"] == "overloaded_error"
    assert "32" in refused.json()["error"]["message"]
    with trio.fail_after(5):  # (the closed ones free their places)
        while True:
            try:
                assert (await snapshot(proxy, KEYS["admin"]))["processes"] == 1
                break
            except AssertionError:
                await trio.sleep(0.1)


async def test_dashboards_opened_together_on_a_state_backend_each_get_their_clients_view(nursery, tmp_path):
    """The first snapshot waits for the store's usage rows; dashboards that
    open meanwhile wait for it too, rather than take an empty one."""
    from tests.backends.redis import RedisServer, RedisUnavailable

    try:
        store = RedisServer().start()
    except RedisUnavailable as exc:
        pytest.fail(f"a Redis server is needed for this test and could not be had: {exc}")
    try:
        fake = FakeUpstream()
        await nursery.start(fake.serve)
        proxy = await proxy_for(nursery, tmp_path, f'''
state_url = "{store.url}"
target_url = "{fake.url}/v1"
[clients.alice]
key = "{KEYS['alice']}"
[clients.bob]
key = "{KEYS['bob']}"
''')
        await traffic(proxy, "alice", "bob")
        seen: list[dict] = []

        async def look(name: str) -> None:
            seen.append(await snapshot(proxy, KEYS[name]))

        async with trio.open_nursery() as lookers:
            for name in ["alice", "bob"] * 4:
                lookers.start_soon(look, name)
        assert len(seen) == 8
        for view in seen:
            assert {row["client"] for row in view["recent"]} == {view["viewer"]}
            assert [row["client"] for row in view["clients"]] == [view["viewer"]]
    finally:
        store.stop()


class CountedLive(Live):
    """The recording, with every use of it from outside its module counted."""

    def __getattribute__(self, name: str):
        if name != "uses" and sys._getframe(1).f_code.co_filename != live_module.__file__:
            object.__getattribute__(self, "uses")[name] = object.__getattribute__(self, "uses").get(name, 0) + 1
        return object.__getattribute__(self, name)


async def test_recording_a_request_does_nothing_per_streamed_chunk(nursery):
    """A 400-chunk answer touches the recording as often as a 4-chunk one:
    once as it starts and ends (active streams), once when it is recorded."""
    fake = FakeUpstream()
    await nursery.start(fake.serve)
    config = load_config(["--port", "0", "--target-url", f"{fake.url}/v1"], {}, None)
    live = CountedLive()
    live.uses = {}
    upstreams = await nursery.start(running, Upstreams(config))
    server = await nursery.start(partial(serve_http, http_settings(config), ProxyApp(config, upstreams,
                                                                                     fleet=Fleet(live))))
    uses = []
    for chunks in (4, 400):
        fake.queue(Reply.stream(text_chunks(["word "] * chunks), delay=0.001))  # (each chunk read alone)
        live.uses = {}
        answer = await post(server, {**BODY, "stream": True})
        assert answer.text.count("text_delta") == chunks
        with trio.fail_after(5):
            while "record" not in live.uses:  # (recorded once the answer has ended)
                await trio.sleep(0.01)
        uses.append(live.uses)
    assert uses[0] == uses[1] and uses[0]["record"] == 1


async def running(upstreams: Upstreams, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with upstreams:
        task_status.started(upstreams)
        await trio.sleep_forever()
