"""The clients' limits and usage as the application asks for them: through the
shared store while it answers (every instance's counts: admission.py for the
limits), else in this process. What requests spend and use is always counted
here too (the fallback, and the figures of this process), and queued for the
store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from ..config.clients import Clients, ClientSpec
from ..observe.logs import log
from .admission import Admission, SharedLimits
from .limits import Limits
from .shared import SharedState
from .usage import UsageLedger, counts_of, newest_first

READ_TIMEOUT_S = 2.0  # GET /v1/usage from the store; past it, this process's rows


@dataclass(slots=True)
class ClientState:
    """The configured clients, their limits and their usage, for the application."""

    clients: Clients
    limits: Limits = field(default_factory=Limits)
    usage: UsageLedger = field(default_factory=UsageLedger)
    store: SharedState | None = None  # the shared store (state_url), when there is one
    shared: SharedLimits | None = None  # the limits through it (made with the store's first use)

    async def admission(self, client: ClientSpec) -> Admission:
        """Begin deciding whether the client's request may go now
        (``Admission.decided`` says, before the upstream is called): with the
        store while it answers (admission.py), else in this process."""
        store = self.store
        if store is None or not store.available:
            return Admission(client, self.limits)
        if self.shared is None or self.shared.store is not store:
            self.shared = SharedLimits(store, self.limits)
        try:
            return await self.shared.admission(client)
        except Exception as error:  # (the store failed mid-way: its own task reconnects and reports)
            log.debug("client %s's limits from this process: the state backend failed (%s)", client.name,
                      type(error).__name__)
            return Admission(client, self.limits)

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
