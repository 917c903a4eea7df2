"""The command line, the environment and .env, merged into a Config (pure).

Precedence, highest first: command-line flags > process environment > ``.env``
file > config file (TOML, file.py) > defaults. ``load_config`` never mutates
``os.environ``; it reads the .env file with ``dotenv_values`` and merges
dictionaries.
"""

from __future__ import annotations

import argparse
from typing import Mapping, Sequence

from dotenv import dotenv_values

from .._version import __version__
from .capabilities import CapabilityTable
from .file import read_config_file
from .models import ModelMap
from .settings import (
    BODY_TIMEOUT_S,
    COUNTS,
    FAILOVER_COOLDOWN_S,
    HEADER_TIMEOUT_S,
    KEEPALIVE_TIMEOUT_S,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    PING_INTERVAL_S,
    SECONDS,
    SHUTDOWN_GRACE_S,
    UPSTREAM_CONNECT_TIMEOUT_S,
    UPSTREAM_READ_TIMEOUT_S,
    Config,
    ConfigError,
    flag_name,
    parse_capabilities,
    parse_mapping,
)

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
    ("--state-url", "STATE_URL", "state_url", "URL"),
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
    "'{\"qwen3*\": {\"reasoning_param\": \"reasoning_effort\"}}' (see docs/configuration.md)",
    "default_model": "target model when no mapping matches (default gpt-5)",
    "log_level": "DEBUG, INFO, WARN, ERROR or NONE (default DEBUG)",
    "log_format": "text (one readable line per request) or json (one JSON object per line)",
    "count_tokens": "how /v1/messages/count_tokens counts: local (an estimate, the default) or upstream "
    "(the backend's /tokenize, as vLLM and llama.cpp offer; the estimate if that fails)",
    "attribution_block": "Claude Code's attribution line (x-anthropic-billing-header: ...) at the top of its system "
    "prompt: drop (the default: it changes per conversation and defeats the backend's prompt cache) or keep",
    "workers": "processes serving the port (default 1; 0: one per core)",
    "auth_token": "a token clients must present (x-api-key or Authorization: Bearer); unset: no check",
    "state_url": "a Redis or Valkey server (redis://[:password@]host:6379/0, rediss:// for TLS) the proxy's "
    "instances share what they learn through (default: none, each process keeps its own)",
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
        description="Serve the Anthropic Messages API on top of OpenAI-compatible backends, or Anthropic's own.",
        epilog="Each flag can also be set by the environment variable shown, in a .env file in the working "
        "directory, or in a --config file. Precedence: flags > environment > .env > config file > defaults. "
        "'anthroproxy usage' prints a running proxy's usage per client (anthroproxy usage --help).",
    )
    for flag, env, dest, metavar in SETTINGS:
        parser.add_argument(flag, dest=dest, metavar=metavar, default=None, help=f"{HELP[dest]} [env {env}]")
    parser.add_argument("--config", dest="config", metavar="FILE", default=None,
                        help="a TOML file with any of these settings, [models], [capabilities] and [upstreams] "
                        "(see docs/configuration.md) [env CONFIG_FILE]")
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
        kwargs["model_mapping"] = file_models.overridden_by(parse_mapping(raw["model_mapping"]))
    if "model_capabilities" in raw:
        kwargs["model_capabilities"] = file_capabilities.merged(parse_capabilities(raw["model_capabilities"]))
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



def _parse_number(name: str, text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text.strip())
    except ValueError:
        raise ConfigError(f"{flag_name(name)}: must be {what}, got {text!r}") from None

