"""Client limits, in process (pure): requests and tokens over the last minute,
and tokens since 00:00 UTC against a daily budget.

``check`` is asked before a request goes upstream; ``spent`` is told what the
request used once it is over (the upstream's usage, or the proxy's estimate).
The minute is a sliding window: 60 requests a minute means no more than 60
in any 60 seconds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from ..config.clients import ClientSpec

WINDOW_S = 60.0
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a client's request may not go now, and for how long."""

    kind: str  # "rpm", "tpm" or "daily_tokens"
    message: str
    retry_after: int  # seconds
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    """A client's counts now: the last minute's requests and tokens (with when
    the oldest of each was counted), and the tokens of the UTC day."""

    requests: int = 0
    first_request: float | None = None
    tokens: int = 0
    first_token: float | None = None
    today: int = 0


def refusal(client: ClientSpec, window: Window, now: float) -> Refusal | None:
    """Why the client may not send a request now, if it may not (the budget,
    then requests, then tokens); the same test the shared store's script makes."""
    headers = ratelimit_headers(client, window, now)
    if client.daily_tokens is not None and window.today >= client.daily_tokens:
        wait = max(1, int((now // DAY_S + 1) * DAY_S - now))
        return Refusal("daily_tokens", f"client {client.name} has used its daily budget of "
                       f"{client.daily_tokens} tokens; it resets at 00:00 UTC, in {_span(wait)}", wait, headers)
    if client.rpm is not None and window.requests >= client.rpm:
        wait = max(1, int((window.first_request or now) + WINDOW_S - now + 0.999))
        return Refusal("rpm", f"client {client.name} is over its limit of {client.rpm} requests per minute",
                       wait, headers)
    if client.tpm is not None and window.tokens >= client.tpm:
        wait = max(1, int((window.first_token or now) + WINDOW_S - now + 0.999))
        return Refusal("tpm", f"client {client.name} is over its limit of {client.tpm} tokens per minute",
                       wait, headers)
    return None


def ratelimit_headers(client: ClientSpec, window: Window, now: float) -> tuple[tuple[str, str], ...]:
    """Anthropic's ``anthropic-ratelimit-*`` headers for the client's limits."""
    headers: list[tuple[str, str]] = []
    if client.rpm is not None:
        headers += [("anthropic-ratelimit-requests-limit", str(client.rpm)),
                    ("anthropic-ratelimit-requests-remaining", str(max(0, client.rpm - window.requests))),
                    ("anthropic-ratelimit-requests-reset", _rfc3339(_reset(window.first_request, now)))]
    if client.tpm is not None:
        headers += [("anthropic-ratelimit-tokens-limit", str(client.tpm)),
                    ("anthropic-ratelimit-tokens-remaining", str(max(0, client.tpm - window.tokens))),
                    ("anthropic-ratelimit-tokens-reset", _rfc3339(_reset(window.first_token, now)))]
    return tuple(headers)


def _reset(first: float | None, now: float) -> float:
    return first + WINDOW_S if first is not None else now


@dataclass(slots=True)
class _Counts:
    requests: deque[float] = field(default_factory=deque)  # when each request of the last minute began
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (when, how many) of the last minute
    tokens_sum: int = 0  # what ``tokens`` holds (kept as it changes: no check adds it up)
    day: int = 0  # the UTC day ``today`` counts
    today: int = 0  # tokens spent that day

    def window(self) -> Window:
        return Window(len(self.requests), self.requests[0] if self.requests else None,
                      self.tokens_sum, self.tokens[0][0] if self.tokens else None, self.today)


class Limits:
    """The limits of one process (and of every instance's when the store is away)."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock  # wall-clock seconds: the daily budget resets at 00:00 UTC
        self._counts: dict[str, _Counts] = {}

    def check(self, client: ClientSpec) -> tuple[Refusal | None, tuple[tuple[str, str], ...]]:
        """(the refusal, if the request may not go now; the rate-limit headers to
        send either way). A request that may go is counted at once."""
        now = self._clock()
        counts = self._counts.setdefault(client.name, _Counts())
        expire(counts, now)
        refused = refusal(client, counts.window(), now)
        if refused is not None:
            return refused, refused.headers
        if client.rpm is not None:
            counts.requests.append(now)
        return None, ratelimit_headers(client, counts.window(), now)

    def spent(self, client: ClientSpec, tokens: int) -> None:
        """A request of the client's is over, having used ``tokens`` (input and output)."""
        if tokens <= 0 or not (client.tpm or client.daily_tokens):
            return
        now = self._clock()
        counts = self._counts.setdefault(client.name, _Counts())
        expire(counts, now)
        if client.tpm is not None:
            counts.tokens.append((now, tokens))
            counts.tokens_sum += tokens
        counts.today += tokens

def expire(counts: _Counts, now: float) -> None:
    """What left the minute goes; a new UTC day starts its budget at 0."""
    since = now - WINDOW_S
    while counts.requests and counts.requests[0] <= since:
        counts.requests.popleft()
    while counts.tokens and counts.tokens[0][0] <= since:
        counts.tokens_sum -= counts.tokens.popleft()[1]
    day = int(now // DAY_S)
    if day != counts.day:
        counts.day, counts.today = day, 0


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds + 0.999))


def _span(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"
