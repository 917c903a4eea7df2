"""Soak test: many requests with random client disconnects and upstream faults,
then a check that open files, tasks and memory are back where they started.

    python -m tests.support.soak --requests 5000 --seconds 300

Bounded by both the number of requests and the time. The proxy and the fake
upstream run in this process, so its trio task tree and file descriptors are
counted directly. Two baselines: after a warm-up with the same concurrency
(pools filled), against which the running proxy is compared once the traffic
stops; and before the proxy starts, against which the process is compared
after the proxy has shut down.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from anthroproxy import Config, serve
from anthroproxy.testing.fake_upstream import FakeUpstream, Reply, chunk, completion, sse_frames, text_chunks

SCENARIOS = ("stream", "json", "leave-mid-stream", "leave-early", "upstream-500", "upstream-cut", "upstream-bad-json",
             "upstream-error-chunk", "upstream-hangs")
WORDS = [f"w{i} " for i in range(20)]


def reply_for(scenario: str) -> Reply:
    """What the fake upstream does for a scenario (the client names it in metadata.user_id)."""
    if scenario in ("stream", "leave-mid-stream", "leave-early"):
        return Reply.stream(text_chunks(WORDS), delay=0.005)
    if scenario == "json":
        return Reply.json(completion("".join(WORDS)))
    if scenario == "upstream-500":
        return Reply.error(500, "boom")
    if scenario == "upstream-cut":
        return Reply.stream([chunk({"content": "half"})], done=False, cut=True)
    if scenario == "upstream-bad-json":
        return Reply.raw_stream(sse_frames([chunk({"content": "a"})], done=False) + [b"data: {nope\n\n"])
    if scenario == "upstream-error-chunk":
        return Reply.stream([chunk({"content": "a"}), {"error": {"message": "died"}}], done=False)
    return Reply.stream([chunk({"content": "..."})], done=False, hang=True)  # upstream-hangs


@dataclass
class Snapshot:
    fds: int
    tasks: int
    rss_kib: int

    @classmethod
    def take(cls) -> Snapshot:
        status = Path("/proc/self/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return cls(len(os.listdir("/proc/self/fd")), count_tasks(trio.lowlevel.current_root_task()), rss)


def count_tasks(task: trio.lowlevel.Task) -> int:
    return 1 + sum(count_tasks(child) for nursery in task.child_nurseries for child in nursery.child_tasks)


async def one_request(client: httpx.AsyncClient, port: int, scenario: str) -> None:
    body = {"model": "claude-x", "max_tokens": 50, "stream": scenario != "json", "metadata": {"user_id": scenario},
            "messages": [{"role": "user", "content": "hi"}]}
    try:
        if scenario == "leave-early":
            with trio.move_on_after(0.002):
                await client.post(f"http://127.0.0.1:{port}/v1/messages", json=body)
            return
        if scenario in ("leave-mid-stream", "upstream-hangs"):
            async with client.stream("POST", f"http://127.0.0.1:{port}/v1/messages", json=body) as response:
                async for data in response.aiter_bytes():
                    if b"content_block_delta" in data:
                        return  # leaving closes the connection mid-stream
            return
        await client.post(f"http://127.0.0.1:{port}/v1/messages", json=body)
    except httpx.HTTPError:
        pass


async def traffic(port: int, requests: int, seconds: float, concurrency: int, rng: random.Random) -> int:
    done = 0

    async def worker() -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=5) as client:
            while done < requests:
                done += 1
                await one_request(client, port, rng.choice(SCENARIOS))

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
    return done


async def settle(seconds: float = 1.5) -> None:
    """Let closed connections and cancelled upstream requests finish."""
    await trio.sleep(seconds)


async def soak(requests: int, seconds: float, concurrency: int = 16, seed: int = 1) -> dict:
    rng = random.Random(seed)
    fake = FakeUpstream(default=lambda request: reply_for(request.json.get("user", "stream")))
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        before_proxy = Snapshot.take()
        config = Config(port=0, target_url=fake.url, log_level="NONE", upstream_read_timeout=1.0, ping_interval=0.3,
                        keepalive_timeout=0.5)
        done_serving = trio.Event()

        async def run_proxy(task_status=trio.TASK_STATUS_IGNORED) -> None:
            await serve(config, task_status=task_status)
            done_serving.set()

        server = await nursery.start(run_proxy)
        await traffic(server.port, concurrency * 4, seconds, concurrency, rng)  # warm-up
        await settle()
        warm = Snapshot.take()
        served = await traffic(server.port, requests, seconds, concurrency, rng)
        await settle()
        after = Snapshot.take()
        server.shutdown()
        await done_serving.wait()
        await settle(0.5)
        stopped = Snapshot.take()
        nursery.cancel_scope.cancel()
    return {"requests": served, "before_proxy": vars(before_proxy), "warm": vars(warm), "after": vars(after),
            "stopped": vars(stopped), "upstream_disconnects": fake.disconnects}


def main() -> int:
    logging.getLogger("anthroproxy").addHandler(logging.NullHandler())
    logging.getLogger("anthroproxy").propagate = False
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    result = trio.run(soak, args.requests, args.seconds, args.concurrency)
    print(json.dumps(result, indent=1))
    leaked = (result["after"]["tasks"] > result["warm"]["tasks"] or result["stopped"]["fds"] > result["before_proxy"]["fds"]
              or result["stopped"]["tasks"] > result["before_proxy"]["tasks"])
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
