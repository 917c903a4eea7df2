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
import secrets
import time
from typing import Any, Awaitable, Callable, Protocol

import coredis
import trio
from coredis.exceptions import AuthenticationError, RedisError
from coredis.retry import NoRetryPolicy

from ..config.clients import ClientSpec
from ..observe.logs import log
from . import scripts
from .lean import LeanConnection, Ticket, tls_context, without_options
from .limits import DAY_S, Window
from .scripts import CHANNEL, LEARNED, READ_USAGE, SCRIPTS, limit_keys, usage_key
from .usage import DAYS_KEPT, FIELDS, day_of, newest_first

CONNECT_TIMEOUT_S = 1.0
WRITE_TIMEOUT_S = 1.0  # (the writer's own task: no request waits for it)
ADMIT_TIMEOUT_S = 0.05  # the longest a request waits for the store's word on its client's limits
BACKOFF_S = (0.1, 5.0)  # first and longest wait before reconnecting
WRITE_BATCH = 256  # queued writes sent in one go
QUEUED = 10_000  # writes kept while the store is away (sent when it returns); more are dropped
READ_TIMEOUT_S = 1.0  # the dashboard's and the status line's reads (else: this instance's own figures)


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
        self._redis: Any = None  # (the client, while connected)
        self._lean: LeanConnection | None = None  # (the request path's connection, while connected)
        self._nursery: trio.Nursery | None = None  # (the connection's, while connected)
        # Told of every request's tokens, from every instance (client, tokens, when): ClientState's figures.
        self.spent_listener: Callable[[str, int, float], None] | None = None
        # Told when another instance's dashboard is watched (its name): fleet.py StoreFleet shares its figures.
        self.watch_listener: Callable[[str], None] | None = None
        self.instance = secrets.token_hex(8)  # (this process's name in the figures it shares)
        self.connections = 0  # (how many times it connected: what was known before may be stale)
        self._scripts: dict[str, Any] = {}
        self._queue_in, self._queue_out = trio.open_memory_channel[tuple](QUEUED)
        mirror.share(self._changed)

    def _queue(self, kind: str, *write: object) -> None:
        try:
            self._queue_in.send_nowait((kind, *write))
        except trio.WouldBlock:
            pass  # (the store has been away long: the oldest writes were kept, these are lost)

    def _changed(self, name: str, item: object, until: float) -> None:
        """The mirror learned something: queued for the store, never waited for."""
        self._queue("learn", name, item, time.time() + (until - trio.current_time()))

    async def send_admit(self, client: ClientSpec, now: float, *, credits: int = 0,
                         reserve_only: bool = False) -> tuple[Ticket, str]:
        """Ask the store, by its one atomic script, whether the client's request
        may go (counted if so), with ``credits`` more counted ahead if the client
        is far from its limits: sent now, answered to the ticket (``admitted``
        reads it); and the request's entry (credits are ENTRY:c1...). Raises
        when the store is away."""
        lean = self._lean
        if lean is None or not self.available:
            raise ConnectionError("the state backend is unavailable")
        member = f"{int(now * 1000)}-{secrets.token_hex(6)}"
        ticket = await lean.send("EVALSHA", self._scripts["admit"].sha, 4, *limit_keys(client.name, int(now // DAY_S)),
                                 int(now * 1000), _limit(client.rpm), _limit(client.tpm),
                                 _limit(client.daily_tokens), member, credits, int(reserve_only))
        return ticket, member

    def start_soon(self, task: Callable[..., Awaitable[None]], *args: object) -> bool:
        """Run ``task`` beside the connection (a credits' refill); False when the store is away."""
        if self._nursery is None or not self.available:
            return False
        self._nursery.start_soon(task, *args)
        return True

    def release(self, client: ClientSpec, members: list[str], now: float) -> None:
        """Take back requests ``send_admit`` counted (or credits): queued (after the admission on the wire)."""
        if client.rpm is not None and members:
            self._queue("release", client.name, members, now)

    def spent(self, client: ClientSpec, tokens: int, now: float) -> None:
        """A request of the client's used ``tokens``: queued for the store."""
        if tokens > 0 and (client.tpm or client.daily_tokens):
            self._queue("spend", client.name, tokens, client.tpm is not None, now)

    def record(self, client: str, model: str, upstream: str, counts: list[int], now: float) -> None:
        """A request's usage (``usage.FIELDS`` counts): queued for the store."""
        self._queue("record", day_of(now), [client, model, upstream], counts)

    async def usage(self, now: float) -> list[dict[str, object]]:
        """Every instance's usage rows of the last DAYS_KEPT days, from the store."""
        if not self.available:
            raise ConnectionError("the state backend is unavailable")
        return usage_rows(await self._scripts["read_usage"](keys=usage_keys(now), args=[]))

    def watching(self) -> None:
        """This instance's dashboard is watched: the others are told (once a second while so)."""
        if self.available:
            self._queue("watching")

    async def share_live(self, part: str, sessions: dict[str, str]) -> None:
        """This instance's share of the dashboard's figures (JSON, or "" when
        nobody watches) and its totals of the sessions named (digest: JSON), in
        one script call. Raises when the store is away."""
        self._connected()
        with trio.fail_after(WRITE_TIMEOUT_S):
            await self._scripts["share"](keys=[scripts.DASHBOARD_PARTS, *map(scripts.session_key, sessions)],
                                         args=[self.instance, part, *sessions.values()])

    async def live_parts(self) -> dict[str, str]:
        """Every instance's share of the dashboard's figures (JSON; stale ones too), by instance."""
        return await self._read(scripts.DASHBOARD_PARTS)

    def forget_parts(self, instances: list[str]) -> None:
        """Instances gone a while: their shares taken out (queued)."""
        if instances and self.available:
            self._queue("forget", instances)

    async def session_shares(self, digest: str) -> dict[str, str]:
        """Every instance's totals of one session (JSON), by instance."""
        return await self._read(scripts.session_key(digest))

    async def _read(self, key: str) -> dict[str, str]:
        client = self._connected()
        with trio.fail_after(READ_TIMEOUT_S):
            return await client.hgetall(key)

    def _connected(self) -> Any:
        client = self._redis
        if client is None or not self.available:
            raise ConnectionError("the state backend is unavailable")
        return client

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the mirror in step with the store until cancelled. Started once
        the first connection is made and read, or has failed (within a second or so)."""
        wait, reported = BACKOFF_S[0], False
        while True:
            try:
                client = store_client(self.url)
                channels = [CHANNEL, scripts.DASHBOARD_CHANNEL]
                async with client, client.pubsub(channels=channels, ignore_subscribe_messages=True,
                                                 retry_policy=NoRetryPolicy()) as messages:
                    # (Subscribed first, then read: nothing published meanwhile is missed.)
                    self._scripts = {name: client.register_script(script) for name, script in SCRIPTS.items()}
                    for script in SCRIPTS.values():
                        await client.script_load(script)
                    await self._load(client)
                    lean = LeanConnection(self.url)
                    async with trio.open_nursery() as nursery:
                        with trio.fail_after(CONNECT_TIMEOUT_S):
                            await nursery.start(lean.run)
                        self._redis, self._lean, self._nursery = client, lean, nursery
                        self.available, wait = True, BACKOFF_S[0]
                        self.connections += 1
                        if reported:
                            log.warning("state backend %s is back: shared state again", shown_url(self.url))
                        reported = False
                        task_status.started()
                        task_status = trio.TASK_STATUS_IGNORED
                        nursery.start_soon(self._listen, messages)
                        await self._write()
            except* Exception as group:  # (coredis raises groups from its task group; a cancel goes on up)
                self._redis, self._lean, self._nursery, self.available = None, None, None, False
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
        for field, value in (await client.hgetall(LEARNED)).items():
            until_wall = float(value)
            if until_wall <= now_wall:
                stale.append(field)
                continue
            name, item = _decode(field)
            self.mirror.apply(name, item, now + (until_wall - now_wall))
        if stale:
            await client.hdel(LEARNED, stale)

    async def _listen(self, messages: Any) -> None:
        async for message in messages:
            try:
                self._heard(message["channel"], json.loads(message["data"]))
            except (KeyError, TypeError, ValueError) as error:  # (a newer version's news: not ours to act on)
                log.debug("state backend: a message not understood on %s: %r", message.get("channel"), error)

    def _heard(self, channel: str, news: Any) -> None:
        if channel == scripts.DASHBOARD_CHANNEL:  # (another instance's dashboard is watched)
            if news["watching"] != self.instance and self.watch_listener is not None:
                self.watch_listener(news["watching"])
        elif isinstance(news, dict):  # (a request's tokens, for the clients' token figures)
            client, tokens, when = news["spent"]
            if self.spent_listener is not None:
                self.spent_listener(client, tokens, when)
        else:
            field, until_wall = news
            name, item = _decode(field)
            self.mirror.apply(name, item, trio.current_time() + (until_wall - time.time()))

    async def _write(self) -> None:
        """What is queued, in batches: one write of every command waiting, then their answers."""
        lean, queue = self._lean, self._queue_out
        assert lean is not None
        async for first in queue:
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(queue.receive_nowait())
                except trio.WouldBlock:
                    break
            tickets = await lean.send_many([self._command(*write) for write in batch])
            with trio.fail_after(WRITE_TIMEOUT_S):  # (a store that stops answering is a lost one: reconnect)
                for ticket in tickets:
                    await ticket.answer()

    def _command(self, kind: str, *write: Any) -> tuple[Any, ...]:
        """A queued write as the script call that makes it."""
        sha = self._scripts[kind].sha if kind in self._scripts else ""
        if kind == "learn":
            name, item, until_wall = write
            field = json.dumps([name, item])
            return ("EVALSHA", sha, 2, LEARNED, CHANNEL, field, until_wall, json.dumps([field, until_wall]))
        if kind == "watching":
            return ("PUBLISH", scripts.DASHBOARD_CHANNEL, json.dumps({"watching": self.instance}))
        if kind == "forget":
            return ("HDEL", scripts.DASHBOARD_PARTS, *write[0])
        if kind == "release":
            client, members, now = write
            return ("ZREM", limit_keys(client, int(now // DAY_S))[0], *members)
        if kind == "spend":
            client, tokens, per_minute, now = write
            _, tokens_key, day_key, sum_key = limit_keys(client, int(now // DAY_S))
            return ("EVALSHA", sha, 4, tokens_key, day_key, sum_key, CHANNEL, int(now * 1000), tokens,
                    secrets.token_hex(6), int(per_minute), json.dumps({"spent": [client, tokens, now]}))
        day, names, counts = write
        pairs = [item for field, count in zip(FIELDS, counts) if count for item in (json.dumps([*names, field]), count)]
        return ("EVALSHA", sha, 1, usage_key(day), *pairs)


async def read_usage(url: str, now: float) -> list[dict[str, object]]:
    """Every instance's usage rows straight from the store at ``url`` (``anthroproxy usage --config``)."""
    client = store_client(url)
    async with client:
        return usage_rows(await client.eval(READ_USAGE, keys=usage_keys(now), args=[]))


def store_client(url: str) -> coredis.Redis:
    """coredis's client for ``url``: no retries (the caller reconnects with backoff), TLS as tls_context says."""
    return coredis.Redis.from_url(without_options(url), decode_responses=True, retry_policy=NoRetryPolicy(),
                                  connect_timeout=CONNECT_TIMEOUT_S, ssl_context=tls_context(url))


def usage_keys(now: float) -> list[str]:
    return [usage_key(day_of(now - back * 86400)) for back in range(DAYS_KEPT)]


def usage_rows(found: list[Any]) -> list[dict[str, object]]:
    """READ_USAGE's answer as usage rows."""
    rows: dict[tuple[str, ...], dict[str, object]] = {}
    for key, pairs in zip(found[::2], found[1::2]):
        day = key.rsplit(":", 1)[1]
        for field, value in zip(pairs[::2], pairs[1::2]):
            client, model, upstream, name = json.loads(field)
            row = rows.setdefault((day, client, model, upstream), {
                "date": day, "client": client, "model": model, "upstream": upstream, **dict.fromkeys(FIELDS, 0)})
            if name in FIELDS:
                row[name] = int(value)
    return newest_first(list(rows.values()))


async def admitted(ticket: Ticket) -> tuple[bool, Window, int]:
    """The store's answer to ``send_admit``: whether the request may go, the
    client's window, and the credits granted."""
    admitted, requests, first_request, tokens, first_token, today, granted = await ticket.answer()
    return bool(admitted), Window(int(requests), _seconds(first_request), int(tokens), _seconds(first_token),
                                  int(today)), int(granted)


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _seconds(milliseconds: str) -> float | None:
    return float(milliseconds) / 1000 if milliseconds else None


def _decode(field: str) -> tuple[str, object]:
    name, item = json.loads(field)
    return name, tuple(item) if isinstance(item, list) else item


def shown_url(url: str) -> str:
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
                  shown_url(url))
    else:
        what = type(cause).__name__ if isinstance(cause, (RedisError, OSError)) else "an error"
        log.warning("state backend %s is unavailable (%s: %s%s): serving on this process's own state, reconnecting",
                    shown_url(url), what, str(cause)[:200], _underneath(cause))


def _underneath(error: BaseException) -> str:
    """What lies under coredis's "Unable to establish a connection": a TLS
    certificate that did not verify, a refused connection."""
    seen, under = {id(error)}, error.__cause__ or error.__context__
    while under is not None and id(under) not in seen and (under.__cause__ or under.__context__) is not None:
        seen.add(id(under))
        under = under.__cause__ or under.__context__
    return f"; {type(under).__name__}: {str(under)[:200]}" if under is not None else ""
