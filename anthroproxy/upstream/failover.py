"""Failover: candidates, what moves on, cooling, replicas (pure; time passed in).

A route's choices expand into candidates: for each choice, each replica of its
upstream, and for each replica each key. A request tries them in turn, each at
most once, and moves to the next only before any content reached the client:

    failure                                             verdict
    connection failure (refused, DNS, TLS), a timeout   next candidate
    before the answer, 408, 429, 500, 502, 503, 504,
    529, a stream that fails before its first content
    401, 403                                            the next key of the same upstream (others: stop;
                                                        the client's own key: stop, nothing cools)
    400, 404, 413, 422, a too-long prompt, the rest     stop: the client's or the config's mistake

A candidate that failed cools, and is skipped meanwhile:

    what failed              what cools                         for how long
    a connection             the replica's URL                  cooldown (30 s)
    429                      (upstream, key, target model)      its retry-after (30 s if none, at most 10 min)
    401, 403                 (upstream, key)                    KEY_OUT (an hour), with one ERROR line
    any other HTTP failure   (upstream, key, target model)      cooldown

When every candidate is cooling, the one that cools down first is tried rather
than none. Replicas are ordered least busy first (ties in the configured
order); keys are taken in turn. A conversation sticks to the replica that
served it (its prefix cache is what makes a long conversation fast) unless
that replica cools or is clearly busier than the least busy one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import UpstreamError, UpstreamHTTPError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable
from .routes import Route
from .spec import UpstreamSpec

MOVES_ON = frozenset({408, 429, 500, 502, 503, 504, 529})
KEY_REFUSED = frozenset({401, 403})
COOLDOWN_S = 30.0
RETRY_AFTER_DEFAULT_S = 30.0
RETRY_AFTER_MAX_S = 600.0
KEY_OUT_S = 3600.0
# A conversation leaves its replica when that one has this many more requests in flight than the least busy.
BUSIER_BY = 2
MAX_CONVERSATIONS = 10_000  # remembered replicas, oldest forgotten first

NEXT, NEXT_KEY, STOP = "next", "next_key", "stop"


@dataclass(frozen=True, slots=True)
class Candidate:
    upstream: str
    url: str
    key: int | None  # the index of its key in the upstream's keys; None: it has none
    target: str
    choice: int = 0  # 0 the primary, 1... the fallbacks

    def __str__(self) -> str:
        key = "" if self.key is None else f" key {self.key + 1}"
        return f"{self.target}@{self.upstream} ({self.url}{key})"


def verdict(error: UpstreamError, candidate: Candidate) -> str:
    """Whether a failure before any content moves on (see the module's table).
    A 401 or 403 to the client's own key (an upstream with none of its own)
    stops: that key is the client's to fix, and nothing cools for other clients."""
    if isinstance(error, (UpstreamUnreachable, UpstreamTimeout, UpstreamProtocolError)):
        return NEXT
    if isinstance(error, UpstreamHTTPError):
        if error.status == 400 and error.upstream_status != 400:
            return STOP  # a too-long prompt, whatever status the upstream gave it
        status = error.upstream_status
        if status is None:  # an error in a stream before its first content
            return NEXT
        if status in MOVES_ON:
            return NEXT
        if status in KEY_REFUSED:
            return STOP if candidate.key is None else NEXT_KEY
    return STOP


def failure_reason(error: UpstreamError) -> str:
    """A short label for logs and metrics: http_429, unreachable, timeout, ..."""
    return error.kind


class Cooling:
    """What is cooling, until when (trio's clock, or any clock passed in)."""

    def __init__(self, cooldown_s: float = COOLDOWN_S) -> None:
        self.cooldown_s = cooldown_s
        self.urls: dict[str, float] = {}
        self.keys: dict[tuple[str, int | None], float] = {}
        self.targets: dict[tuple[str, int | None, str], float] = {}

    def until(self, candidate: Candidate, now: float) -> float:
        """When the candidate stops cooling; ``now`` or earlier: it is not."""
        return max(self.urls.get(candidate.url, 0.0), self.keys.get((candidate.upstream, candidate.key), 0.0),
                   self.targets.get((candidate.upstream, candidate.key, candidate.target), 0.0))

    def cooling(self, candidate: Candidate, now: float) -> bool:
        return self.until(candidate, now) > now

    def failed(self, candidate: Candidate, error: UpstreamError, now: float) -> float:
        """Cool what the failure says, as the module's table does; returns until when."""
        if isinstance(error, UpstreamUnreachable):
            until = now + self.cooldown_s
            self.urls[candidate.url] = max(self.urls.get(candidate.url, 0.0), until)
            return until
        status = error.upstream_status if isinstance(error, UpstreamHTTPError) else None
        if status in KEY_REFUSED:
            until = now + KEY_OUT_S
            self.keys[(candidate.upstream, candidate.key)] = until
            return until
        seconds = retry_after(error) if status == 429 else self.cooldown_s
        until = now + seconds
        key = (candidate.upstream, candidate.key, candidate.target)
        self.targets[key] = max(self.targets.get(key, 0.0), until)
        return until

    def count(self, now: float) -> int:
        """How many things cool now (the gauge)."""
        return sum(1 for table in (self.urls, self.keys, self.targets) for until in table.values() if until > now)

    def upstream_state(self, spec: UpstreamSpec, now: float) -> dict[str, object]:
        """For /health: ok, or what cools in this upstream and until when (seconds from now)."""
        cooling: dict[str, float] = {}
        for url in spec.urls:
            if self.urls.get(url, 0.0) > now:
                cooling[url] = round(self.urls[url] - now, 1)
        for (upstream, key), until in self.keys.items():
            if upstream == spec.name and until > now:
                cooling[f"key {0 if key is None else key + 1}"] = round(until - now, 1)
        for (upstream, key, target), until in self.targets.items():
            if upstream == spec.name and until > now:
                name = f"{target} with key {key + 1}" if len(spec.keys) > 1 and key is not None else target
                cooling[name] = max(cooling.get(name, 0.0), round(until - now, 1))
        return {"state": "cooling", "cooling_s": cooling} if cooling else {"state": "ok"}

    def forget_expired(self, now: float) -> None:
        for table in (self.urls, self.keys, self.targets):
            for key in [key for key, until in table.items() if until <= now]:
                del table[key]


def retry_after(error: UpstreamError) -> float:
    """Seconds an upstream's 429 asks for (retry-after-ms, then retry-after), in
    (0, RETRY_AFTER_MAX_S]; RETRY_AFTER_DEFAULT_S when it gives none."""
    headers = dict(error.headers)
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
        if seconds > 0:
            return min(seconds, RETRY_AFTER_MAX_S)
    return RETRY_AFTER_DEFAULT_S


class Balancer:
    """Replica order, key turns, and the replica each conversation last used."""

    def __init__(self) -> None:
        self.turns: dict[str, int] = {}
        self.conversations: OrderedDict[str, str] = OrderedDict()

    def replicas(self, spec: UpstreamSpec, in_flight: Mapping[str, int], conversation: str | None,
                 cooling: Cooling, now: float) -> list[str]:
        """The replicas to try in order: least busy first; the conversation's own
        first while it does not cool and is not clearly busier."""
        order = sorted(spec.urls, key=lambda url: in_flight.get(url, 0))  # (stable: ties keep the config order)
        used = self.conversations.get(conversation) if conversation else None
        if used in spec.urls and used != order[0]:
            busier = in_flight.get(used, 0) >= in_flight.get(order[0], 0) + BUSIER_BY
            if cooling.urls.get(used, 0.0) <= now and not busier:
                order.remove(used)
                order.insert(0, used)
        return order

    def keys(self, spec: UpstreamSpec) -> list[int | None]:
        """The keys in turn, from the one after the last key sent (``took``)."""
        if not spec.keys:
            return [None]
        start = self.turns.get(spec.name, 0)
        return [(start + offset) % len(spec.keys) for offset in range(len(spec.keys))]

    def took(self, candidate: Candidate, spec: UpstreamSpec) -> None:
        """A request goes to the candidate: its upstream's next request starts at
        the next key. (Counted when sent, not when planned: a fallback's keys
        turn only when the fallback is used.)"""
        if candidate.key is not None:
            self.turns[spec.name] = (candidate.key + 1) % len(spec.keys)

    def served(self, conversation: str | None, url: str) -> None:
        if conversation is None:
            return
        self.conversations[conversation] = url
        self.conversations.move_to_end(conversation)
        while len(self.conversations) > MAX_CONVERSATIONS:
            self.conversations.popitem(last=False)


def candidates(route: Route, specs: Mapping[str, UpstreamSpec], balancer: Balancer, cooling: Cooling, *,
               in_flight: Mapping[str, int], conversation: str | None, now: float) -> list[Candidate]:
    """Every candidate of the route, in the order to try them: cooling ones
    left out, unless all cool, then only the one that cools down first."""
    expanded: list[Candidate] = []
    for index, choice in enumerate(route.choices):
        spec = specs[choice.upstream]
        keys = balancer.keys(spec)
        for url in balancer.replicas(spec, in_flight, conversation, cooling, now):
            expanded += [Candidate(choice.upstream, url, key, choice.target, index) for key in keys]
    ready = [candidate for candidate in expanded if not cooling.cooling(candidate, now)]
    if ready or not expanded:
        return ready
    return [min(expanded, key=lambda candidate: cooling.until(candidate, now))]


def shortest_retry_after(errors: Iterable[UpstreamError]) -> UpstreamError | None:
    """Of several 429s, the one that asks for the shortest wait."""
    limited = [error for error in errors if isinstance(error, UpstreamHTTPError) and error.upstream_status == 429]
    return min(limited, key=retry_after) if limited else None
