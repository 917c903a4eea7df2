"""One request's way through its route: the candidates in turn, each at most
once, moving on as upstream/failover.py decides, each sent in its own
protocol (upstream/protocols/). Nothing here asks which protocol that is.

    dispatch = Dispatch.start(ctx, body)
    for candidate in dispatch:
        protocol, prepared = dispatch.prepared(candidate)
        try:
            answer = await protocol.open(dispatch.call(candidate), prepared)
            ... read the answer ...
        except UpstreamError as error:
            dispatch.failed(candidate, error)  # raises when the request must stop
            continue
        dispatch.succeeded(candidate)
        break

Handlers call ``failed`` only while nothing of the answer's content reached the
client: after that, a failure is the client's (an error event), never replayed
elsewhere (``failed_after_content``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import trio

from ..config.routes import Route, needs_of
from ..core.errors import ProxyError, RateLimited, UpstreamError, redact
from ..observe.logs import log
from ..state.admission import Admission
from ..upstream.failover import Candidate, Decision, last_failure, status_of
from ..upstream.protocols import Call, Prepared, SwitchProtocol, UpstreamProtocol
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
    admission: Admission | None = None  # a limited client's, decided before the first upstream call
    errors: list[UpstreamError] = field(default_factory=list)
    _prepared: dict[tuple[str, str, str], Prepared] = field(default_factory=dict)

    @classmethod
    def start(cls, ctx: RequestContext, body: dict[str, Any], *, counting: bool = False,
              admission: Admission | None = None) -> Dispatch:
        """The route the request takes, and its candidates in order."""
        routes = ctx.routes(body["model"])
        # (Walking a 1 MiB request takes a few tenths of a millisecond: only where a scenario or a replica asks.)
        route_name, route = routes.choose(needs_of(body)) if routes.has_scenarios else ("default", routes.default)
        conversation = ctx.upstreams.conversation(route, ctx.headers, body)
        candidates = ctx.upstreams.plan(route, conversation, trio.current_time())
        ctx.access.model, ctx.access.model_route = body["model"], route_name
        dispatch = cls(ctx, body, route_name, route, conversation, candidates, counting, admission)
        dispatch._note(candidates[0])
        return dispatch

    async def admitted(self) -> None:
        """Before the first upstream call: the client's limits let the request
        go (the store's answer, asked at admission, read now), or it stops
        here with a 429; the limits' state goes out as anthropic-ratelimit-*."""
        admission, self.admission = self.admission, None
        if admission is None:
            return
        refusal, headers = await admission.decided()
        if refusal is not None:
            raise RateLimited(refusal.message, headers=(("retry-after", str(refusal.retry_after)), *headers))
        self.ctx.responder.headers.extend(headers)

    def __iter__(self) -> Iterator[Candidate]:
        while self.candidates:
            candidate = self.candidates.pop(0)
            self._note(candidate)
            self.ctx.upstreams.took(candidate)
            yield candidate

    @property
    def first(self) -> Candidate:
        return self.candidates[0]

    def prepared(self, candidate: Candidate) -> tuple[UpstreamProtocol, Prepared]:
        """The candidate's protocol, and the request as it gets it (the same for
        every replica and key of its upstream and target)."""
        protocol = self.ctx.upstreams.protocol(candidate)
        key = (protocol.name, candidate.upstream, candidate.target)
        found = self._prepared.get(key)
        if found is None:
            try:
                found = self._prepared[key] = protocol.prepare(self.body, candidate, counting=self.counting)
            except ProxyError as refused:
                if not self.errors:
                    raise
                # (A fallback that cannot carry the request, a Files API source say: the client hears why
                # the candidate that could carry it failed, not why this one cannot.)
                log.warning("request %s: %s cannot take the request (%s): the request stops at the failure before",
                            self.ctx.access.request_id, candidate, refused.message)
                raise last_failure(self.errors) from refused
            for note in () if self.counting else found.notes:  # (Claude Code counts dozens at start-up: not those)
                log.warning("request %s: %s", self.ctx.access.request_id, note)
        return protocol, found

    def call(self, candidate: Candidate) -> Call:
        """What the candidate's protocol is handed to send the request."""
        return self.ctx.upstreams.call(candidate, self.ctx.headers, self.ctx)

    def read_timeout(self, candidate: Candidate) -> float:
        return self.ctx.upstreams.read_timeout(candidate)

    def switched(self, candidate: Candidate, switch: SwitchProtocol) -> None:
        """The candidate's model is served in another protocol: it is tried
        again in that one, next (and planned so from now on)."""
        upstreams = self.ctx.upstreams
        again, news = upstreams.switch(candidate, switch.protocol)
        self.candidates = [again, *map(upstreams.as_switched, self.candidates)]  # (its replicas too)
        if news:
            log.warning("%s serves %s only in the %s protocol (%s): asked so from now on", candidate, candidate.target,
                        switch.protocol, switch.reason)

    def failed(self, candidate: Candidate, error: UpstreamError) -> None:
        """A candidate failed before any content: note it, and go on as failover
        decides; raise what the client gets when the request must stop."""
        self.errors.append(error)
        decision = self._decide(candidate, error, after_content=False)
        if not decision.following:
            raise decision.answer
        self.candidates = list(decision.following)
        ctx = self.ctx
        ctx.metrics.child(ctx.metrics.failovers, error.kind).inc()
        ctx.access.failovers += 1
        log.warning("request %s: failing over from %s to %s: it %s: %s", ctx.access.request_id, candidate,
                    self.candidates[0], error.what, error.message)

    def failed_after_content(self, candidate: Candidate, error: UpstreamError) -> None:
        """A failure once content went out: the client gets it (an error event),
        and the candidate is counted and cools as before content (a silence
        then cools that model, not the whole replica: it did answer)."""
        self._decide(candidate, error, after_content=True)

    def _decide(self, candidate: Candidate, error: UpstreamError, *, after_content: bool) -> Decision:
        ctx = self.ctx
        redact(error, ctx.secrets)
        ctx.access.upstream_failed(error.kind)
        ctx.metrics.child(ctx.metrics.upstream_requests, candidate.upstream, error.kind).inc()
        decision = ctx.upstreams.after_failure(error, candidate, ctx.headers, remaining=self.candidates,
                                               errors=self.errors, now=trio.current_time(), after_content=after_content)
        if decision.key_out:
            key = "its credential" if candidate.key is None else f"key {candidate.key + 1}"
            log.error("%s refused %s of upstream %s (%s): it is not used %sfor an hour", candidate.target, key,
                      candidate.upstream, error.message, f"for {candidate.target} " if status_of(error) == 403 else "")
        return decision

    def succeeded(self, candidate: Candidate) -> None:
        self.ctx.metrics.child(self.ctx.metrics.upstream_requests, candidate.upstream, "ok").inc()
        self.ctx.upstreams.served(self.conversation, candidate)

    def _note(self, candidate: Candidate) -> None:
        self.ctx.access.target, self.ctx.access.upstream = candidate.target, candidate.upstream
