"""The clients' limits and usage as the application asks for them: through the
shared store while it answers (every instance's counts), else in this process.

A limited client's request is sent to the store for admission as soon as it
arrives (taken back if the request turns out bad), and its answer is read only when the request is
about to go upstream (its translation meanwhile hides the round trip); it
waits at most ADMIT_TIMEOUT_S from the asking. A store that is away or slow is
never a reason to fail a request, only to count it here. What requests spend and use is always counted here too (the fallback,
and the figures of this process), and queued for the store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from ..config.clients import Clients, ClientSpec
from ..observe.logs import log
from .limits import Limits, Refusal, ratelimit_headers, refusal
from .lean import Ticket
from .shared import ADMIT_TIMEOUT_S, SharedState
from .shared import admitted as store_admitted
from .usage import UsageLedger, counts_of, newest_first

READ_TIMEOUT_S = 2.0  # GET /v1/usage from the store; past it, this process's rows


Decision = tuple[Refusal | None, tuple[tuple[str, str], ...]]  # (the refusal, if any; the rate-limit headers)


@dataclass(slots=True)
class Admission:
    """Whether a limited client's request may go. With the store, its answer is
    on its way (a ticket) and wins when it comes by ``deadline``; else, or
    past that, this process's limits decide when asked (``decided``)."""

    client: ClientSpec
    limits: Limits
    store: SharedState | None = None
    ticket: Ticket | None = None
    member: str = ""  # (the request's entry in the store's minute, taken back by ``release``)
    now: float = 0.0  # (wall clock, when asked)
    deadline: float = 0.0  # (trio's clock)

    async def decided(self) -> Decision:
        """(the refusal, if the request may not go now; the rate-limit headers
        either way). A request that may go is counted."""
        ticket, client, now = self.ticket, self.client, self.now
        self.ticket = None  # (asked once)
        if ticket is None:
            return self.limits.check(client)
        with trio.move_on_at(self.deadline):
            try:
                admitted, window = await store_admitted(ticket)
            except Exception as error:
                log.debug("client %s's limits from this process: the state backend failed (%s)", client.name,
                          type(error).__name__)
                return self.limits.check(client)
            self.limits.check(client)  # (this process counts it too: the figures to fall back on)
            refused = None if admitted else refusal(client, window, now)
            if not admitted and refused is None:  # (a window the script refused is one refusal() refuses)
                refused = Refusal("rpm", f"client {client.name} is over its limits", 1)
            return refused, refused.headers if refused is not None else ratelimit_headers(client, window, now)
        log.debug("client %s's limits from this process: the state backend took over %.0f ms", client.name,
                  ADMIT_TIMEOUT_S * 1000)
        return self.limits.check(client)

    def release(self) -> None:
        """The request stopped before it was decided (a bad body, a model the
        client may not use): the store takes back what it may have counted."""
        if self.ticket is not None and self.store is not None:
            self.store.release(self.client, self.member, self.now)
        self.ticket = None


@dataclass(slots=True)
class ClientState:
    """The configured clients, their limits and their usage, for the application."""

    clients: Clients
    limits: Limits = field(default_factory=Limits)
    usage: UsageLedger = field(default_factory=UsageLedger)
    store: SharedState | None = None  # the shared store (state_url), when there is one

    async def admission(self, client: ClientSpec) -> Admission:
        """Begin deciding whether the client's request may go now: the store is
        asked at once (answered while the request is checked and translated),
        and ``Admission.decided`` reads the answer before the upstream is called."""
        store = self.store
        if store is None or not store.available:
            return Admission(client, self.limits)
        now = time.time()
        try:
            ticket, member = await store.send_admit(client, now)
        except Exception as error:  # (the store failed mid-way: its own task reconnects and reports)
            log.debug("client %s's limits from this process: the state backend failed (%s)", client.name,
                      type(error).__name__)
            return Admission(client, self.limits)
        return Admission(client, self.limits, store, ticket, member, now, trio.current_time() + ADMIT_TIMEOUT_S)

    def spent(self, client: ClientSpec, tokens: int) -> None:
        """A request of the client's is over, having used ``tokens``."""
        self.limits.spent(client, tokens)
        if self.store is not None:
            self.store.spent(client, tokens, time.time())

    def record(self, client: str, model: str, upstream: str, usage: dict[str, int]) -> None:
        """A message answered: its usage, per client, model, upstream and day."""
        counts = counts_of(usage)
        self.usage.record(client, model, upstream, counts)
        if self.store is not None:
            self.store.record(client, model, upstream, counts, time.time())

    async def rows(self, client: str | None) -> list[dict[str, object]]:
        """Usage rows (one client's, or everyone's): every instance's from the
        store while it answers, else this process's."""
        store = self.store
        if store is not None and store.available:
            with trio.move_on_after(READ_TIMEOUT_S):
                try:
                    rows = await store.usage(time.time())
                except Exception as error:
                    log.debug("usage from this process: the state backend failed (%s)", type(error).__name__)
                else:
                    return newest_first([row for row in rows if client is None or row["client"] == client])
        return self.usage.rows(client)
