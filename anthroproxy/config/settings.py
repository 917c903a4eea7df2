"""The settings: a frozen, validated Config (pure).

Its sources are merged by load.py (flags, environment, .env) and file.py (a
TOML file).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .capabilities import Capabilities, CapabilitiesError, CapabilityTable
from .clients import ClientSpec
from .models import MappingError, ModelMap
from .routes import Routes
from .spec import ATTRIBUTION_BLOCKS, DEFAULT, UpstreamSpec, display_url

LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "NONE")
LOG_FORMATS = ("text", "json")
COUNT_TOKENS = ("local", "upstream")

# Limits, with units in the name. Precedents in the comments.
MAX_BODY_BYTES = 32 * 1024 * 1024  # Anthropic's own request limit is 32 MB
MAX_HEADER_BYTES = 64 * 1024  # h11's default is 16 KiB; leave room for long beta lists
MAX_CONNECTIONS = 4096  # about 40 KiB each when streaming (bench/README.md): 160 MB at the limit
HEADER_TIMEOUT_S = 30.0  # whole request head must arrive within this (slowloris bound)
BODY_TIMEOUT_S = 60.0  # longest silence while a request body is arriving
KEEPALIVE_TIMEOUT_S = 75.0  # nginx's default; longer than clients' pool expiry (httpx 5 s, undici 4 s)
SHUTDOWN_GRACE_S = 30.0  # in-flight requests get this long to finish on SIGTERM
UPSTREAM_CONNECT_TIMEOUT_S = 10.0
# Local models can spend tens of minutes on prompt processing before the first token.
UPSTREAM_READ_TIMEOUT_S = 1800.0
# Claude Code shows "waiting for API response" after about 20 s of silence.
PING_INTERVAL_S = 15.0
FAILOVER_COOLDOWN_S = 30.0  # how long a candidate that failed is skipped (upstream/failover.py)


class ConfigError(ValueError):
    """A setting with a bad value. The message names the setting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    target_url: str = "https://api.openai.com/v1"
    api_key: str | None = field(default=None, repr=False)  # never printed
    auth_token: str | None = field(default=None, repr=False)  # what clients must present, if set
    ca_bundle: str | None = None  # CA certificates to verify the upstream with (else certifi, or SSL_CERT_FILE)
    model_mapping: ModelMap = ModelMap()
    model_capabilities: CapabilityTable = CapabilityTable()
    default_model: str = "gpt-5"
    log_level: str = "DEBUG"
    log_format: str = "text"
    count_tokens: str = "local"
    attribution_block: str = "drop"  # Claude Code's attribution line, at the top of its system prompt
    workers: int = 1
    max_body_bytes: int = MAX_BODY_BYTES
    max_header_bytes: int = MAX_HEADER_BYTES
    max_connections: int = MAX_CONNECTIONS
    header_timeout: float = HEADER_TIMEOUT_S
    body_timeout: float = BODY_TIMEOUT_S
    keepalive_timeout: float = KEEPALIVE_TIMEOUT_S
    shutdown_grace: float = SHUTDOWN_GRACE_S
    upstream_connect_timeout: float = UPSTREAM_CONNECT_TIMEOUT_S
    upstream_read_timeout: float = UPSTREAM_READ_TIMEOUT_S
    ping_interval: float = PING_INTERVAL_S
    failover_cooldown: float = FAILOVER_COOLDOWN_S
    # Named upstreams besides the default one (target_url, api_key), from the config file's [upstreams].
    upstreams: tuple[UpstreamSpec, ...] = ()
    # A Redis or Valkey server the instances share what they learn through (never printed: it may hold a password).
    state_url: str | None = field(default=None, repr=False)
    # Client keys with their models and limits, from the config file's [clients] (clients.py).
    clients: tuple[ClientSpec, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.model_mapping, str):
            object.__setattr__(self, "model_mapping", parse_mapping(self.model_mapping))
        if isinstance(self.model_capabilities, str):
            object.__setattr__(self, "model_capabilities", parse_capabilities(self.model_capabilities))
        object.__setattr__(self, "target_url", check_url(self.target_url))
        object.__setattr__(self, "log_level", _check_log_level(self.log_level))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be an integer from 0 to 65535, got {self.port!r}")
        if not self.host:
            raise ConfigError("host: must not be empty")
        for name, choices in (("log_format", LOG_FORMATS), ("count_tokens", COUNT_TOKENS),
                              ("attribution_block", ATTRIBUTION_BLOCKS)):
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{flag_name(name)}: must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"workers: must be 0 (one per core) or more, got {self.workers!r}")
        if not self.default_model:
            raise ConfigError("default-model: must not be empty")
        if self.auth_token is not None and not self.auth_token.strip():
            raise ConfigError("auth-token: must not be empty (leave it unset for no token)")
        if self.state_url is not None:
            object.__setattr__(self, "state_url", check_state_url(self.state_url))
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise ConfigError(f"ca-bundle: no such file: {self.ca_bundle!r}")
        for name in COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{flag_name(name)}: must be a positive integer, got {value!r}")
        for name in SECONDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isnan(value):
                raise ConfigError(f"{flag_name(name)}: must be a positive number of seconds, got {value!r}")
        known = set(self.upstream_specs())
        unknown = self.model_mapping.upstreams() - known
        if unknown and not self.upstreams:  # (no upstream has a name: "model@date" is a model's name, as it was)
            object.__setattr__(self, "model_mapping", self.model_mapping.with_literal_targets(unknown))
            unknown = self.model_mapping.upstreams() - known
        for name in sorted(unknown):
            raise ConfigError(f"models: upstream {name!r} is not defined (defined: {', '.join(sorted(known))}); a "
                              "target whose name holds an '@' is written as { target = \"...\" }")
        self._check_targets()

    def _check_targets(self) -> None:
        """A choice without a target sends the client's model name on: only to
        an upstream that speaks Anthropic's API."""
        specs = self.upstream_specs()
        for key, routes in self.model_mapping.routes_by_key():
            for route in routes.all():
                for choice in route.choices:
                    protocol = choice.protocol or specs[choice.upstream].protocol
                    if choice.target is None and protocol != "anthropic":
                        raise ConfigError(f"models.{key}: a target is needed for upstream {choice.upstream!r}, which "
                                          f"speaks {protocol} (only an upstream that speaks Anthropic's API takes the "
                                          "client's model name as it is)")

    def resolve_model(self, requested: str) -> str:
        return self.model_mapping.resolve(requested, self.default_model)

    def routes_for(self, requested: str) -> Routes:
        """The routes of the entry that catches ``requested`` (models.RouteCache
        remembers them per name)."""
        return self.model_mapping.routes_for(requested, self.default_model)[1]

    def capabilities(self, target: str, upstream: str = DEFAULT) -> Capabilities:
        """The target model's capabilities: its upstream's own first, then the table."""
        own = next((spec.capabilities for spec in self.upstreams if spec.name == upstream), None)
        return self.model_capabilities.lookup(target, own)

    def upstream_specs(self) -> dict[str, UpstreamSpec]:
        """Every upstream by name: "default" from target_url and api_key (which an
        [upstreams.default] table may extend), then the configured ones."""
        specs = {DEFAULT: UpstreamSpec(name=DEFAULT, urls=(self.target_url,),
                                       keys=(self.api_key,) if self.api_key else ())}
        for spec in self.upstreams:
            if spec.name == DEFAULT:  # (--api-key, from wherever, wins over the table's keys: flags come first)
                spec = replace(spec, urls=specs[DEFAULT].urls, keys=specs[DEFAULT].keys or spec.keys)
            specs[spec.name] = spec
        return specs


COUNTS = ("max_body_bytes", "max_header_bytes", "max_connections")
SECONDS = ("header_timeout", "body_timeout", "keepalive_timeout", "shutdown_grace", "upstream_connect_timeout",
           "upstream_read_timeout", "ping_interval", "failover_cooldown")


def flag_name(field_name: str) -> str:
    return field_name.replace("_", "-")



def parse_mapping(text: str) -> ModelMap:
    try:
        return ModelMap.parse(text)
    except MappingError as exc:
        raise ConfigError(f"model-mapping: {exc}") from None


def parse_capabilities(text: str) -> CapabilityTable:
    try:
        return CapabilityTable.parse(text)
    except CapabilitiesError as exc:
        raise ConfigError(f"model-capabilities: {exc}") from None


def check_url(url: str, setting: str = "target-url") -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{setting}: must be an http:// or https:// URL, got {display_url(url)!r}")
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):  # ("/chat/completions" goes after the path)
        raise ConfigError(f"{setting}: a base URL takes no query string or fragment (a key or version goes in a header)")
    return url.strip().rstrip("/")


def _check_log_level(level: str) -> str:
    normalized = level.strip().upper()
    if normalized == "WARNING":
        normalized = "WARN"
    if normalized not in LOG_LEVELS:
        raise ConfigError(f"log-level: must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return normalized



def check_state_url(url: str) -> str:
    """redis://[:password@]host[:port][/db] or rediss:// (TLS); the message never repeats the password."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    shown = display_url(url)
    if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"state-url: must be redis://[:password@]host[:port][/db] or rediss://..., got {shown!r}")
    if port is None and parts.netloc.rsplit("@", 1)[-1].endswith(":"):
        raise ConfigError(f"state-url: a port is a number, got {shown!r}")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ConfigError(f"state-url: the database is a number (/0), got {shown!r}")
    if parts.fragment:
        raise ConfigError(f"state-url: takes no fragment, got {shown!r}")
    check_tls_options(parts.scheme, parts.query, shown)
    return url


TLS_OPTIONS = ("ssl_ca_certs", "ssl_cert_reqs")


def check_tls_options(scheme: str, query: str, shown: str) -> None:
    """A rediss:// URL's options: ssl_ca_certs=PATH (the authorities to trust), ssl_cert_reqs=required|none."""
    try:
        options = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        options = [("", "")]
    for name, value in options:
        if name not in TLS_OPTIONS or scheme != "rediss":
            raise ConfigError(f"state-url: the only options are {' and '.join(TLS_OPTIONS)}, with rediss://, "
                              f"got {shown!r}")
        if name == "ssl_cert_reqs" and value not in ("required", "none"):
            raise ConfigError(f"state-url: ssl_cert_reqs is required or none, got {value!r}")
        if name == "ssl_ca_certs" and not (value and Path(value).exists()):
            raise ConfigError(f"state-url: ssl_ca_certs names no file or folder: {value!r}")
