"""The benchmark's own machinery, at a small scale: its fake upstream, its load
driver (which must count every event) and its Claude Code-sized request."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import trio

from anthroproxy import Config, serve
from anthroproxy.api.validate import validate_request
from anthroproxy.config import load_config
from anthroproxy.translate.request import to_openai

BENCH = Path(__file__).parents[2] / "bench"


async def start_bench_upstream(nursery) -> tuple[trio.Process, int]:
    process = await trio.lowlevel.open_process([sys.executable, str(BENCH / "upstream.py"), "--port", "0"],
                                               stdout=subprocess.PIPE)
    line = b""
    with trio.fail_after(20):
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(100)
    return process, int(line.split()[1])


async def drive(port: int, api: str, *args: str) -> dict:
    done = await trio.run_process([sys.executable, str(BENCH / "driver.py"), "--url", f"http://127.0.0.1:{port}",
                                   "--api", api, *args], capture_stdout=True)
    return json.loads(done.stdout)


async def test_driver_counts_every_event_direct_and_through_the_proxy(nursery):
    upstream, port = await start_bench_upstream(nursery)
    try:
        proxy = await nursery.start(serve, Config(port=0, target_url=f"http://127.0.0.1:{port}/v1", log_level="NONE"))
        shape = "chunks=25;bytes=16;delay=0.001"
        for api, target in (("openai", port), ("anthropic", proxy.port)):
            result = await drive(target, api, "--concurrency", "3", "--requests", "7", "--shape", shape)
            assert result["error_count"] == 0, result["errors"]
            assert (result["requests"], result["events"], len(result["ttft"])) == (7, 7 * 25, 7)
        for api, target in (("openai", port), ("anthropic", proxy.port)):  # several per connection
            text = await drive(target, api, "--concurrency", "2", "--requests", "6", "--no-stream")
            assert text["error_count"] == 0 and text["requests"] == 6, (api, text["errors"])
    finally:
        upstream.kill()
        await upstream.wait()


async def test_the_fake_upstream_speaks_three_apis_direct_and_through_each_upstream_protocol(nursery, tmp_path):
    upstream, port = await start_bench_upstream(nursery)
    sys.path.insert(0, str(BENCH))
    try:
        from run import PROTOCOLS
    finally:
        sys.path.remove(str(BENCH))
    try:
        shape = "chunks=25;bytes=16;delay=0.001"
        for name, (config, direct) in PROTOCOLS.items():
            (tmp_path / f"{name}.toml").write_text(config.format(base=f"http://127.0.0.1:{port}"))
            proxy = await nursery.start(serve, load_config(
                ["--config", str(tmp_path / f"{name}.toml"), "--port", "0", "--log-level", "NONE"], {}, None))
            for api, target in ((direct, port), ("anthropic", proxy.port)):
                result = await drive(target, api, "--concurrency", "3", "--requests", "7", "--shape", shape)
                assert result["error_count"] == 0, (name, api, result["errors"])
                assert (result["requests"], result["events"], len(result["ttft"])) == (7, 7 * 25, 7), (name, api)
                text = await drive(target, api, "--concurrency", "2", "--requests", "4", "--no-stream")
                assert text["error_count"] == 0 and text["requests"] == 4, (name, api, text["errors"])
    finally:
        upstream.kill()
        await upstream.wait()


async def test_the_reference_relays_relay_every_event(nursery):
    upstream, upstream_port = await start_bench_upstream(nursery)
    try:
        for kind in ("h11", "httpx"):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            relay = await trio.lowlevel.open_process([sys.executable, str(BENCH / "relays.py"), kind, "--port",
                                                      str(port), "--upstream-port", str(upstream_port)])
            try:
                with trio.fail_after(20):
                    while True:
                        try:
                            await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                            break
                        except OSError:
                            await trio.sleep(0.05)
                result = await drive(port, "anthropic", "--concurrency", "3", "--requests", "7", "--shape",
                                     "chunks=25;bytes=16;delay=0.001")
                assert result["error_count"] == 0, (kind, result["errors"])
                assert (result["requests"], result["events"]) == (7, 7 * 25), kind
            finally:
                relay.kill()
                await relay.wait()
    finally:
        upstream.kill()
        await upstream.wait()


def test_the_claude_code_sized_request_is_a_valid_request():
    sys.path.insert(0, str(BENCH))
    try:
        from micro import claude_code_request
    finally:
        sys.path.remove(str(BENCH))
    body = json.loads(claude_code_request())
    validate_request(body)
    payload = to_openai(body, "gpt-5").payload
    assert len(payload["tools"]) == 12 and len(json.dumps(body)) >= 1 << 20


def test_the_ab_script_measures_two_builds_in_interleaved_rounds():
    def worktrees() -> str:
        return subprocess.run(["git", "-C", str(BENCH.parent), "worktree", "list"], capture_output=True,
                              text=True).stdout

    before = worktrees()
    done = subprocess.run([sys.executable, str(BENCH / "ab.py"), "--a-rev", "HEAD", "--rounds", "2", "--concurrency",
                           "2", "--requests", "4", "--shape", "chunks=2;bytes=16;delay=0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "C=2 (4 streams a round, 2 rounds)"
    for line, side in zip(lines[1:], ("A (HEAD)", "B (this checkout)")):
        assert line.strip().startswith(side) and line.count("[") == 4, line  # CPU per chunk, per request, TTFT p50, p99
    assert worktrees() == before  # (the temporary one is gone)


def test_the_targets_are_judged_against_the_relays_of_the_same_run():
    sys.path.insert(0, str(BENCH))
    try:
        import run
    finally:
        sys.path.remove(str(BENCH))

    def row(p50: float, p99: float, cpu: float, lost: int = 0) -> dict:
        return {"proxy": {"added_ttft_ms": {"p50": p50, "p99": p99}, "cpu_us_per_chunk": cpu, "lost_events": lost}}

    report = {
        "targets": {"anthroproxy": {"sweep": {"1": row(1.2, 2, 200), "128": row(100, 290, 80)},
                                    "hold": {"rss_per_stream_kib": 40.0}}},
        "references": {"httpx relay": {"1": row(1, 2, 250), "128": row(70, 300, 100)},
                       "h11 relay": {"1": row(0.8, 1, 220), "128": row(50, 90, 79)}},
        "translation": {"request_total_ms": 7.5},
    }
    verdicts = [(target, met) for target, _, met in run.target_checks(report)]
    assert [met for _, met in verdicts] == [True, True, False, True, True, True, True], verdicts
    assert verdicts[2][0] == "CPU per chunk at C=128 <= the h11 relay's"  # 80 us against 79: not met


def test_the_protocols_targets_are_judged_against_the_pipe_and_chat_of_the_same_rounds():
    sys.path.insert(0, str(BENCH))
    try:
        import run
    finally:
        sys.path.remove(str(BENCH))

    def path(c1: tuple[float, float], c128: tuple[float, float], kib: float | None = None) -> dict:
        entry = {"sweep": {str(c): {"direct": {}, "proxy": {"added_ttft_ms": {"p50": added}, "cpu_us_per_chunk": cpu,
                                                             "lost_events": 0}}
                           for c, (added, cpu) in ((1, c1), (128, c128))}}
        if kib is not None:
            entry["hold"] = {"rss_per_stream_kib": kib}
        return entry

    protocols = {"rounds": 2, "paths": {"chat": path((1.1, 200), (80, 40), 36), "anthropic": path((0.9, 150), (60, 37), 30),
                                        "responses": path((1.3, 210), (90, 45), 41), run.PIPE: path((0.4, 120), (20, 30))}}
    verdicts = [(target, met) for target, _, met in run.protocol_checks(protocols)]
    assert [met for _, met in verdicts] == [False, False, True, False, True], verdicts  # 37 > 1.2 x 30; 45 > 1.1 x 40
    assert verdicts[0][0] == "pass-through CPU per chunk at C=128 <= 1.2x the trio byte pipe's"
