"""What the proxy's instances share through Redis or Valkey (``state_url``):
what failover learns (what cools: replicas, keys taken out, upstream/key/model
triples; the fields a model refused; a model that needs another protocol),
each with its end.

The request path never waits for the store. Each instance chooses candidates
from its own memory (upstream/upstreams.py ``Upstreams``, the mirror), which
this keeps in step: what the instance learns is queued and written by a task
of its own (a hash of items and their end, and a message on a channel); what
others write arrives on the channel and is applied to the mirror; at
(re)connection the whole hash is read. The store speaks wall-clock times, the
mirror trio's. Items name upstreams and keys by the configuration's names and
key positions (never a key), so the instances share one configuration.

Without the store (down at start, lost mid-run, a wrong password) the proxy
goes on with its own state: one WARN (an ERROR for a refused password), the
``available`` flag for /health, and reconnection with backoff, reading the
hash again when it comes back.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Protocol

import coredis
import trio
from coredis.exceptions import AuthenticationError, RedisError
from coredis.retry import NoRetryPolicy

from ..observe.logs import log

HASH = "anthroproxy:learned"  # field: JSON [what, item]; value: until, in wall-clock seconds
CHANNEL = "anthroproxy:learned"
CONNECT_TIMEOUT_S = 1.0
WRITE_TIMEOUT_S = 1.0  # (the writer's own task: no request waits for it)
BACKOFF_S = (0.1, 5.0)  # first and longest wait before reconnecting
# Keeps the longer end when two instances cool one item; publishes the change.
COOL = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
"""


class Mirror(Protocol):
    """The instance's own memory (upstream/upstreams.py ``Upstreams``): what
    cools, refused fields, switched protocols."""

    def share(self, listener: Callable[[str, object, float], None]) -> None: ...

    def apply(self, what: str, item: object, until: float) -> None: ...


class SharedState:
    def __init__(self, url: str, mirror: Mirror) -> None:
        self.url = url
        self.mirror = mirror
        self.available = False
        self._queue_in, self._queue_out = trio.open_memory_channel[tuple[str, object, float]](10_000)
        mirror.share(self._changed)

    def _changed(self, name: str, item: object, until: float) -> None:
        """The mirror learned something: queued for the store, never waited for."""
        try:
            self._queue_in.send_nowait((name, item, until))
        except trio.WouldBlock:
            pass  # (the store is away and the queue full: the hash is written again on reconnection)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the mirror in step with the store until cancelled. Started once
        the first connection is made and read, or has failed (within a second or so)."""
        wait, reported = BACKOFF_S[0], False
        while True:
            try:
                client = coredis.Redis.from_url(self.url, decode_responses=True, retry_policy=NoRetryPolicy(),
                                                connect_timeout=CONNECT_TIMEOUT_S)
                async with client, client.pubsub(channels=[CHANNEL], ignore_subscribe_messages=True,
                                                          retry_policy=NoRetryPolicy()) as messages:
                    # (Subscribed first, then read: nothing published meanwhile is missed.)
                    cool = client.register_script(COOL)
                    await client.script_load(COOL)
                    await self._load(client)
                    self.available, wait = True, BACKOFF_S[0]
                    if reported:
                        log.warning("state backend %s is back: shared state again", _shown(self.url))
                    reported = False
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._listen, messages)
                        await self._write(cool)
            except* Exception as group:  # (coredis raises groups from its task group; a cancel goes on up)
                self.available = False
                # (Cancelled, the proxy stopping: coredis's cleanup may complain, and the cancel goes on up.)
                if not reported and trio.current_effective_deadline() != float("-inf"):
                    _report(self.url, group)
                    reported = True
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
            await trio.sleep(wait)
            wait = min(wait * 2, BACKOFF_S[1])

    async def _load(self, client: Any) -> None:
        now_wall, now = time.time(), trio.current_time()
        stale = []
        for field, value in (await client.hgetall(HASH)).items():
            until_wall = float(value)
            if until_wall <= now_wall:
                stale.append(field)
                continue
            name, item = _decode(field)
            self.mirror.apply(name, item, now + (until_wall - now_wall))
        if stale:
            await client.hdel(HASH, stale)

    async def _listen(self, messages: Any) -> None:
        async for message in messages:
            field, until_wall = json.loads(message["data"])
            name, item = _decode(field)
            self.mirror.apply(name, item, trio.current_time() + (until_wall - time.time()))

    async def _write(self, cool: Any) -> None:
        async for name, item, until in self._queue_out:
            field = json.dumps([name, item])
            until_wall = time.time() + (until - trio.current_time())
            with trio.fail_after(WRITE_TIMEOUT_S):  # (a store that stops answering is a lost one: reconnect)
                await cool(keys=[HASH, CHANNEL], args=[field, until_wall, json.dumps([field, until_wall])])


def _decode(field: str) -> tuple[str, object]:
    name, item = json.loads(field)
    return name, tuple(item) if isinstance(item, list) else item


def _shown(url: str) -> str:
    """The store's address without its password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _report(url: str, exc: BaseException) -> None:
    found = [exc]
    while found and isinstance(found[0], BaseExceptionGroup):
        found = list(found[0].exceptions)
    cause = found[0] if found else exc
    if isinstance(cause, AuthenticationError):
        log.error("state backend %s refused the password: serving on this process's own state, retrying",
                  _shown(url))
    else:
        what = type(cause).__name__ if isinstance(cause, (RedisError, OSError)) else "an error"
        log.warning("state backend %s is unavailable (%s: %s): serving on this process's own state, reconnecting",
                    _shown(url), what, str(cause)[:200])
