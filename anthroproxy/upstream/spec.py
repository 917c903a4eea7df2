"""What an upstream is, as configured (pure).

An upstream is one OpenAI-compatible service, by name: the base URL of each
replica of it (several URLs: the same server, run more than once), the keys it
takes (several: a pool, taken in turn), headers it wants on every request,
capabilities for every model it serves, and its own timeouts. The upstream
named "default" is ``target_url`` and ``api_key``, as a single-URL set-up has
always had it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SpecError(ValueError):
    """An upstream that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamSpec:
    name: str
    urls: tuple[str, ...]
    keys: tuple[str, ...] = field(default=(), repr=False)  # none: the client's own key is passed through
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    connect_timeout: float | None = None
    read_timeout: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"upstreams.{self.name}: a name is letters, digits, '.', '_' and '-'")
        if not self.urls and self.name != DEFAULT:  # (the default one's may come from target_url)
            raise SpecError(f"upstreams.{self.name}.url: at least one URL is needed")
        if len(set(self.urls)) != len(self.urls):
            raise SpecError(f"upstreams.{self.name}.url: a replica is listed twice")

    @property
    def key_count(self) -> int:
        """Candidates per replica: one per key, or one (no key of its own)."""
        return max(1, len(self.keys))


def expand(text: str, environ: Mapping[str, str], where: str) -> str:
    """``${VAR}`` from the environment (and .env); a variable that is not set
    is an error naming it, never an empty value sent upstream."""
    def value(found: re.Match[str]) -> str:
        name = found[1]
        if name not in environ:
            raise SpecError(f"{where}: ${{{name}}} is not set")
        return environ[name]
    return _VARIABLE.sub(value, text)
