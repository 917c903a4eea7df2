"""Whether a limited client's request may go now, with the shared store.

Requests per minute must hold exactly across instances, so near a client's
``rpm`` every request is counted by the store's atomic script (scripts.ADMIT),
sent as the request arrives and read just before the upstream is called: the
request waits for the rest of that round trip, at most ADMIT_TIMEOUT_S. Far
from it, the script grants the instance credits: requests counted ahead,
which the instance spends with no round trip, refilled in the background.
Unused credits are taken back after CREDIT_LIFE_S.

Tokens per minute and the daily budget count what requests spent once they
are over, in every process the same way (limits.py): here from a mirror of
every instance's spending, set from each answer of the store and fed by what
instances publish as they spend.

Without the store, or past the wait, this process's own limits decide.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import trio

from ..config.clients import ClientSpec
from ..observe.logs import log
from .lean import Ticket
from .limits import DAY_S, Limits, Refusal, Window, _Counts, expire, ratelimit_headers, refusal
from .shared import ADMIT_TIMEOUT_S, SharedState, admitted

CREDITS = 16  # asked for at a time
CREDIT_LIFE_S = 10.0  # unused credits go back after this
RESYNC_S = 5.0  # the mirror is set again from the store this often, in the background

Decision = tuple[Refusal | None, tuple[tuple[str, str], ...]]  # (the refusal, if any; the rate-limit headers)


@dataclass(slots=True)
class View:
    """What this instance knows of one client's shared figures."""

    window: Window | None = None  # as the store last answered (None: ask it)
    synced_at: float = 0.0  # (wall clock)
    connection: int = 0  # the store's connection that answered (a new one: ask again)
    credits: deque[str] = field(default_factory=deque)
    credits_until: float = 0.0
    spent: _Counts = field(default_factory=_Counts)  # every instance's tokens, as published
    refilling: bool = False


@dataclass(slots=True)
class Admission:
    """One request's: decided already, or the store's answer on its way (a
    ticket), which wins when it comes by ``deadline``."""

    client: ClientSpec
    limits: Limits
    decision: Decision | None = None
    shared: SharedLimits | None = None
    ticket: Ticket | None = None
    member: str = ""  # (the request's entry in the store's minute, taken back by ``release``)
    now: float = 0.0  # (wall clock, when asked)
    deadline: float = 0.0  # (trio's clock)

    async def decided(self) -> Decision:
        """(the refusal, if the request may not go now; the rate-limit headers
        either way). A request that may go is counted."""
        ticket, client = self.ticket, self.client
        self.ticket = None  # (asked once)
        if self.decision is not None:
            return self.decision
        if ticket is None or self.shared is None:
            return self.limits.check(client)
        with trio.move_on_at(self.deadline):
            try:
                answer = await admitted(ticket)
            except Exception as error:
                log.debug("client %s's limits from this process: the state backend failed (%s)", client.name,
                          type(error).__name__)
                return self.limits.check(client)
            self.limits.check(client)  # (this process counts it too: the figures to fall back on)
            return self.shared.answered(client, self.member, self.now, *answer)
        log.debug("client %s's limits from this process: the state backend took over %.0f ms", client.name,
                  ADMIT_TIMEOUT_S * 1000)
        return self.limits.check(client)

    def release(self) -> None:
        """The request stopped before it was decided (a bad body, a model the
        client may not use): the store takes back what it may have counted."""
        if self.ticket is not None and self.shared is not None:
            self.shared.store.release(self.client, [self.member], self.now)
        self.ticket = None


class SharedLimits:
    def __init__(self, store: SharedState, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self.views: dict[str, View] = {}
        store.spent_listener = self._spent

    async def admission(self, client: ClientSpec) -> Admission:
        view = self.views.setdefault(client.name, View())
        now = time.time()
        if view.credits and now > view.credits_until:
            self.store.release(client, list(view.credits), now)
            view.credits.clear()
        if view.connection != self.store.connections:
            view.credits.clear()  # (the store went away since: ask it again)
        elif view.window is not None:
            if client.rpm is None or view.credits:
                return Admission(client, self.limits, self._by_itself(client, view, now))
        ticket, member = await self.store.send_admit(client, now, credits=CREDITS if client.rpm is not None else 0)
        return Admission(client, self.limits, None, self, ticket, member, now, trio.current_time() + ADMIT_TIMEOUT_S)

    def _by_itself(self, client: ClientSpec, view: View, now: float) -> Decision:
        """Far from the client's rpm (a credit left) or with none: decided here."""
        assert view.window is not None
        expire(view.spent, now)
        window = Window(view.window.requests, view.window.first_request, view.spent.tokens_sum,
                        view.spent.tokens[0][0] if view.spent.tokens else None, view.spent.today)
        refused = refusal(client, Window(0, None, window.tokens, window.first_token, window.today), now)
        if refused is not None:
            return refused, refused.headers
        self.limits.check(client)  # (this process counts it too: the figures to fall back on)
        if view.credits:
            view.credits.popleft()
        if (len(view.credits) < CREDITS // 2 and client.rpm is not None) or now - view.synced_at > RESYNC_S:
            self._refill(client, view)
        return None, ratelimit_headers(client, window, now)

    def answered(self, client: ClientSpec, member: str, now: float, admitted_: bool, window: Window,
                 granted: int) -> Decision:
        """The store's answer to a request's admission: the decision, and what it tells of the client."""
        self._learn(client, window, now, member, granted)
        refused = None if admitted_ else refusal(client, window, now)
        if not admitted_ and refused is None:  # (a window the script refused is one refusal() refuses)
            refused = Refusal("rpm", f"client {client.name} is over its limits", 1)
        return refused, refused.headers if refused is not None else ratelimit_headers(client, window, now)

    def _learn(self, client: ClientSpec, window: Window, now: float, member: str, granted: int) -> None:
        view = self.views.setdefault(client.name, View())
        view.window, view.synced_at, view.connection = window, now, self.store.connections
        spent = view.spent
        spent.tokens.clear()
        if window.tokens:
            spent.tokens.append((window.first_token or now, window.tokens))
        spent.tokens_sum, spent.day, spent.today = window.tokens, int(now // DAY_S), window.today
        if granted:
            view.credits.extend(f"{member}:c{index}" for index in range(1, granted + 1))
            view.credits_until = now + CREDIT_LIFE_S

    def _refill(self, client: ClientSpec, view: View) -> None:
        if not view.refilling:
            view.refilling = self.store.start_soon(self._reserve, client, view)

    async def _reserve(self, client: ClientSpec, view: View) -> None:
        """More credits, and the figures again (in the background: no request waits)."""
        try:
            now = time.time()
            ticket, member = await self.store.send_admit(client, now, credits=CREDITS if client.rpm else 0,
                                                         reserve_only=True)
            with trio.move_on_after(1.0):
                _, window, granted = await admitted(ticket)
                self._learn(client, window, now, member, granted)
        except Exception as error:  # (the store's own task reports and reconnects)
            log.debug("client %s's credits: the state backend failed (%s)", client.name, type(error).__name__)
        finally:
            view.refilling = False

    def _spent(self, client: str, tokens: int, when: float) -> None:
        """Tokens a request spent, in any instance."""
        view = self.views.get(client)
        if view is None:
            return
        expire(view.spent, time.time())
        if when > time.time() - 60:
            view.spent.tokens.append((when, tokens))
            view.spent.tokens_sum += tokens
        if int(when // DAY_S) == view.spent.day:
            view.spent.today += tokens
