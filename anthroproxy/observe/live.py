"""What the dashboard and the status line show of one process (pure: the
caller passes the wall-clock time).

Recorded once per answered ``/v1/messages`` request, as it ends, never per
streamed chunk:
- the last RECENT requests, in a ring of fixed size (no content: names,
  figures and outcomes only);
- per-second requests, errors and failovers over the last WINDOW_S;
- per-minute tokens by model and by upstream, and first-event times by model
  as counts in fixed buckets, so that processes merge by adding;
- each Claude Code session's totals for SESSION_LIFE_S, at most SESSIONS.

``part()`` is this process's share as plain JSON data; ``merge()`` adds the
shares of several processes (workers, instances) into one.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

from .logs import AccessRecord

RECENT = 200
WINDOW_S = 900  # 15 minutes
SESSIONS = 10_000
SESSION_LIFE_S = 86_400.0
# Upper bounds (ms) of the first-event buckets; the last bucket takes the rest.
FIRST_EVENT_MS = (25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000,
                  20_000, 30_000, 60_000)


def session_key(client: str | None, session: str) -> str:
    """A Claude Code session under its client's name: one client's requests
    never add to, nor read, another's session of the same id."""
    return session if client is None else f"{client}\n{session}"


@dataclass(slots=True)
class Session:
    client: str | None
    requests: int = 0
    input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    output_tokens: int = 0
    failovers: int = 0
    last_target: str = ""
    last_upstream: str = ""
    updated: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {"requests": self.requests, "input_tokens": self.input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "output_tokens": self.output_tokens, "failovers": self.failovers, "target": self.last_target,
                "upstream": self.last_upstream, "updated": round(self.updated, 3), "client": self.client}


class Live:
    def __init__(self) -> None:
        self.active_streams = 0
        self._recent: list[dict[str, Any] | None] = [None] * RECENT
        self._next = 0
        # Per second (slot = second % WINDOW_S; a slot whose stamp is not its second is stale).
        self._stamp = [0] * WINDOW_S
        self._requests = [0] * WINDOW_S
        self._errors = [0] * WINDOW_S
        self._failovers = [0] * WINDOW_S
        # Per minute: {minute: (tokens by model, tokens by upstream, first-event buckets by model)}.
        self._minutes: OrderedDict[int, tuple[dict[str, int], dict[str, int], dict[str, list[int]]]] = OrderedDict()
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.changed_sessions: set[str] = set()  # (since the owner last took them: shared with other processes)

    def record(self, access: AccessRecord, duration_s: float, now: float, session: str | None = None) -> None:
        """One ``/v1/messages`` request, as it ends."""
        usage = access.usage
        tokens = (usage.get("input_tokens", 0) + usage.get("cache_read_input_tokens", 0)
                  + usage.get("cache_creation_input_tokens", 0) + usage.get("output_tokens", 0))
        failed = access.error is not None or (access.status or 0) >= 400
        self._count_second(int(now), failed, access.failovers)
        self._count_minute(int(now // 60), access.target or access.model or "-", access.upstream or "-", tokens,
                           access.first_event_s)
        self._recent[self._next] = {
            "time": round(now, 3), "request_id": access.request_id, "client": access.client,
            "model": access.model, "target": access.target, "upstream": access.upstream,
            "route": access.model_route, "status": access.status, "stream": access.stream,
            "first_event_ms": None if access.first_event_s is None else round(access.first_event_s * 1000, 1),
            "duration_ms": round(duration_s * 1000, 1), "input_tokens": usage.get("input_tokens", 0),
            "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0), "stop_reason": access.stop_reason,
            "error": access.error, "failovers": access.failovers,
        }
        self._next = (self._next + 1) % RECENT
        if session:
            self._add_to_session(session, access, now)

    def _count_second(self, second: int, failed: bool, failovers: int) -> None:
        slot = second % WINDOW_S
        if self._stamp[slot] != second:
            self._stamp[slot], self._requests[slot], self._errors[slot], self._failovers[slot] = second, 0, 0, 0
        self._requests[slot] += 1
        self._errors[slot] += failed
        self._failovers[slot] += failovers

    def _count_minute(self, minute: int, model: str, upstream: str, tokens: int, first_event_s: float | None) -> None:
        counts = self._minutes.get(minute)
        if counts is None:
            counts = self._minutes[minute] = ({}, {}, {})
            while len(self._minutes) > WINDOW_S // 60 + 1:
                self._minutes.popitem(last=False)
        by_model, by_upstream, first_events = counts
        if tokens:
            by_model[model] = by_model.get(model, 0) + tokens
            by_upstream[upstream] = by_upstream.get(upstream, 0) + tokens
        if first_event_s is not None:
            buckets = first_events.get(model)
            if buckets is None:
                buckets = first_events[model] = [0] * (len(FIRST_EVENT_MS) + 1)
            buckets[bisect.bisect_left(FIRST_EVENT_MS, first_event_s * 1000)] += 1

    def _add_to_session(self, key: str, access: AccessRecord, now: float) -> None:
        found = self.sessions.pop(key, None) or Session(client=access.client)
        usage = access.usage
        found.requests += 1
        found.input_tokens += usage.get("input_tokens", 0)
        found.cache_read_input_tokens += usage.get("cache_read_input_tokens", 0)
        found.cache_creation_input_tokens += usage.get("cache_creation_input_tokens", 0)
        found.output_tokens += usage.get("output_tokens", 0)
        found.failovers += access.failovers
        found.last_target, found.last_upstream = access.target or "", access.upstream or ""
        found.updated = now
        self.sessions[key] = found  # (the newest last: the oldest go first)
        self.changed_sessions.add(key)
        while self.sessions and (len(self.sessions) > SESSIONS
                                 or next(iter(self.sessions.values())).updated < now - SESSION_LIFE_S):
            self.sessions.popitem(last=False)

    def session(self, key: str, now: float) -> Session | None:
        found = self.sessions.get(key)
        return found if found is not None and found.updated >= now - SESSION_LIFE_S else None

    def part(self, now: float) -> dict[str, Any]:
        """This process's share, as JSON data: sparse per-second counts, the
        minutes of the window, the recent requests (newest first)."""
        first = int(now) - WINDOW_S + 1
        seconds = [[stamp, self._requests[slot], self._errors[slot], self._failovers[slot]]
                   for slot, stamp in enumerate(self._stamp) if stamp >= first]
        minutes = [[minute, by_model, by_upstream, first_events]
                   for minute, (by_model, by_upstream, first_events) in self._minutes.items()
                   if minute >= first // 60]
        newest_first = (self._recent[(self._next - 1 - back) % RECENT] for back in range(RECENT))
        recent = [row for row in newest_first if row is not None]
        return {"at": round(now, 3), "active_streams": self.active_streams, "seconds": seconds, "minutes": minutes,
                "recent": recent}


def merge(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' parts as one: counts added, recent requests
    interleaved by time (the newest RECENT)."""
    seconds: dict[int, list[int]] = {}
    minutes: dict[int, tuple[dict[str, int], dict[str, int], dict[str, list[int]]]] = {}
    recent: list[dict[str, Any]] = []
    active = processes = 0
    at = 0.0
    for part in parts:
        processes += 1
        at = max(at, part["at"])
        active += part["active_streams"]
        for stamp, *counts in part["seconds"]:
            into = seconds.setdefault(stamp, [0, 0, 0])
            for index, count in enumerate(counts):
                into[index] += count
        for minute, by_model, by_upstream, first_events in part["minutes"]:
            into_model, into_upstream, into_first = minutes.setdefault(minute, ({}, {}, {}))
            _add(into_model, by_model)
            _add(into_upstream, by_upstream)
            for model, buckets in first_events.items():
                into_first[model] = [a + b for a, b in zip(into_first.get(model, [0] * len(buckets)), buckets)]
        recent.extend(part["recent"])
    recent.sort(key=lambda row: row["time"], reverse=True)
    return {"at": at, "processes": processes, "active_streams": active,
            "seconds": [[stamp, *counts] for stamp, counts in sorted(seconds.items())],
            "minutes": [[minute, *counts] for minute, counts in sorted(minutes.items())], "recent": recent[:RECENT]}


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for name, count in counts.items():
        into[name] = into.get(name, 0) + count


def percentile(buckets: list[int], fraction: float) -> float | None:
    """The bucket bound (ms) under which ``fraction`` of the first events fell
    (the last bucket: past the last bound, reported as that bound)."""
    total = sum(buckets)
    if not total:
        return None
    wanted, seen = fraction * total, 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= wanted:
            return float(FIRST_EVENT_MS[min(index, len(FIRST_EVENT_MS) - 1)])
    return float(FIRST_EVENT_MS[-1])


def charts(merged: dict[str, Any], step_s: int = 10) -> dict[str, Any]:
    """The series the page draws, from merged parts: requests, errors and
    failovers per second (averaged over ``step_s``), tokens per minute by model
    and by upstream, first-event p50/p95 per model and minute, and over the
    whole window."""
    end = int(merged["at"])
    start = end - WINDOW_S + 1
    steps = WINDOW_S // step_s
    rates = [[0.0] * steps for _ in range(3)]
    for stamp, *counts in merged["seconds"]:
        index = (stamp - start) // step_s
        if 0 <= index < steps:
            for series, count in zip(rates, counts):
                series[index] += count / step_s
    minute_stamps = [minute * 60 for minute, *_ in merged["minutes"]]
    by_model: dict[str, list[int]] = {}
    by_upstream: dict[str, list[int]] = {}
    first_p50: dict[str, list[float | None]] = {}
    first_p95: dict[str, list[float | None]] = {}
    whole: dict[str, list[int]] = {}
    count = len(merged["minutes"])
    for index, (_, models, upstreams, first_events) in enumerate(merged["minutes"]):
        for name, tokens in models.items():
            by_model.setdefault(name, [0] * count)[index] = tokens
        for name, tokens in upstreams.items():
            by_upstream.setdefault(name, [0] * count)[index] = tokens
        for model, buckets in first_events.items():
            first_p50.setdefault(model, [None] * count)[index] = percentile(buckets, 0.5)
            first_p95.setdefault(model, [None] * count)[index] = percentile(buckets, 0.95)
            whole[model] = [a + b for a, b in zip(whole.get(model, [0] * len(buckets)), buckets)]
    return {
        "traffic": {"time": [start + i * step_s for i in range(steps)], "requests": rates[0], "errors": rates[1],
                    "failovers": rates[2]},
        "tokens": {"time": minute_stamps, "by_model": by_model, "by_upstream": by_upstream},
        "first_event": {"time": minute_stamps, "p50": first_p50, "p95": first_p95,
                        "window": {model: {"p50": percentile(b, 0.5), "p95": percentile(b, 0.95), "count": sum(b)}
                                   for model, b in whole.items()}},
    }
