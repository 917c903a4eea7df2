"""Try the proxy with no API key: ``python -m anthroproxy.demo "your prompt"``.

Starts the fake upstream and the proxy on free loopback ports, sends one
streaming Anthropic Messages request through the proxy and prints the answer as
its text deltas arrive (``--events`` prints every Anthropic event instead).
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
import trio

from ..config import Config
from ..core import sse
from ..proxy import serve
from .fake_upstream import FakeUpstream


async def demo(prompt: str, *, delay: float, show_events: bool) -> int:
    fake = FakeUpstream(delay=delay)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        config = Config(port=0, target_url=fake.url, default_model="fake-model", log_level="NONE")
        server = await nursery.start(serve, config)
        url = f"http://127.0.0.1:{server.port}/v1/messages"
        print(f"fake upstream: {fake.url}\nproxy:         http://127.0.0.1:{server.port}\n")
        print(f"POST {url} (stream: true)\n> {prompt}\n")
        status = await stream_answer(url, prompt, show_events)
        server.shutdown()
        nursery.cancel_scope.cancel()
    return status


async def stream_answer(url: str, prompt: str, show_events: bool) -> int:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    headers = {"x-api-key": "demo-key", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                print(f"HTTP {response.status_code}: {(await response.aread()).decode()}")
                return 1
            decoder = sse.Decoder()
            async for raw in response.aiter_bytes():
                for event in decoder.feed(raw):
                    show(event, show_events)
    print()
    return 0


def show(event: sse.Event, show_events: bool) -> None:
    payload = json.loads(event.data)
    if show_events:
        print(f"event: {event.event}\ndata: {event.data}\n", flush=True)
    elif event.event == "content_block_delta" and payload["delta"].get("type") == "text_delta":
        print(payload["delta"]["text"], end="", flush=True)
    elif event.event == "message_delta":
        usage = payload["usage"]
        print(f"\n\n[stop_reason={payload['delta']['stop_reason']} input_tokens={usage['input_tokens']} "
              f"output_tokens={usage['output_tokens']}]", end="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anthroproxy.demo", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="What does this proxy do?")
    parser.add_argument("--delay", type=float, default=0.08, help="seconds between streamed words (default 0.08)")
    parser.add_argument("--events", action="store_true", help="print every Anthropic SSE event")
    args = parser.parse_args(argv)
    return trio.run(lambda: demo(args.prompt, delay=args.delay, show_events=args.events))


if __name__ == "__main__":
    sys.exit(main())
