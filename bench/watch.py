"""Keeps dashboards open on a proxy for the bench: ``--count`` streams of
/dashboard/events, read as they come, until killed."""

from __future__ import annotations

import argparse

import httpx
import trio


async def watch(url: str) -> None:
    async with httpx.AsyncClient(timeout=None) as client:
        async with client.stream("GET", url) as answer:
            answer.raise_for_status()
            async for _ in answer.aiter_bytes():
                pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()
    async with trio.open_nursery() as nursery:
        for _ in range(args.count):
            nursery.start_soon(watch, args.url)


if __name__ == "__main__":
    trio.run(main)
