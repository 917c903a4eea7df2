"""--workers: several processes on one port, run as a user runs them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, text_chunks
from tests.support.cli import start_cli, stop
from tests.support.events import check_grammar, parse_events, text_of
from tests.support.http import messages_body
from tests.support.metrics import metric_values


async def fresh_get(port: int, path: str) -> httpx.Response:
    """On a new connection each time: the kernel picks a worker per connection."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def worker_pids(port: int, connections: int = 40) -> set[int]:
    return {(await fresh_get(port, "/health")).json()["pid"] for _ in range(connections)}


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for its reaper counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def wait_until(predicate, seconds: float = 20) -> None:
    with trio.fail_after(seconds):
        while not predicate():
            await trio.sleep(0.05)


async def test_two_workers_share_the_port_and_their_metrics(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url, "--log-level", "INFO")
    assert "(2 workers)" in cli.log
    pids = await worker_pids(cli.port)
    assert len(pids) == 2 and cli.process.pid not in pids
    for _ in range(5):  # whichever worker answers, the counts are the sum of both
        values = metric_values((await fresh_get(cli.port, "/metrics")).text)
        assert values[("anthroproxy_requests_total", (("client", ""), ("model", ""), ("route", "health"), ("status", "200")))] == 40
    assert await stop(cli) == 0
    await wait_until(lambda: all(gone(pid) for pid in pids))


@pytest.mark.parametrize("to", ["master", "group"])
async def test_sigterm_drains_every_worker(nursery, fake, to):
    # "group": every process gets SIGTERM at once, as systemd's stop and kill -TERM -PGID send it.
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url, "--log-level", "INFO",
                          new_session=True)
    words = [f"w{i} " for i in range(12)]
    fake.default = lambda request: Reply.stream(text_chunks(words), delay=0.05)
    received: dict[int, bytes] = {}
    started = trio.Event()

    async def stream(i: int) -> None:
        async with httpx.AsyncClient(timeout=30) as client:  # a connection each: spread over the workers
            async with client.stream("POST", f"http://127.0.0.1:{cli.port}/v1/messages",
                                     json=messages_body(stream=True)) as response:
                async for data in response.aiter_bytes():
                    received[i] = received.get(i, b"") + data
                    if len(received) == 20:
                        started.set()

    async with trio.open_nursery() as streams:
        for i in range(20):
            streams.start_soon(stream, i)
        with trio.fail_after(20):
            await started.wait()
        if to == "master":
            cli.process.send_signal(signal.SIGTERM)
        else:
            os.killpg(cli.process.pid, signal.SIGTERM)
    for i in range(20):
        events = parse_events(received[i])
        check_grammar(events)
        assert text_of(events) == "".join(words), i
    with trio.fail_after(20):
        assert await cli.process.wait() == 0
    assert cli.log.count("SIGTERM received: draining") == 3  # the master, and each worker once
    assert "stopping now" not in cli.log


async def test_a_worker_that_dies_is_replaced(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url, "--log-level", "INFO")
    before = await worker_pids(cli.port)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    with trio.fail_after(20):
        while True:
            after = await worker_pids(cli.port, 20)
            if len(after) == 2 and victim not in after:
                break
            await trio.sleep(0.1)
    assert "exited with status -9: starting another" in cli.log
    response = await trio.to_thread.run_sync(lambda: httpx.post(
        f"http://127.0.0.1:{cli.port}/v1/messages", json=messages_body(), timeout=10))
    assert response.status_code == 200
    assert await stop(cli) == 0


async def test_workers_drain_and_exit_when_the_master_is_killed(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url)
    pids = await worker_pids(cli.port)
    cli.process.kill()
    assert await cli.process.wait() == -signal.SIGKILL  # (the master died as killed, not by its own exit)
    await wait_until(lambda: all(gone(pid) for pid in pids))
    await wait_until(lambda: cli.log.count("the master process is gone: draining") == 2)  # (drained, not killed)


async def test_json_log_lines_from_workers(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--workers", "2", "--target-url", fake.url, "--log-level", "INFO",
                          "--log-format", "json")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"http://127.0.0.1:{cli.port}/v1/messages", json=messages_body(stream=True))
    assert await stop(cli) == 0
    lines = [json.loads(line) for line in cli.log.splitlines()]
    (access,) = [line for line in lines if line.get("request_id") == response.headers["request-id"]]
    assert (access["method"], access["path"], access["status"], access["stream"]) == ("POST", "/v1/messages", 200, True)
    assert access["target"] == "gpt-5" and access["output_tokens"] > 0 and access["duration_ms"] >= 0
    assert any(line.get("message", "").startswith("anthroproxy listening on") for line in lines)


async def test_a_worker_that_cannot_listen_stops_the_pool(tmp_path, caplog):
    from anthroproxy import Config
    from anthroproxy.process.workers import WorkerPool

    # An address no interface here has: the workers' bind fails (the master's reservation is not involved).
    pool = WorkerPool(Config(host="192.0.2.1", port=1, log_level="ERROR"), 2, str(tmp_path))
    with trio.fail_after(30):
        assert await pool.run() == 1
    assert "exited before it could listen: stopping" in caplog.text
    assert None not in [process.exitcode for process in pool.processes.values()]  # none left running


async def test_workers_0_means_one_per_core(nursery, fake):
    cli = await start_cli(nursery, "--port", "0", "--workers", "0", "--target-url", fake.url, "--log-level", "INFO")
    cores = len(os.sched_getaffinity(0))
    assert (f"({cores} workers)" in cli.log) if cores > 1 else ("workers)" not in cli.log)
    assert await stop(cli) == 0
