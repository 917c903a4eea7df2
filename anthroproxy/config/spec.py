"""What an upstream is, as configured (pure).

An upstream is one service, by name: the protocol it speaks (Chat
Completions, Anthropic's Messages or OpenAI's Responses), the base URL of each
replica of it (several URLs: the same server, run more than once), the keys it
takes (several: a pool, taken in turn) and how they are sent, headers it wants
on every request, capabilities for every model it serves, and its own
timeouts. The upstream named "default" is ``target_url`` and ``api_key``, as a
single-URL set-up has always had it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT = "default"
PROTOCOLS = ("chat", "anthropic", "responses")  # Chat Completions, Anthropic's Messages, OpenAI's Responses
AUTHS = ("x-api-key", "bearer")
ATTRIBUTION_BLOCKS = ("drop", "keep")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # (printable ASCII: what every server reads alike)
CREDENTIAL_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})
MIN_SECRET_CHARS = 8


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
    protocol: str = "chat"
    auth: str | None = None  # how a key is sent: x-api-key or bearer; None: as the protocol's servers expect
    attribution_block: str | None = None  # drop or keep Claude Code's attribution line here; None: the proxy's

    def __post_init__(self) -> None:
        if not is_upstream_name(self.name):
            raise SpecError(f"upstreams.{self.name}: a name is letters, digits, '.', '_' and '-'")
        for name, choices in (("protocol", PROTOCOLS), ("auth", AUTHS), ("attribution_block", ATTRIBUTION_BLOCKS)):
            value = getattr(self, name)
            if (value is not None or name == "protocol") and value not in choices:
                raise SpecError(f"upstreams.{self.name}.{name}: expected one of {', '.join(choices)}, got {value!r}")
        for header, value in self.headers:
            if not _TOKEN.fullmatch(header):
                raise SpecError(f"upstreams.{self.name}.headers: {header!r} is not a header name")
            if not _HEADER_VALUE.fullmatch(value):  # (the value is not repeated: it may be a secret)
                raise SpecError(f"upstreams.{self.name}.headers.{header}: the value holds a control or non-ASCII character")
        for name in ("connect_timeout", "read_timeout"):
            seconds = getattr(self, name)
            if seconds is not None and not 0 < seconds < float("inf"):
                raise SpecError(f"upstreams.{self.name}.{name}: must be a positive number of seconds, got {seconds!r}")
        if not self.urls and self.name != DEFAULT:  # (the default one's may come from target_url)
            raise SpecError(f"upstreams.{self.name}.url: at least one URL is needed")
        if len(set(self.urls)) != len(self.urls):
            raise SpecError(f"upstreams.{self.name}.url: a replica is listed twice")
        if self.keys and self.credential_headers:  # (the header would win, and the pool's turns be a fiction)
            raise SpecError(f"upstreams.{self.name}: api_key or a {self.credential_headers[0][0]} header, not both")

    def sends_key_as(self, protocol: str) -> str:
        """How a key goes to this upstream for a request in ``protocol``:
        ``x-api-key`` to Anthropic's API and its likes, else a bearer token."""
        return self.auth or ("x-api-key" if protocol == "anthropic" else "bearer")

    @property
    def credential_headers(self) -> tuple[tuple[str, str], ...]:
        return tuple((header, value) for header, value in self.headers if header.lower() in CREDENTIAL_HEADERS)

    @property
    def own_credential(self) -> bool:
        """A key, or a header that carries one (Azure's ``api-key``, a custom
        ``Authorization``): the client's own key is then never passed on."""
        return bool(self.keys or self.credential_headers)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What must never show in an error or a log: the keys, a credential
        header's value and the token after its scheme ("Bearer sk-..."), any
        other header value long enough to be one (OpenRouter's X-Title team
        name is not), and a password in a URL."""
        credentials = [value for _, value in self.credential_headers if value]
        tokens = [token for value in credentials if (token := value.partition(" ")[2].strip())]
        others = [value for header, value in self.headers
                  if header.lower() not in CREDENTIAL_HEADERS and len(value) >= MIN_SECRET_CHARS]
        passwords = [password for url in self.urls if (password := urlsplit(url).password)]
        return (*self.keys, *credentials, *tokens, *others, *passwords)

    @property
    def key_count(self) -> int:
        """Candidates per replica: one per key, or one (no key of its own)."""
        return max(1, len(self.keys))


def is_upstream_name(text: str) -> bool:
    return bool(_NAME.fullmatch(text))


def display_url(url: str) -> str:
    """A URL as logs and /health show it: no user, password or query (a ${VAR}
    may have put a secret there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def expand(text: str, environ: Mapping[str, str], where: str) -> str:
    """``${VAR}`` from the environment (and .env); a variable that is not set,
    or set to nothing, is an error naming it: never an empty value sent
    upstream (an empty key would pass the client's own key on instead)."""
    def value(found: re.Match[str]) -> str:
        name = found[1]
        if not environ.get(name):
            raise SpecError(f"{where}: ${{{name}}} is {'empty' if name in environ else 'not set'}")
        return environ[name]
    return _VARIABLE.sub(value, text)
