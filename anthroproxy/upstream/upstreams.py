"""Every upstream the proxy sends to: a pool of httpx clients per replica URL,
the protocol each speaks, and what failover learns while the proxy runs."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Callable, Mapping

import trio

from ..config.routes import Route
from ..config.settings import Config, ConfigError
from ..config.spec import UpstreamSpec
from ..core.credentials import client_key
from ..core.errors import UpstreamError
from ..translate.refusals import Refusals
from .balancer import Balancer, conversation_of
from .failover import Candidate, Cooling, Decision, after_failure, candidates
from .pool import Pool, tls_context
from .protocols import PROTOCOLS, Call, Origin, UpstreamProtocol

# How long what one instance learned about a model (a refused field, the protocol it needs) is
# shared for: long enough for every instance, short enough that a backend's upgrade is noticed.
LEARNED_S = 24 * 3600.0

Listener = Callable[[str, object, float], None]  # (what, item, until): what starts being known, and until when


class Upstreams:
    def __init__(self, config: Config) -> None:
        self.specs: dict[str, UpstreamSpec] = config.upstream_specs()
        tls = tls_context(config.ca_bundle)
        # Per (upstream, replica URL): two upstreams at one URL keep their own timeouts.
        self.pools: dict[tuple[str, str], Pool] = {}
        for spec in self.specs.values():
            for url in spec.urls:
                self.pools[spec.name, url] = Pool(
                    url, tls=tls,
                    connect_timeout=spec.connect_timeout or config.upstream_connect_timeout,
                    read_timeout=spec.read_timeout or config.upstream_read_timeout)
        used = {spec.protocol for spec in self.specs.values()} | {
            choice.protocol for _, routes in config.model_mapping.routes_by_key() for route in routes.all()
            for choice in route.choices if choice.protocol is not None}
        for name in sorted(used - set(PROTOCOLS)):
            raise ConfigError(f"protocol {name!r}: this version of the proxy does not serve it yet")
        self.protocols: dict[str, UpstreamProtocol] = {name: build(config) for name, build in PROTOCOLS.items()}
        # (upstream, target model) -> the protocol it turned out to need (a chat model only on /responses).
        self.switched: dict[tuple[str, str], str] = {}
        self.listener: Listener | None = None  # (share)
        self.cooling = Cooling(config.failover_cooldown)
        # (Several instances or workers: each starts its key turns at a random key, to spread over them.)
        self.balancer = Balancer(random.randrange if config.state_url or config.workers != 1 else None)
        # With a proxy token, what clients present is that token: never sent on.
        self.pass_client_key = config.auth_token is None and not config.clients  # (else the key is the proxy's)
        # Every configured key and credential-like header value: redacted from errors.
        self.secrets = tuple(secret for spec in self.specs.values() for secret in spec.secret_values)

    async def __aenter__(self) -> Upstreams:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for pool in self.pools.values():
            await pool.aclose()

    def conversation(self, route: Route, client_headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
        """The conversation a request belongs to, when an upstream of its route
        has replicas for it to stick to (else None: nothing to look at)."""
        if not any(len(self.specs[choice.upstream].urls) > 1 for choice in route.choices):
            return None
        return conversation_of(client_headers, body)

    def plan(self, route: Route, conversation: str | None, now: float) -> list[Candidate]:
        """The route's candidates, in the order to try them (failover.candidates,
        in the balancer's order of replicas and keys)."""
        in_flight: dict[str, int] = {}
        for (_, url), pool in self.pools.items():
            in_flight[url] = in_flight.get(url, 0) + pool.busy
        balancer, cooling = self.balancer, self.cooling
        planned = candidates(route, self.specs, cooling, now=now, keys=balancer.keys,
                             replicas=lambda spec: balancer.replicas(spec, in_flight, conversation, cooling, now))
        if self.switched:
            planned = [self.as_switched(candidate) for candidate in planned]
        return planned

    def switch(self, candidate: Candidate, protocol: str) -> tuple[Candidate, bool]:
        """The candidate in the protocol it turned out to need, remembered for
        its (upstream, target) while the proxy runs; and whether that is news."""
        news = self.switched.get((candidate.upstream, candidate.target)) != protocol
        self.switched[candidate.upstream, candidate.target] = protocol
        if news and self.listener is not None:
            self.listener("switched", (candidate.upstream, candidate.target, protocol),
                          trio.current_time() + LEARNED_S)
        return replace(candidate, protocol=protocol), news

    def share(self, listener: Listener) -> None:
        """Tell ``listener`` whatever failover starts to know from now on (what
        cools, refused fields, switched protocols): the shared store (state/shared.py)."""
        self.listener = self.cooling.listener = listener
        for name, protocol in self.protocols.items():
            refusals: Refusals | None = getattr(protocol, "refusals", None)
            if refusals is not None:
                refusals.listener = (lambda where, key, name=name:
                                     listener(f"refused:{name}", (*where, key), trio.current_time() + LEARNED_S))

    def apply(self, what: str, item: Any, until: float) -> None:
        """What another instance learned (``share``'s items): into this one's memory."""
        if what in Cooling.TABLES:
            self.cooling.apply(what, item, until)
        elif what == "switched" and isinstance(item, tuple) and len(item) == 3 and item[2] in self.protocols:
            upstream, target, protocol = item
            self.switched[upstream, target] = protocol
        elif what.startswith("refused:") and isinstance(item, tuple) and len(item) == 3:
            refusals = getattr(self.protocols.get(what.removeprefix("refused:")), "refusals", None)
            if refusals is not None:
                refusals.learn((item[0], item[1]), item[2])

    def as_switched(self, candidate: Candidate) -> Candidate:
        """The candidate in the protocol its (upstream, target) turned out to need, if it did."""
        protocol = self.switched.get((candidate.upstream, candidate.target))
        return candidate if protocol is None or candidate.protocol != "chat" else replace(candidate, protocol=protocol)

    def protocol(self, candidate: Candidate) -> UpstreamProtocol:
        """The protocol the candidate's request goes in."""
        return self.protocols[candidate.protocol]

    def pool(self, candidate: Candidate) -> Pool:
        return self.pools[candidate.upstream, candidate.url]

    def read_timeout(self, candidate: Candidate) -> float:
        """The longest silence the candidate's upstream is allowed."""
        return self.pool(candidate).read_timeout

    def took(self, candidate: Candidate) -> None:
        """A request goes to the candidate (its upstream's keys turn)."""
        self.balancer.took(candidate, self.specs[candidate.upstream])

    def served(self, conversation: str | None, candidate: Candidate) -> None:
        """The candidate answered: the conversation sticks to its replica."""
        self.balancer.served(conversation, candidate.url)

    def call(self, candidate: Candidate, client_headers: Mapping[str, str], origin: Origin) -> Call:
        """A request to the candidate, for its protocol: the candidate's key
        (or, for an upstream with no credential of its own, the client's) and
        its upstream's headers."""
        spec = self.specs[candidate.upstream]
        auth = spec.sends_key_as(candidate.protocol)
        if candidate.key is not None:
            key: str | None = spec.keys[candidate.key]
        else:
            key = client_key(client_headers) if self.pass_client_key and not spec.own_credential else None
            if key is not None and spec.auth is None and candidate.protocol == "anthropic":
                # (To Anthropic's API the client's key goes as it came: an OAuth token as a bearer token.)
                auth = "x-api-key" if client_headers.get("x-api-key", "").strip() else "bearer"
        return Call(candidate, self.pool(candidate), key, auth, spec.headers, origin)

    def after_failure(self, error: UpstreamError, failed: Candidate, client_headers: Mapping[str, str], *,
                      remaining: list[Candidate], errors: list[UpstreamError], now: float,
                      after_content: bool = False) -> Decision:
        """What follows a candidate's failure (failover.after_failure, on the
        cooling kept here)."""
        return after_failure(error, failed, remaining=remaining, errors=errors, cooling=self.cooling, now=now,
                             clients_key=self.passes_clients_key(failed, client_headers),
                             after_content=after_content)

    def passes_clients_key(self, candidate: Candidate, client_headers: Mapping[str, str]) -> bool:
        """Whether the request to ``candidate`` carries the client's own key."""
        spec = self.specs[candidate.upstream]
        return (candidate.key is None and self.pass_client_key and not spec.own_credential
                and client_key(client_headers) is not None)

    def cooling_count(self, now: float) -> int:
        """How many things cool now (replicas, keys, models)."""
        return self.cooling.count(now)

    def board(self, now: float) -> dict[str, Any]:
        """Each upstream's replicas, keys and models as the dashboard shows them."""
        return {name: self.cooling.board(spec, now) for name, spec in self.specs.items()}

    def health(self, now: float) -> dict[str, Any]:
        """Each upstream's state, from what failover knows (it calls none of them)."""
        return {name: self.cooling.upstream_state(spec, now) for name, spec in self.specs.items()}
