"""Routes: where a requested model goes, by what the request needs (pure).

A model entry of the mapping names a route: a primary choice (an upstream and
the model it serves there) and fallbacks, tried in order. It may also name a
route for each of four scenarios, looked at in this order, the first that
applies winning:

    long_context   the estimated input tokens exceed ``over``
    images         the request carries an image or a document
    web_search     its tools include Anthropic's web_search
    thinking       the request turns thinking on (enabled or adaptive)

A too-long request must go where it fits, and an image where it can be seen,
before a preference such as thinking counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .spec import DEFAULT, PROTOCOLS

SCENARIOS = ("long_context", "images", "web_search", "thinking")
ROUTE_NAMES = ("default", *SCENARIOS)
# Characters per token for the routing estimate: cheap, before the target (and its tokenizer) is known.
CHARS_PER_TOKEN = 4


AS_ASKED = "<as asked>"  # how a choice without a target shows


@dataclass(frozen=True, slots=True)
class Choice:
    target: str | None  # None: the model the client asked for (an upstream that speaks Anthropic's API)
    upstream: str = DEFAULT
    protocol: str | None = None  # the upstream's, unless this choice says otherwise
    # As written in the compact form, when it was ("name@date"): read whole if no upstream has that name.
    written: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")

    def literal(self) -> Choice:
        """The choice read as one target name, "@" and all."""
        return Choice(self.written) if self.written else self

    def asked(self, requested: str) -> Choice:
        """The choice for a request for ``requested``: a missing target is that name."""
        return self if self.target is not None else replace(self, target=requested)

    def __str__(self) -> str:
        target = AS_ASKED if self.target is None else self.target
        via = "" if self.protocol is None else f" ({self.protocol})"
        return (target if self.upstream == DEFAULT else f"{target}@{self.upstream}") + via


@dataclass(frozen=True, slots=True)
class Route:
    primary: Choice
    fallbacks: tuple[Choice, ...] = ()

    @property
    def choices(self) -> tuple[Choice, ...]:
        return (self.primary, *self.fallbacks)

    def asked(self, requested: str) -> Route:
        if all(choice.target is not None for choice in self.choices):
            return self
        return Route(self.primary.asked(requested), tuple(choice.asked(requested) for choice in self.fallbacks))

    def __str__(self) -> str:
        return "|".join(str(choice) for choice in self.choices)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request needs of the model that serves it."""

    input_tokens: int = 0
    images: bool = False
    web_search: bool = False
    thinking: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Routes:
    """A model entry's routes: the default one, and those of the scenarios it names."""

    default: Route
    long_context: Route | None = None
    long_context_over: int = 0
    images: Route | None = None
    web_search: Route | None = None
    thinking: Route | None = None

    @property
    def has_scenarios(self) -> bool:
        """Whether choosing looks at what a request needs (else: the default route)."""
        return any(route is not None for route in (self.long_context, self.images, self.web_search, self.thinking))

    def choose(self, needs: Needs) -> tuple[str, Route]:
        """(the route's name, the route) for a request."""
        if self.long_context is not None and needs.input_tokens > self.long_context_over:
            return "long_context", self.long_context
        for name in ("images", "web_search", "thinking"):
            route = getattr(self, name)
            if route is not None and getattr(needs, name):
                return name, route
        return "default", self.default

    def asked(self, requested: str) -> Routes:
        """These routes for a request for ``requested`` (a choice without a target takes that name)."""
        def asked(route: Route | None) -> Route | None:
            return None if route is None else route.asked(requested)

        return replace(self, default=asked(self.default), long_context=asked(self.long_context),
                       images=asked(self.images), web_search=asked(self.web_search), thinking=asked(self.thinking))

    def all(self) -> tuple[Route, ...]:
        return tuple(route for route in (self.default, self.long_context, self.images, self.web_search,
                                         self.thinking) if route is not None)


def needs_of(body: Mapping[str, Any]) -> Needs:
    """What a validated Anthropic request needs."""
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    web_search = any(str(tool.get("type", "")).startswith("web_search") for tool in body.get("tools") or ())
    characters, images = 0, False
    pending: list[Any] = [body.get("system"), body.get("messages"), body.get("tools")]
    while pending:  # (a walk of the text, not a serialisation: a 1 MiB request takes about a millisecond)
        node = pending.pop()
        if isinstance(node, str):
            characters += len(node)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("image", "document"):
                images = True
                continue  # (base64 data is not prompt text)
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    return Needs(input_tokens=characters // CHARS_PER_TOKEN, images=images, web_search=web_search,
                 thinking=thinking)
