"""The command line, run as a user runs it: a real process, real signals."""

from __future__ import annotations

import signal
import sys

import httpx
import pytest
import trio

from anthroproxy import __version__
from anthroproxy.testing.fake_upstream import Reply, text_chunks
from tests.support.cli import SCRIPT, run, start_cli, stop
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import messages_body


@pytest.mark.parametrize(
    ("args", "env", "setting"),
    [
        (["--port", "70000"], {}, "port"),
        ([], {"PORT": "abc"}, "port"),
        (["--log-level", "LOUD"], {}, "log-level"),
        (["--model-mapping", "claude-3"], {}, "model-mapping"),
        ([], {"TARGET_URL": "api.openai.com/v1"}, "target-url"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
        ([], {"STATE_URL": "http://:pw@cache:6379"}, "state-url"),
    ],
)
async def test_bad_settings_print_one_line_and_exit_2(args, env, setting):
    result = await run(sys.executable, "-m", "anthroproxy", *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and lines[0].startswith("anthroproxy: error: "), lines


@pytest.mark.parametrize(
    ("toml", "setting"),
    [
        ('[upstreams.local]\nurl = "http://127.0.0.1:11434/v1"\n[models]\n"claude-*" = "m@nowhere"\n',
         "upstream 'nowhere' is not defined"),
        ("[upstreams.local]\nurl = []\n", "upstreams.local.url: at least one URL is needed"),
        ('[upstreams.router]\nurl = "https://openrouter.ai/api/v1"\napi_key = "${UNSET_KEY_FOR_TEST}"\n',
         "upstreams.router.api_key: ${UNSET_KEY_FOR_TEST} is not set"),
    ],
)
async def test_a_bad_upstream_config_prints_one_line_and_exits_2(tmp_path, toml, setting):
    (tmp_path / "proxy.toml").write_text(toml)
    result = await run(sys.executable, "-m", "anthroproxy", "--config", str(tmp_path / "proxy.toml"))
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and lines[0].startswith("anthroproxy: error: "), lines


async def test_console_script_matches_python_m():
    assert SCRIPT.exists(), f"console script missing at {SCRIPT}: install the package (pip install -e .)"
    for flag in ("--version", "--help"):
        script = await run(str(SCRIPT), flag)
        module = await run(sys.executable, "-m", "anthroproxy", flag)
        assert script.returncode == module.returncode == 0
        assert script.stdout == module.stdout
    assert (await run(str(SCRIPT), "--version")).stdout.decode().strip() == f"anthroproxy {__version__}"


async def test_sigterm_during_50_live_streams_lets_them_finish_then_exits_0(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--target-url", fake.url, "--log-level", "INFO")
    words = [f"word{i} " for i in range(15)]
    fake.default = lambda request: Reply.stream(text_chunks(words), delay=0.05)
    received: dict[int, list[bytes]] = {}
    all_started = trio.Event()

    async def stream(client, i):
        body = messages_body(stream=True)
        async with client.stream("POST", f"http://127.0.0.1:{cli.port}/v1/messages", json=body) as response:
            async for data in response.aiter_bytes():
                received.setdefault(i, []).append(data)
                if len(received) == 50:
                    all_started.set()

    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client, trio.open_nursery() as streams:
        for i in range(50):
            streams.start_soon(stream, client, i)
        with trio.fail_after(20):
            await all_started.wait()
        cli.process.send_signal(signal.SIGTERM)
        await trio.sleep(0.2)
        with pytest.raises(OSError):  # no new connections while the streams finish
            await trio.open_tcp_stream("127.0.0.1", cli.port)
    for i in range(50):
        events = parse_events(b"".join(received[i]))
        check_grammar(events)
        assert text_of(events) == "".join(words) and events[-1][0] == "message_stop", i
    with trio.fail_after(20):
        assert await cli.process.wait() == 0  # exits by itself once the streams are done
    assert "SIGTERM received: draining" in cli.log


async def test_sigint_on_an_idle_proxy_exits_0(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--target-url", fake.url)
    cli.process.send_signal(signal.SIGINT)
    with trio.fail_after(20):
        assert await cli.process.wait() == 0
    assert "Traceback" not in cli.log


async def test_secrets_never_reach_the_log(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--target-url", fake.url, "--api-key", "sk-UPSTREAM-SECRET",
                          "--log-level", "DEBUG")
    async with httpx.AsyncClient(timeout=20) as client:
        url = f"http://127.0.0.1:{cli.port}/v1/messages"
        headers = {"x-api-key": "sk-CLIENT-SECRET", "authorization": "Bearer sk-BEARER-SECRET"}
        await client.post(url, json=messages_body(), headers=headers)
        await client.post(url, json=messages_body(stream=True), headers=headers)
        fake.queue(Reply.error(401, "bad key"))
        await client.post(url, json=messages_body(), headers=headers)
    assert await stop(cli) == 0
    assert fake.requests[0].headers["authorization"] == "Bearer sk-UPSTREAM-SECRET"
    assert "POST /v1/messages" in cli.log and "upstream key configured" in cli.log
    assert "SECRET" not in cli.log


async def test_dotenv_in_the_working_directory_is_read(nursery, fake, tmp_path):
    (tmp_path / ".env").write_text(f"TARGET_URL={fake.url}\nDEFAULT_MODEL=model-from-dotenv\nLOG_LEVEL=INFO\n")
    cli = await start_cli(nursery, "--port", "0", cwd=tmp_path)
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(f"http://127.0.0.1:{cli.port}/v1/messages", json=messages_body())
    assert response.status_code == 200
    assert fake.requests[-1].json["model"] == "model-from-dotenv"
    assert await stop(cli) == 0


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_port_in_use_exits_1_with_one_line(workers):
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]  # (without SO_REUSEPORT: not shareable)
    port = listener.socket.getsockname()[1]
    try:
        result = await run(sys.executable, "-m", "anthroproxy", "--port", str(port), "--log-level", "NONE",
                           "--workers", workers)
    finally:
        await listener.aclose()
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], lines
