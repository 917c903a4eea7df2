"""One request's way through its route: the candidates in turn, each at most
once, moving on as upstream/failover.py says, and the translation each gets.

    dispatch = Dispatch.start(ctx, body)
    for candidate in dispatch:
        try:
            ... send to candidate, read its answer ...
        except UpstreamError as error:
            dispatch.failed(candidate, error)  # raises when the request must stop
            continue
        dispatch.succeeded(candidate)
        break

Handlers call ``failed`` only while nothing of the answer's content reached the
client: after that, a failure is the client's (an error event), never replayed
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import trio

from ..errors import UpstreamError, redact
from ..logs import log
from ..translate.fallback import leave_out_remembered
from ..translate.request import Translation, to_openai
from ..upstream.failover import NEXT_KEY, STOP, Candidate, failure_reason, last_failure, status_of, verdict
from ..upstream.routes import Route, conversation_of, needs_of
from .context import RequestContext


@dataclass(eq=False)
class Dispatch:
    ctx: RequestContext
    body: dict[str, Any]
    route_name: str
    route: Route
    conversation: str | None  # None: no replicas to stick to
    candidates: list[Candidate]
    counting: bool = False
    errors: list[UpstreamError] = field(default_factory=list)
    _translations: dict[tuple[str, str], Translation] = field(default_factory=dict)

    @classmethod
    def start(cls, ctx: RequestContext, body: dict[str, Any], *, counting: bool = False) -> Dispatch:
        """The route the request takes, and its candidates in order."""
        routes = ctx.config.routes_for(body["model"])
        # (Walking a 1 MiB request takes a few tenths of a millisecond: only where a scenario or a replica asks.)
        route_name, route = routes.choose(needs_of(body)) if routes.has_scenarios else ("default", routes.default)
        conversation = conversation_of(ctx.headers, body) if ctx.upstreams.has_replicas(route) else None
        candidates = ctx.upstreams.plan(route, conversation, trio.current_time())
        ctx.access.model, ctx.access.model_route = body["model"], route_name
        dispatch = cls(ctx, body, route_name, route, conversation, candidates, counting)
        dispatch._note(candidates[0])
        return dispatch

    def __iter__(self) -> Iterator[Candidate]:
        while self.candidates:
            candidate = self.candidates.pop(0)
            self._note(candidate)
            self.ctx.upstreams.balancer.took(candidate, self.ctx.upstreams.specs[candidate.upstream])
            yield candidate

    @property
    def first(self) -> Candidate:
        return self.candidates[0]

    def translation(self, candidate: Candidate) -> Translation:
        """The request as ``candidate``'s target gets it (the same for its replicas
        and keys), less what that (upstream, model) refused before."""
        key = (candidate.upstream, candidate.target)
        if key not in self._translations:
            config = self.ctx.config
            source = ({**self.body, "max_tokens": self.body.get("max_tokens", 1), "stream": False}
                      if self.counting else self.body)
            translation = to_openai(source, candidate.target, config.capabilities(candidate.target, candidate.upstream),
                                    keep_attribution=config.attribution_block == "keep")
            for refused in self.ctx.upstreams.refused_by(candidate):
                leave_out_remembered(translation.payload, refused)
            self._translations[key] = translation
        return self._translations[key]

    def failed(self, candidate: Candidate, error: UpstreamError) -> None:
        """Note a candidate's failure before any content; raise when the request
        must stop (the client's or the config's mistake, or no candidate left)."""
        ctx, now = self.ctx, trio.current_time()
        self.errors.append(error)
        clients_key = self._clients_key(candidate)
        outcome = verdict(error, candidate, clients_key=clients_key)
        self._count(candidate, error, cools=outcome != STOP, clients_key=clients_key, now=now)
        if outcome == STOP:
            raise error
        following = [c for c in self.candidates if not ctx.upstreams.cooling.cooling(c, now)]
        if outcome == NEXT_KEY:  # the same choice with the upstream's other keys, then the rest of the route
            keys = [c for c in following if (c.upstream, c.target) == (candidate.upstream, candidate.target)
                    and c.key is not None and c.key != candidate.key]
            if not keys:
                raise error
            following = keys + [c for c in following if c not in keys]
        self.candidates = following
        if not following:
            raise last_failure(self.errors)
        ctx.metrics.child(ctx.metrics.failovers, failure_reason(error)).inc()
        ctx.access.failovers += 1
        log.warning("request %s: failing over from %s to %s: it %s: %s", ctx.access.request_id, candidate,
                    following[0], error.what, error.message)

    def failed_after_content(self, candidate: Candidate, error: UpstreamError) -> None:
        """A failure once content went out: the client gets it (an error event),
        and the candidate is counted and cools as before content (a silence
        then cools that model, not the whole replica: it did answer)."""
        clients_key = self._clients_key(candidate)
        self._count(candidate, error, cools=verdict(error, candidate, clients_key=clients_key) != STOP,
                    clients_key=clients_key, now=trio.current_time(), after_content=True)

    def _clients_key(self, candidate: Candidate) -> bool:
        """Whether the request to ``candidate`` carried the client's own key."""
        return candidate.key is None and self.ctx.upstreams.passes_clients_key(candidate, self.ctx.headers)

    def _count(self, candidate: Candidate, error: UpstreamError, *, cools: bool, clients_key: bool, now: float,
               after_content: bool = False) -> None:
        ctx = self.ctx
        redact(error, ctx.secrets)
        ctx.access.upstream_failed(error.kind)
        ctx.metrics.child(ctx.metrics.upstream_requests, candidate.upstream, error.kind).inc()
        if cools and ctx.upstreams.cooling.failed(candidate, error, now, clients_key=clients_key,
                                                  after_content=after_content):
            key = "its credential" if candidate.key is None else f"key {candidate.key + 1}"
            log.error("%s refused %s of upstream %s (%s): it is not used %sfor an hour", candidate.target, key,
                      candidate.upstream, error.message, f"for {candidate.target} " if status_of(error) == 403 else "")

    def succeeded(self, candidate: Candidate) -> None:
        self.ctx.metrics.child(self.ctx.metrics.upstream_requests, candidate.upstream, "ok").inc()
        self.ctx.upstreams.balancer.served(self.conversation, candidate.url)

    def _note(self, candidate: Candidate) -> None:
        self.ctx.access.target, self.ctx.access.upstream = candidate.target, candidate.upstream
