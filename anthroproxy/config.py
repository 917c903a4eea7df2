"""Configuration: a frozen Config and a pure merge of its sources.

Precedence, highest first: command-line flags > process environment > ``.env``
file > config file (TOML) > defaults. ``load_config`` never mutates ``os.environ``; it reads the
.env file with ``dotenv_values`` and merges dictionaries.
"""

from __future__ import annotations

import argparse
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from dotenv import dotenv_values

from . import __version__
from .models import MappingError, ModelMap, parse_route
from .translate.capabilities import Capabilities, CapabilitiesError, CapabilityTable
from .upstream.routes import Choice, Route, Routes
from .upstream.spec import DEFAULT, SpecError, UpstreamSpec, display_url, expand

LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "NONE")
LOG_FORMATS = ("text", "json")
COUNT_TOKENS = ("local", "upstream")
ATTRIBUTION_BLOCKS = ("drop", "keep")

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
FAILOVER_COOLDOWN_S = 30.0
MAX_REMEMBERED_NAMES = 1024  # how long a candidate that failed is skipped (upstream/failover.py)


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
    _routes: dict[str, Routes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.model_mapping, str):
            object.__setattr__(self, "model_mapping", _parse_mapping(self.model_mapping))
        if isinstance(self.model_capabilities, str):
            object.__setattr__(self, "model_capabilities", _parse_capabilities(self.model_capabilities))
        object.__setattr__(self, "target_url", _check_url(self.target_url))
        object.__setattr__(self, "log_level", _check_log_level(self.log_level))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be an integer from 0 to 65535, got {self.port!r}")
        if not self.host:
            raise ConfigError("host: must not be empty")
        for name, choices in (("log_format", LOG_FORMATS), ("count_tokens", COUNT_TOKENS),
                              ("attribution_block", ATTRIBUTION_BLOCKS)):
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{_flag_name(name)}: must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"workers: must be 0 (one per core) or more, got {self.workers!r}")
        if not self.default_model:
            raise ConfigError("default-model: must not be empty")
        if self.auth_token is not None and not self.auth_token.strip():
            raise ConfigError("auth-token: must not be empty (leave it unset for no token)")
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise ConfigError(f"ca-bundle: no such file: {self.ca_bundle!r}")
        for name in COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{_flag_name(name)}: must be a positive integer, got {value!r}")
        for name in SECONDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isnan(value):
                raise ConfigError(f"{_flag_name(name)}: must be a positive number of seconds, got {value!r}")
        known = set(self.upstream_specs())
        unknown = self.model_mapping.upstreams() - known
        if unknown and not self.upstreams:  # (no upstream has a name: "model@date" is a model's name, as it was)
            object.__setattr__(self, "model_mapping", self.model_mapping.with_literal_targets(unknown))
            unknown = self.model_mapping.upstreams() - known
        for name in sorted(unknown):
            raise ConfigError(f"models: upstream {name!r} is not defined (defined: {', '.join(sorted(known))}); a "
                              "target whose name holds an '@' is written as { target = \"...\" }")

    def resolve_model(self, requested: str) -> str:
        return self.model_mapping.resolve(requested, self.default_model)

    def routes_for(self, requested: str) -> Routes:
        """The routes of the entry that catches ``requested`` (remembered per name:
        matching globs for every request would cost more than the lookup)."""
        found = self._routes.get(requested)
        if found is None:
            if len(self._routes) >= MAX_REMEMBERED_NAMES:  # (names come from clients: bounded)
                self._routes.clear()
            found = self._routes[requested] = self.model_mapping.routes_for(requested, self.default_model)[1]
        return found

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

    @property
    def chat_completions_url(self) -> str:
        return self.target_url + "/chat/completions"


COUNTS = ("max_body_bytes", "max_header_bytes", "max_connections")
SECONDS = ("header_timeout", "body_timeout", "keepalive_timeout", "shutdown_grace", "upstream_connect_timeout",
           "upstream_read_timeout", "ping_interval", "failover_cooldown")


def _flag_name(field_name: str) -> str:
    return field_name.replace("_", "-")


# (flag, environment variable, Config field, metavar). The flag's dest is the field name.
SETTINGS = (
    ("--port", "PORT", "port", "N"),
    ("--host", "HOST", "host", "H"),
    ("--target-url", "TARGET_URL", "target_url", "URL"),
    ("--api-key", "TARGET_API_KEY", "api_key", "KEY"),
    ("--auth-token", "AUTH_TOKEN", "auth_token", "TOKEN"),
    ("--model-mapping", "MODEL_MAPPING", "model_mapping", "STR"),
    ("--model-capabilities", "MODEL_CAPABILITIES", "model_capabilities", "JSON"),
    ("--default-model", "DEFAULT_MODEL", "default_model", "NAME"),
    ("--log-level", "LOG_LEVEL", "log_level", "L"),
    ("--log-format", "LOG_FORMAT", "log_format", "F"),
    ("--count-tokens", "COUNT_TOKENS", "count_tokens", "HOW"),
    ("--attribution-block", "ATTRIBUTION_BLOCK", "attribution_block", "HOW"),
    ("--workers", "WORKERS", "workers", "N"),
    ("--ca-bundle", "CA_BUNDLE", "ca_bundle", "FILE"),
    ("--max-body-bytes", "MAX_BODY_BYTES", "max_body_bytes", "N"),
    ("--max-header-bytes", "MAX_HEADER_BYTES", "max_header_bytes", "N"),
    ("--max-connections", "MAX_CONNECTIONS", "max_connections", "N"),
    ("--header-timeout", "HEADER_TIMEOUT", "header_timeout", "S"),
    ("--body-timeout", "BODY_TIMEOUT", "body_timeout", "S"),
    ("--keepalive-timeout", "KEEPALIVE_TIMEOUT", "keepalive_timeout", "S"),
    ("--upstream-connect-timeout", "UPSTREAM_CONNECT_TIMEOUT", "upstream_connect_timeout", "S"),
    ("--upstream-read-timeout", "UPSTREAM_READ_TIMEOUT", "upstream_read_timeout", "S"),
    ("--ping-interval", "PING_INTERVAL", "ping_interval", "S"),
    ("--failover-cooldown", "FAILOVER_COOLDOWN", "failover_cooldown", "S"),
    ("--shutdown-grace", "SHUTDOWN_GRACE", "shutdown_grace", "S"),
)

HELP = {
    "port": "port to listen on (default 8080; 0 picks a free port)",
    "host": "address to bind (default 127.0.0.1: loopback only)",
    "target_url": "upstream base URL; requests go to <base>/chat/completions (default https://api.openai.com/v1)",
    "api_key": "upstream API key, sent as 'Authorization: Bearer KEY'; without one the client's own key is passed through",
    "model_mapping": "claude-name:target pairs, e.g. 'claude-3:gpt-4o,claude-opus-4:gpt-4-turbo'",
    "model_capabilities": "per-model capability entries, by glob on the target model, e.g. "
    "'{\"qwen3*\": {\"reasoning_param\": \"reasoning_effort\"}}' (see README)",
    "default_model": "target model when no mapping matches (default gpt-5)",
    "log_level": "DEBUG, INFO, WARN, ERROR or NONE (default DEBUG)",
    "log_format": "text (one readable line per request) or json (one JSON object per line)",
    "count_tokens": "how /v1/messages/count_tokens counts: local (an estimate, the default) or upstream "
    "(the backend's /tokenize, as vLLM and llama.cpp offer; the estimate if that fails)",
    "attribution_block": "Claude Code's attribution line (x-anthropic-billing-header: ...) at the top of its system "
    "prompt: drop (the default: it changes per conversation and defeats the backend's prompt cache) or keep",
    "workers": "processes serving the port (default 1; 0: one per core)",
    "auth_token": "a token clients must present (x-api-key or Authorization: Bearer); unset: no check",
    "ca_bundle": "PEM file of CA certificates that verify the upstream (default: certifi's, or SSL_CERT_FILE)",
    "max_body_bytes": f"largest request body (default {MAX_BODY_BYTES})",
    "max_header_bytes": f"largest request head (default {MAX_HEADER_BYTES})",
    "max_connections": f"open client connections at once (default {MAX_CONNECTIONS})",
    "header_timeout": f"seconds for a request head to arrive (default {HEADER_TIMEOUT_S:g})",
    "body_timeout": f"longest silence while a request body arrives, in seconds (default {BODY_TIMEOUT_S:g})",
    "keepalive_timeout": f"seconds an idle keep-alive connection stays open (default {KEEPALIVE_TIMEOUT_S:g})",
    "upstream_connect_timeout": f"seconds to connect to the upstream (default {UPSTREAM_CONNECT_TIMEOUT_S:g})",
    "upstream_read_timeout": "longest silence tolerated from the upstream, before its answer or mid-stream, "
    f"in seconds (default {UPSTREAM_READ_TIMEOUT_S:g})",
    "ping_interval": f"seconds of upstream silence between ping events in a stream (default {PING_INTERVAL_S:g})",
    "failover_cooldown": "seconds a candidate upstream that failed is skipped, when a route has others "
    f"(default {FAILOVER_COOLDOWN_S:g}; a 429 is skipped for its retry-after instead)",
    "shutdown_grace": f"seconds requests in flight get to finish on SIGTERM (default {SHUTDOWN_GRACE_S:g})",
}


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anthroproxy",
        description="Serve the Anthropic Messages API on top of any OpenAI-compatible Chat Completions backend.",
        epilog="Each flag can also be set by the environment variable shown, in a .env file in the working "
        "directory, or in a --config file. Precedence: flags > environment > .env > config file > defaults.",
    )
    for flag, env, dest, metavar in SETTINGS:
        parser.add_argument(flag, dest=dest, metavar=metavar, default=None, help=f"{HELP[dest]} [env {env}]")
    parser.add_argument("--config", dest="config", metavar="FILE", default=None,
                        help="a TOML file with any of these settings, [models] and [capabilities] (see README) "
                        "[env CONFIG_FILE]")
    parser.add_argument("--version", action="version", version=f"anthroproxy {__version__}")
    return parser


def load_config(
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    dotenv_path: str | None = ".env",
) -> Config:
    """Merge flags, environment, .env and defaults into a validated Config.

    Raises ConfigError naming the setting on any bad value.
    """
    flags = vars(build_parser().parse_args(argv))
    dotenv = {k: v for k, v in (dotenv_values(dotenv_path) if dotenv_path else {}).items() if v is not None}
    config_file = flags.pop("config") or environ.get("CONFIG_FILE") or dotenv.get("CONFIG_FILE")
    variables = {**dotenv, **environ}  # for ${VAR} in the file
    kwargs: dict[str, object] = read_config_file(config_file, variables) if config_file else {}
    raw: dict[str, str] = {}
    for _flag, env, dest, _metavar in SETTINGS:
        for source in (flags.get(dest), environ.get(env), dotenv.get(env)):
            if source is not None:
                raw[dest] = source
                break
    file_models = kwargs.get("model_mapping", ModelMap())
    file_capabilities = kwargs.get("model_capabilities", CapabilityTable())
    kwargs.update(raw)
    if "model_mapping" in raw:
        kwargs["model_mapping"] = file_models.overridden_by(_parse_mapping(raw["model_mapping"]))
    if "model_capabilities" in raw:
        kwargs["model_capabilities"] = file_capabilities.merged(_parse_capabilities(raw["model_capabilities"]))
    for name in ("port", "workers", *COUNTS):
        if name in raw:
            kwargs[name] = _parse_number(name, raw[name], int, "an integer")
    for name in SECONDS:
        if name in raw:
            kwargs[name] = _parse_number(name, raw[name], float, "a number of seconds")
    for name in ("api_key", "auth_token", "ca_bundle"):
        if name in raw and not raw[name]:
            kwargs[name] = None  # NAME= (empty) means unset
    return Config(**kwargs)  # type: ignore[arg-type]


STRING_KEYS = ("host", "target_url", "api_key", "auth_token", "default_model", "log_level", "log_format",
               "count_tokens", "attribution_block", "ca_bundle")
INTEGER_KEYS = ("port", "workers", *COUNTS)
TABLES = {"model_mapping": "models", "model_capabilities": "capabilities"}


def read_config_file(path: str, variables: Mapping[str, str] | None = None) -> dict[str, object]:
    """Settings from a TOML file, by their Config names, typed as TOML types
    them; ``[models]`` and ``[capabilities]`` become the mapping and the table,
    ``[upstreams.NAME]`` the named upstreams. ``${VAR}`` in URLs, keys, tokens
    and upstream headers is read from ``variables``. Unknown keys and wrong types are errors
    naming the key."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: {exc}") from None
    values: dict[str, object] = {}
    for key, value in data.items():
        where = f"config {path}: {key}"
        if key == "models":
            values["model_mapping"] = _models_table(value, where)
        elif key == "upstreams":
            values["upstreams"] = _upstreams_table(value, where, variables or {})
        elif key == "capabilities":
            try:
                values["model_capabilities"] = CapabilityTable.from_mapping(value)
            except CapabilitiesError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        elif key in EXPANDED_KEYS:
            try:
                values[key] = expand(_typed(value, str, "a string", where, secret=key in SECRET_KEYS),
                                     variables or {}, where)
            except SpecError as exc:
                raise ConfigError(str(exc)) from None
        elif key in STRING_KEYS:
            values[key] = _typed(value, str, "a string", where, secret=key in SECRET_KEYS)
        elif key in INTEGER_KEYS:
            values[key] = _typed(value, int, "an integer", where)
        elif key in SECONDS:
            values[key] = float(_typed(value, (int, float), "a number of seconds", where))
        elif key in TABLES:
            raise ConfigError(f"{where}: in a config file, write it as a [{TABLES[key]}] table")
        else:
            raise ConfigError(f"{where}: unknown key")
    default = next((spec for spec in values.get("upstreams", ()) if spec.name == DEFAULT), None)  # type: ignore[union-attr]
    if default is not None and default.keys and "api_key" in values:
        raise ConfigError(f"config {path}: api_key and [upstreams.default] keys: one or the other")
    return values


SECRET_KEYS = ("api_key", "auth_token")
EXPANDED_KEYS = ("target_url", "api_key", "auth_token")  # (${VAR} here too, as in [upstreams])


def _typed(value: object, kind: type | tuple[type, ...], what: str, where: str, *, secret: bool = False) -> object:
    if isinstance(value, bool) or not isinstance(value, kind):
        shown = "" if secret else f" {value!r}"  # a mistyped key is still a key: not repeated
        raise ConfigError(f"{where}: expected {what}, got {type(value).__name__}{shown}")
    return value


def _models_table(table: object, where: str) -> ModelMap:
    """``name = "target"`` (``target@upstream|fallback@upstream`` too), or
    ``name = { target, upstream, fallbacks, display_name, and the scenario routes }``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of model names")
    pairs, labels, routes = [], [], []
    for name, entry in table.items():
        here = f"{where}.{name}"
        if isinstance(entry, dict):
            unknown = set(entry) - ENTRY_KEYS
            if unknown:
                raise ConfigError(f"{here}: unknown key {', '.join(sorted(unknown))}")
            if "display_name" in entry:
                labels.append((name, _typed(entry["display_name"], str, "a string", f"{here}.display_name")))
            found = _routes(entry, here)
        else:
            found = Routes(default=_route_text(_typed(entry, str, "a target model name or a table", here), here))
        if not name:
            raise ConfigError(f"{here}: names must not be empty")
        pairs.append((name, found.default.primary.target))
        if found != Routes(default=Route(Choice(found.default.primary.target))):
            routes.append((name, found))
    return ModelMap(tuple(pairs), tuple(labels), tuple(routes))


ROUTE_KEYS = {"target", "upstream", "fallbacks"}
ENTRY_KEYS = {*ROUTE_KEYS, "display_name", "thinking", "long_context", "images", "web_search"}


def _routes(entry: dict, where: str) -> Routes:
    routes: dict[str, object] = {"default": _route_table(entry, where, ENTRY_KEYS)}
    for scenario in ("thinking", "images", "web_search"):
        if scenario in entry:
            routes[scenario] = _route_table(_table(entry[scenario], f"{where}.{scenario}"), f"{where}.{scenario}",
                                            ROUTE_KEYS)
    if "long_context" in entry:
        here = f"{where}.long_context"
        table = _table(entry["long_context"], here)
        over = _typed(table.get("over"), int, "a number of tokens (over = N)", f"{here}.over")
        if over <= 0:
            raise ConfigError(f"{here}.over: expected a positive number of tokens, got {over}")
        routes["long_context"] = _route_table(table, here, {*ROUTE_KEYS, "over"})
        routes["long_context_over"] = over
    return Routes(**routes)  # type: ignore[arg-type]


def _route_table(table: dict, where: str, allowed: set[str]) -> Route:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    fallbacks = table.get("fallbacks", [])
    if not isinstance(fallbacks, list):
        raise ConfigError(f"{where}.fallbacks: expected a list of {{ upstream, target }} tables")
    primary = _choice({key: table[key] for key in ("target", "upstream") if key in table}, where)
    return Route(primary, tuple(_choice(item, f"{where}.fallbacks.{i}") for i, item in enumerate(fallbacks)))


def _choice(item: object, where: str) -> Choice:
    if isinstance(item, str):  # "target@upstream"
        route = _route_text(item, where)
        if route.fallbacks:
            raise ConfigError(f"{where}: one 'target@upstream' per fallback, got {item!r}")
        return route.primary
    table = _table(item, where)
    unknown = set(table) - {"target", "upstream"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    target = _typed(table.get("target"), str, "a target model name", f"{where}.target")
    upstream = _typed(table.get("upstream", DEFAULT), str, "an upstream's name", f"{where}.upstream")
    if not target:
        raise ConfigError(f"{where}.target: must not be empty")
    return Choice(target, upstream)


def _route_text(text: str, where: str) -> Route:
    try:
        return parse_route(text, text)
    except MappingError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return value


UPSTREAM_KEYS = {"url", "api_key", "api_keys", "headers", "capabilities", "connect_timeout", "read_timeout"}


def _upstreams_table(table: object, where: str, variables: Mapping[str, str]) -> tuple[UpstreamSpec, ...]:
    """``[upstreams.NAME]``: url (one or a list of replicas), api_key or api_keys,
    headers, capabilities, connect_timeout, read_timeout."""
    specs = []
    for name, entry in _table(table, where).items():
        here = f"{where}.{name}"
        entry = _table(entry, here)
        unknown = set(entry) - UPSTREAM_KEYS
        if unknown:
            raise ConfigError(f"{here}: unknown key {', '.join(sorted(unknown))}")
        if "api_key" in entry and "api_keys" in entry:
            raise ConfigError(f"{here}: api_key or api_keys, not both")
        if name == DEFAULT and "url" in entry:
            raise ConfigError(f"{here}.url: the default upstream's URL is target_url (a list of replicas needs an "
                              "upstream of its own name)")
        if "api_keys" in entry and entry["api_keys"] == []:
            raise ConfigError(f"{here}.api_keys: an empty list (leave it out to pass the client's key on)")
        try:
            urls = tuple(_check_url(expand(url, variables, f"{here}.url"), f"{here}.url")
                         for url in _strings(entry.get("url", []), f"{here}.url"))
            key_field = "api_keys" if "api_keys" in entry else "api_key"
            keys = tuple(expand(key, variables, f"{here}.{key_field}")
                         for key in _strings(entry.get(key_field, []), f"{here}.{key_field}", secret=True))
            if not all(keys):
                raise ConfigError(f"{here}.{key_field}: an empty key (leave it out to pass the client's key on)")
            headers = tuple((header, expand(_typed(value, str, "a string", f"{here}.headers.{header}"), variables,
                                            f"{here}.headers.{header}"))
                            for header, value in _table(entry.get("headers", {}), f"{here}.headers").items())
            capabilities = _table(entry.get("capabilities", {}), f"{here}.capabilities")
            CapabilityTable.from_mapping({"*": capabilities})  # (checked here, to name the upstream)
            timeouts = {key: float(_typed(entry[key], (int, float), "a number of seconds", f"{here}.{key}"))
                        for key in ("connect_timeout", "read_timeout") if key in entry}
            specs.append(UpstreamSpec(name=name, urls=urls, keys=keys, headers=headers, capabilities=capabilities,
                                      **timeouts))
        except CapabilitiesError as exc:
            raise ConfigError(f"{here}.capabilities: {str(exc).removeprefix('*: ')}") from None
        except SpecError as exc:  # (its message names the key, from here on)
            raise ConfigError(str(exc) if str(exc).startswith("config") else
                              f"{where.removesuffix(': upstreams')}: {exc}") from None
    return tuple(specs)


def _strings(value: object, where: str, *, secret: bool = False) -> list[str]:
    """One string, or a list of them."""
    items = value if isinstance(value, list) else [value]
    return [_typed(item, str, "a string or a list of strings", where, secret=secret) for item in items]


def _parse_number(name: str, text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text.strip())
    except ValueError:
        raise ConfigError(f"{_flag_name(name)}: must be {what}, got {text!r}") from None


def _parse_mapping(text: str) -> ModelMap:
    try:
        return ModelMap.parse(text)
    except MappingError as exc:
        raise ConfigError(f"model-mapping: {exc}") from None


def _parse_capabilities(text: str) -> CapabilityTable:
    try:
        return CapabilityTable.parse(text)
    except CapabilitiesError as exc:
        raise ConfigError(f"model-capabilities: {exc}") from None


def _check_url(url: str, setting: str = "target-url") -> str:
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
