"""Model mapping: which upstream model serves a requested Anthropic model name.

The mapping string is ``key:target,key:target``. Each pair is split at its FIRST
colon, because upstream names may contain colons (Ollama's ``qwen3:32b``). A
target may name its upstream after an ``@`` and list fallbacks after ``|``:
``claude-sonnet:deepseek-chat@deepseek|qwen3:32b@local`` (no model name of
Ollama's ``name:tag`` or Hugging Face's ``org/name`` has either character).

Resolution order for a requested name:
1. a key equal to the name;
2. the longest plain key that is a prefix of the name (``claude-3`` catches
   ``claude-3-5-haiku-20241022``);
3. keys containing ``*``, matched as globs in the order given;
4. otherwise the default model, on the default upstream.

An entry with an upstream, fallbacks or scenario routes (routes.py)
keeps them in ``routes``; ``pairs`` holds every entry's primary target.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from .routes import Choice, Route, Routes
from .spec import is_upstream_name

# Names whose routes RouteCache remembers; they come from clients, so the memory is bounded.
MAX_REMEMBERED_NAMES = 1024


class MappingError(ValueError):
    """A model-mapping string that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class ModelMap:
    pairs: tuple[tuple[str, str | None], ...] = ()  # (key, primary target; None: as asked)
    labels: tuple[tuple[str, str], ...] = ()  # (key, display name) for /v1/models
    routes: tuple[tuple[str, Routes], ...] = ()  # (key, routes) of entries that name more than a target

    @classmethod
    def parse(cls, text: str) -> ModelMap:
        pairs, routes = [], []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:  # tolerate "a:b," and blank input
                continue
            key, sep, target = entry.partition(":")
            key, target = key.strip(), target.strip()
            if not sep or not key or not target:
                raise MappingError(f"expected 'claude-name:target-model', got {entry!r}")
            if any(key == known for known, _ in pairs):
                raise MappingError(f"{key!r} is mapped twice")
            route = parse_route(target, entry)
            pairs.append((key, route.primary.target))
            if route != Route(Choice(target)):
                routes.append((key, Routes(default=route)))
        return cls(tuple(pairs), (), tuple(routes))

    def resolve(self, requested: str, default: str) -> str:
        return self.lookup(requested) or default

    def lookup(self, requested: str) -> str | None:
        """The target a key of this mapping gives ``requested``, if one does."""
        key = self.key_for(requested)
        if key is None:
            return None
        target = dict(reversed(self.pairs))[key]
        return requested if target is None else target

    def key_for(self, requested: str) -> str | None:
        """The key of this mapping that catches ``requested``, if one does."""
        plain = [k for k, _ in self.pairs if "*" not in k]
        if requested in plain:
            return requested
        prefixed = [k for k in plain if requested.startswith(k)]
        if prefixed:
            return max(prefixed, key=len)
        return next((k for k, _ in self.pairs if "*" in k and fnmatch.fnmatchcase(requested, k)), None)

    def routes_for(self, requested: str, default: str) -> tuple[str | None, Routes]:
        """(the key that caught it, its routes); a name no key catches goes to
        the default model on the default upstream."""
        key = self.key_for(requested)
        if key is None:
            return None, Routes(default=Route(Choice(default)))
        rich = dict(reversed(self.routes)).get(key)
        return key, (rich or Routes(default=Route(Choice(dict(reversed(self.pairs))[key])))).asked(requested)

    def routes_by_key(self) -> list[tuple[str, Routes]]:
        """Every entry's routes, as written (a missing target left missing)."""
        rich = dict(reversed(self.routes))
        return [(key, rich.get(key) or Routes(default=Route(Choice(target)))) for key, target in self.pairs]

    def upstreams(self) -> set[str]:
        """Every upstream an entry names."""
        return {choice.upstream for _, routes in self.routes for route in routes.all() for choice in route.choices}

    def with_literal_targets(self, unknown: set[str]) -> ModelMap:
        """Compact entries ("name@x") whose x is one of ``unknown`` upstreams,
        read as one target name, "@" and all, as they were before upstreams
        had names. Table entries are left as they are."""
        def literal(choice: Choice) -> Choice:
            return choice.literal() if choice.upstream in unknown else choice

        def route(found: Route | None) -> Route | None:
            return None if found is None else Route(literal(found.primary), tuple(map(literal, found.fallbacks)))

        routes = tuple((key, replace(entry, default=route(entry.default), long_context=route(entry.long_context),
                                     images=route(entry.images), web_search=route(entry.web_search),
                                     thinking=route(entry.thinking)))
                       for key, entry in self.routes)
        primaries = dict(reversed([(key, entry.default.primary.target) for key, entry in routes]))
        pairs = tuple((key, primaries.get(key, target)) for key, target in self.pairs)
        return ModelMap(pairs, self.labels, routes)

    def overridden_by(self, first: ModelMap) -> ModelMap:
        """``first``'s entries, then this map's entries whose keys it does not have."""
        keys = {key for key, _ in first.pairs}
        return ModelMap(first.pairs + tuple(pair for pair in self.pairs if pair[0] not in keys),
                        first.labels + tuple(label for label in self.labels if label[0] not in keys),
                        first.routes + tuple(entry for entry in self.routes if entry[0] not in keys))

    def listed(self) -> list[tuple[str, str, str | None]]:
        """(name, target, display name) of the plain names: what /v1/models lists."""
        labels, seen = dict(self.labels), set()
        listed = []
        for key, target in self.pairs:
            if "*" not in key and key not in seen:  # (a repeated key never resolves: the first wins)
                seen.add(key)
                listed.append((key, key if target is None else target, labels.get(key)))
        return listed

    def __str__(self) -> str:
        routes = dict(self.routes)
        return ",".join(f"{k}:{routes[k].default}" if k in routes else f"{k}:{t}" for k, t in self.pairs)


def parse_route(text: str, entry: str) -> Route:
    """``target[@upstream][|target[@upstream]]...``. What follows the last "@"
    is an upstream only if it could be a name (Cloudflare's "@cf/meta/..." is
    a model name, and so is the whole text when no upstream has that name:
    Config checks)."""
    choices = []
    for part in text.split("|"):
        part = part.strip()
        target, _, upstream = part.rpartition("@")
        target, upstream = target.strip(), upstream.strip()
        if not target or not is_upstream_name(upstream):
            choice = Choice(part)
        else:
            choice = Choice(target, upstream, written=part)
        if not choice.target:
            raise MappingError(f"expected 'target[@upstream]' between the |, got {entry!r}")
        choices.append(choice)
    return Route(choices[0], tuple(choices[1:]))


class RouteCache:
    """The routes for each requested name, remembered: matching globs for
    every request would cost more than the lookup. Not part of the frozen
    Config: whoever serves requests keeps one."""

    def __init__(self, mapping: ModelMap, default: str) -> None:
        self._mapping, self._default = mapping, default
        self._found: dict[str, Routes] = {}

    def __call__(self, requested: str) -> Routes:
        found = self._found.get(requested)
        if found is None:
            if len(self._found) >= MAX_REMEMBERED_NAMES:
                self._found.clear()
            found = self._found[requested] = self._mapping.routes_for(requested, self._default)[1]
        return found
