"""Usage per client, model, upstream and UTC day, kept 31 days, in process (pure)."""

from __future__ import annotations

import time
from dataclasses import dataclass

DAYS_KEPT = 31
FIELDS = ("requests", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass(frozen=True, slots=True)
class UsageKey:
    day: str  # "2026-12-05", UTC
    client: str
    model: str  # as the client asked for it
    upstream: str


def newest_first(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda row: (row["date"], row["client"], row["model"], row["upstream"]), reverse=True)


def day_of(seconds: float) -> str:
    """The UTC day of a wall-clock time, as usage rows name it."""
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def counts_of(usage: dict[str, int]) -> list[int]:
    """One request's counts in FIELDS' order, from an answer's usage."""
    counts = [1]
    for name in FIELDS[1:]:
        value = usage.get(name)
        counts.append(value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0)
    return counts


class UsageLedger:
    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._rows: dict[UsageKey, list[int]] = {}

    def record(self, client: str, model: str, upstream: str, counts: list[int]) -> None:
        """One request's ``counts`` (``counts_of``) added to its row."""
        now = self._clock()
        key = UsageKey(day_of(now), client, model, upstream)
        row = self._rows.get(key)
        if row is None:
            self._prune(now)
            row = self._rows[key] = [0] * len(FIELDS)
        for index, count in enumerate(counts):
            row[index] += count

    def rows(self, client: str | None = None) -> list[dict[str, object]]:
        """The ledger, newest day first (one client's rows, or everyone's)."""
        self._prune(self._clock())
        return newest_first([{"date": key.day, "client": key.client, "model": key.model, "upstream": key.upstream,
                              **dict(zip(FIELDS, row))} for key, row in self._rows.items()
                             if client is None or key.client == client])

    def _prune(self, now: float) -> None:
        oldest = day_of(now - (DAYS_KEPT - 1) * 86400)
        for key in [key for key in self._rows if key.day < oldest]:
            del self._rows[key]
