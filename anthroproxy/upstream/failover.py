"""Failover: candidates, what moves on, cooling, replicas (pure; time passed in).

A route's choices expand into candidates: for each choice, each replica of its
upstream, and for each replica each key. A request tries them in turn, each at
most once, and moves to the next only before any content reached the client:

    failure                                             verdict
    connection failure (refused, DNS, TLS), a timeout   next candidate
    before the answer, 408, 429, 500, 502, 503, 504,
    529, a stream that fails before its first content
    (its error chunk's code, if it gives one, is taken
    as the status)
    401, 403 to a configured credential                 the same choice with the upstream's other
                                                        keys, then the rest; no other key: stop
    402 to a configured credential (no credit left)     next candidate
    401, 402, 403 to the client's own key, and a 403    stop: nothing cools
    for flagged content
    400, 404, 413, 422, a too-long prompt, the rest     stop: the client's or the config's mistake

A candidate that failed cools, and is skipped meanwhile:

    what failed              what cools                               for how long
    a connection, a timeout  the replica's URL (a silence after       cooldown (30 s)
                             content: as "any other failure")
    429                      (upstream, URL, key, target model)       its retry-after (30 s if none, at
                             (the client's own key: nothing)          most 10 min)
    401, 402                 (upstream, key)                          KEY_OUT (an hour), one ERROR line
    403                      (upstream, key, target model)            KEY_OUT, one ERROR line
    any other failure        (upstream, URL, key, target model)       cooldown

When every candidate is cooling, the one that cools down first is tried rather
than none. ``after_failure`` is the whole decision after a failure: the
verdict, what cools, and which candidates follow in which order. The order of
replicas and keys is the balancer's (balancer.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ..config.routes import Route
from ..config.spec import UpstreamSpec, display_url
from ..core.errors import UpstreamError, UpstreamHTTPError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable

MOVES_ON = frozenset({408, 429, 500, 502, 503, 504, 529})
KEY_REFUSED = frozenset({401, 403})
NO_CREDIT = 402
COOLDOWN_S = 30.0
RETRY_AFTER_DEFAULT_S = 30.0
RETRY_AFTER_MAX_S = 600.0
KEY_OUT_S = 3600.0
# OpenRouter's 403 for a prompt its moderation flagged: the content's fault, not the key's.
FLAGGED = ("flagged", "moderation")

NEXT, NEXT_KEY, STOP = "next", "next_key", "stop"


@dataclass(frozen=True, slots=True)
class Candidate:
    upstream: str
    url: str
    key: int | None  # the index of its key in the upstream's keys; None: it has none
    target: str
    choice: int = 0  # 0 the primary, 1... the fallbacks
    protocol: str = "chat"  # what the request goes in: the choice's, else its upstream's

    def __str__(self) -> str:
        key = "" if self.key is None else f" key {self.key + 1}"
        via = "" if self.protocol == "chat" else f", {self.protocol}"
        return f"{self.target}@{self.upstream} ({display_url(self.url)}{key}{via})"


def status_of(error: UpstreamError) -> int | None:
    """The status a failure counts as: the upstream's HTTP status, else the code
    of the error chunk in its stream (502 when it gave none); None for a
    failure with no status (a connection, a timeout, a malformed answer)."""
    if isinstance(error, UpstreamHTTPError):
        return error.upstream_status or error.status
    return None


def verdict(error: UpstreamError, candidate: Candidate, *, clients_key: bool = False) -> str:
    """Whether a failure before any content moves on (see the module's table).
    ``clients_key``: the request carried the client's own key (an upstream with
    no credential of its own), so a refusal is the client's to see."""
    if isinstance(error, (UpstreamUnreachable, UpstreamTimeout, UpstreamProtocolError)):
        return NEXT
    if not isinstance(error, UpstreamHTTPError):
        return STOP
    if error.status == 400 and error.upstream_status != 400:
        return STOP  # a too-long prompt, whatever status the upstream gave it
    status = status_of(error)
    in_stream = error.upstream_status is None
    if status in MOVES_ON or (in_stream and status >= 500):
        return NEXT
    if status in KEY_REFUSED or status == NO_CREDIT:
        if clients_key or flagged(error):
            return STOP  # the client's own key, or the client's content: nothing to try instead
        return NEXT if status == NO_CREDIT else NEXT_KEY
    return STOP


def flagged(error: UpstreamError) -> bool:
    return status_of(error) == 403 and any(word in error.message.lower() for word in FLAGGED)


class Cooling:
    """What is cooling, until when (trio's clock, or any clock passed in)."""

    def __init__(self, cooldown_s: float = COOLDOWN_S) -> None:
        self.cooldown_s = cooldown_s
        self.urls: dict[str, float] = {}
        self.keys: dict[tuple[str, int | None], float] = {}  # a key refused for every model
        self.key_targets: dict[tuple[str, int | None, str], float] = {}  # a key refused for one model
        self.targets: dict[tuple[str, str, int | None, str], float] = {}  # (upstream, url, key, target)
        # Told of whatever starts cooling longer (table's name, item, until): the shared store (state/shared.py).
        self.listener: Callable[[str, object, float], None] | None = None
        self.reasons: dict[tuple[str, object], str] = {}  # why each item cools (the dashboard), no message text

    def until(self, candidate: Candidate, now: float) -> float:
        """When the candidate stops cooling; ``now`` or earlier: it is not."""
        upstream, key, target = candidate.upstream, candidate.key, candidate.target
        return max(self.urls.get(candidate.url, 0.0), self.keys.get((upstream, key), 0.0),
                   self.key_targets.get((upstream, key, target), 0.0),
                   self.targets.get((upstream, candidate.url, key, target), 0.0))

    def cooling(self, candidate: Candidate, now: float) -> bool:
        return self.until(candidate, now) > now

    def url_cooling(self, url: str, now: float) -> bool:
        """Whether a replica cools for every key and model (it could not be reached)."""
        return self.urls.get(url, 0.0) > now

    def failed(self, candidate: Candidate, error: UpstreamError, now: float, *, clients_key: bool = False,
               after_content: bool = False) -> bool:
        """Cool what the failure says, as the module's table does. ``clients_key``:
        the request carried the client's own key (an upstream with none), whose
        refusals and rate limit are that client's alone. ``after_content``: the
        candidate had answered, so a silence cools its model, not its replica.
        True when a credential was newly taken out."""
        if isinstance(error, UpstreamUnreachable) or (isinstance(error, UpstreamTimeout) and not after_content):
            self._cool("urls", candidate.url, now + self.cooldown_s, error.kind)
            return False
        status = status_of(error)
        upstream, key, target = candidate.upstream, candidate.key, candidate.target
        if status in KEY_REFUSED or status == NO_CREDIT:
            if clients_key or flagged(error):
                return False
            name, item = (("key_targets", (upstream, key, target)) if status == 403 else ("keys", (upstream, key)))
            newly = getattr(self, name).get(item, 0.0) <= now
            self._cool(name, item, now + KEY_OUT_S, f"HTTP {status}: key taken out")
            return newly
        if status == 429 and clients_key:
            return False
        seconds = retry_after(error) if status == 429 else self.cooldown_s
        self._cool("targets", (upstream, candidate.url, key, target), now + seconds,
                   f"HTTP {status}" if status is not None else error.kind)
        return False

    TABLES = ("urls", "keys", "key_targets", "targets")

    def _cool(self, name: str, item: object, until: float, why: str) -> None:
        if self.apply(name, item, until, why) and self.listener is not None:
            self.listener(name, item, until)

    def apply(self, name: str, item: object, until: float, why: str = "seen by another instance") -> bool:
        """Cool ``item`` of table ``name`` until then (what another instance saw,
        too); whether that is longer than it cooled."""
        if name not in self.TABLES:
            return False
        table = getattr(self, name)
        if until <= table.get(item, 0.0):
            return False
        table[item] = until
        self.reasons[(name, item)] = why
        return True

    def count(self, now: float) -> int:
        """How many things cool now (the gauge)."""
        return sum(1 for table in (self.urls, self.keys, self.key_targets, self.targets)
                   for until in table.values() if until > now)

    def upstream_state(self, spec: UpstreamSpec, now: float) -> dict[str, object]:
        """For /health: ok, or what cools in this upstream and until when (seconds from now)."""
        cooling: dict[str, float] = {}

        def add(name: str, until: float) -> None:
            if until > now:
                cooling[name] = max(cooling.get(name, 0.0), round(until - now, 1))

        def named(target: str | None, url: str | None, key: int | None) -> str:
            parts = [target] if target else []
            if url is not None and len(spec.urls) > 1:
                parts.append(f"at {display_url(url)}")
            if key is not None and (len(spec.keys) > 1 or not target):
                parts.append(f"key {key + 1}" if not parts else f"with key {key + 1}")
            return " ".join(parts)

        for url in spec.urls:
            add(display_url(url), self.urls.get(url, 0.0))
        for (upstream, key), until in self.keys.items():
            if upstream == spec.name:
                add(named(None, None, key), until)
        for (upstream, key, target), until in self.key_targets.items():
            if upstream == spec.name:
                add(named(target, None, key), until)
        for (upstream, url, key, target), until in self.targets.items():
            if upstream == spec.name:
                add(named(target, url, key), until)
        return {"state": "cooling", "cooling_s": cooling} if cooling else {"state": "ok"}

    def board(self, spec: UpstreamSpec, now: float) -> dict[str, object]:
        """For the dashboard: each replica, ok or cooling (seconds left and
        why), and what else cools in this upstream: keys taken out, models."""
        def entry(name: str, item: object, until: float, **what: object) -> dict[str, object]:
            return {**what, "seconds": round(until - now, 1), "why": self.reasons.get((name, item), "")}

        replicas = [entry("urls", url, self.urls[url], url=display_url(url)) if self.urls.get(url, 0.0) > now
                    else {"url": display_url(url), "seconds": 0, "why": ""} for url in spec.urls]
        keys = [entry("keys", item, until, key=item[1] + 1 if item[1] is not None else None)
                for item, until in self.keys.items() if item[0] == spec.name and until > now]
        models = [entry("key_targets", item, until, model=item[2], key=None if item[1] is None else item[1] + 1)
                  for item, until in self.key_targets.items() if item[0] == spec.name and until > now]
        models += [entry("targets", item, until, model=item[3], key=None if item[2] is None else item[2] + 1,
                         url=display_url(item[1]) if len(spec.urls) > 1 else None)
                   for item, until in self.targets.items() if item[0] == spec.name and until > now]
        cooling = any(r["seconds"] for r in replicas) or keys or models
        return {"state": "cooling" if cooling else "ok", "protocol": spec.protocol, "replicas": replicas,
                "keys": len(spec.keys), "keys_out": keys, "models": models}

    def forget_expired(self, now: float) -> None:
        for name in self.TABLES:
            table = getattr(self, name)
            for key in [key for key, until in table.items() if until <= now]:
                del table[key]
                self.reasons.pop((name, key), None)


def retry_after(error: UpstreamError) -> float:
    """Seconds an upstream's 429 asks for, in (0, RETRY_AFTER_MAX_S];
    RETRY_AFTER_DEFAULT_S when it gives none."""
    stated = stated_retry_after(error)
    return RETRY_AFTER_DEFAULT_S if stated is None else min(stated, RETRY_AFTER_MAX_S)


def stated_retry_after(error: UpstreamError) -> float | None:
    """What ``retry-after-ms``, then ``retry-after`` (in seconds) says, if either does."""
    headers = dict(error.headers)
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
        if seconds > 0:
            return seconds
    return None


def candidates(route: Route, specs: Mapping[str, UpstreamSpec], cooling: Cooling, *,
               replicas: Callable[[UpstreamSpec], list[str]], keys: Callable[[UpstreamSpec], list[int | None]],
               now: float) -> list[Candidate]:
    """Every candidate of the route, in the order to try them (each upstream's
    ``replicas`` and ``keys`` in the order given): cooling ones left out,
    unless all cool, then only the one that cools down first."""
    expanded: list[Candidate] = []
    seen: set[tuple[str, str, int | None, str | None, str]] = set()  # (a choice listed twice is tried once)
    for index, choice in enumerate(route.choices):
        spec = specs[choice.upstream]
        protocol = choice.protocol or spec.protocol
        its_keys = keys(spec)
        for url in replicas(spec):
            for key in its_keys:
                if (choice.upstream, url, key, choice.target, protocol) not in seen:
                    seen.add((choice.upstream, url, key, choice.target, protocol))
                    expanded.append(Candidate(choice.upstream, url, key, choice.target or "", index, protocol))
    ready = [candidate for candidate in expanded if not cooling.cooling(candidate, now)]
    if ready or not expanded:
        return ready
    return [min(expanded, key=lambda candidate: cooling.until(candidate, now))]


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows a candidate's failure."""

    following: tuple[Candidate, ...]  # the candidates to try next, in order; none: the request stops
    answer: UpstreamError  # what the client gets when it stops
    key_out: bool = False  # a credential was taken out just now (worth one ERROR line)


def after_failure(error: UpstreamError, failed: Candidate, *, remaining: Sequence[Candidate],
                  errors: Sequence[UpstreamError], cooling: Cooling, now: float, clients_key: bool = False,
                  after_content: bool = False) -> Decision:
    """The whole decision after ``failed`` failed with ``error`` (the last of
    ``errors``, the request's failures so far): cool what the failure says
    (the module's tables), then which of the ``remaining`` candidates follow,
    in which order.

    - a failure that stops (the client's or the config's mistake), or one after
      content reached the client: none follow; the client gets this error;
    - a refused key: the same choice with the upstream's other keys first, then
      the rest of the route; no other key: none follow;
    - else the rest, less what started cooling meanwhile; if nothing is left,
      the client gets ``last_failure(errors)``.
    ``clients_key``: the request carried the client's own key.
    """
    outcome = verdict(error, failed, clients_key=clients_key)
    key_out = outcome != STOP and cooling.failed(failed, error, now, clients_key=clients_key,
                                                 after_content=after_content)
    if outcome == STOP or after_content:
        return Decision((), error, key_out)
    following = [candidate for candidate in remaining if not cooling.cooling(candidate, now)]
    if outcome == NEXT_KEY:
        same = (failed.upstream, failed.target)
        keys = [candidate for candidate in following if (candidate.upstream, candidate.target) == same
                and candidate.key is not None and candidate.key != failed.key]
        if not keys:
            return Decision((), error, key_out)
        following = keys + [candidate for candidate in following if candidate not in keys]
    if not following:
        return Decision((), last_failure(errors), key_out)
    return Decision(tuple(following), error, key_out)


def last_failure(errors: Sequence[UpstreamError]) -> UpstreamError:
    """What the client gets when every candidate failed: the last failure; a
    429 with the shortest ``retry-after`` any of the 429s stated."""
    last = errors[-1]
    if status_of(last) != 429:
        return last
    stated = [(seconds, error) for error in errors if status_of(error) == 429
              and (seconds := stated_retry_after(error)) is not None]
    if stated:
        soonest = min(stated, key=lambda pair: pair[0])[1]
        retry_headers = {"retry-after", "retry-after-ms"}
        last.headers = (*(h for h in last.headers if h[0] not in retry_headers),
                        *(h for h in soonest.headers if h[0] in retry_headers))
    return last
