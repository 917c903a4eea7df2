"""The config file: a TOML file's settings, by their Config names (pure).

``[models]``, ``[capabilities]`` and ``[upstreams.NAME]`` become the model
map, the capability table and the named upstreams; ``${VAR}`` in URLs, keys,
tokens and upstream headers is read from the variables given.
"""

from __future__ import annotations

import tomllib
from typing import Mapping

from .capabilities import CapabilitiesError, CapabilityTable
from .clients import ClientError, Clients, ClientSpec, client_spec
from .models import MappingError, ModelMap, parse_route
from .routes import Choice, Route, Routes
from .settings import COUNTS, SECONDS, ConfigError, check_url
from .spec import DEFAULT, PROTOCOLS, SpecError, UpstreamSpec, expand

STRING_KEYS = ("host", "target_url", "api_key", "auth_token", "default_model", "log_level", "log_format",
               "count_tokens", "attribution_block", "ca_bundle", "state_url")
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
        elif key == "clients":
            values["clients"] = _clients_table(value, where, variables or {})
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


SECRET_KEYS = ("api_key", "auth_token", "state_url")
EXPANDED_KEYS = ("target_url", "api_key", "auth_token", "state_url")  # (${VAR} here too, as in [upstreams])


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


ROUTE_KEYS = {"target", "upstream", "protocol", "fallbacks"}
CHOICE_KEYS = ("target", "upstream", "protocol")
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
    primary = _choice({key: table[key] for key in CHOICE_KEYS if key in table}, where)
    return Route(primary, tuple(_choice(item, f"{where}.fallbacks.{i}") for i, item in enumerate(fallbacks)))


def _choice(item: object, where: str) -> Choice:
    if isinstance(item, str):  # "target@upstream"
        route = _route_text(item, where)
        if route.fallbacks:
            raise ConfigError(f"{where}: one 'target@upstream' per fallback, got {item!r}")
        return route.primary
    table = _table(item, where)
    unknown = set(table) - set(CHOICE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    # (No target: the client's model name, for an upstream that speaks Anthropic's API; Config checks.)
    target = _typed(table["target"], str, "a target model name", f"{where}.target") if "target" in table else None
    upstream = _typed(table.get("upstream", DEFAULT), str, "an upstream's name", f"{where}.upstream")
    protocol = _typed(table["protocol"], str, "a protocol's name", f"{where}.protocol") if "protocol" in table else None
    if target == "":
        raise ConfigError(f"{where}.target: must not be empty")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ConfigError(f"{where}.protocol: expected one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return Choice(target, upstream, protocol)


def _route_text(text: str, where: str) -> Route:
    try:
        return parse_route(text, text)
    except MappingError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return value


UPSTREAM_KEYS = {"url", "api_key", "api_keys", "headers", "capabilities", "connect_timeout", "read_timeout", "protocol",
                 "auth", "attribution_block"}
NAMED_KEYS = ("protocol", "auth", "attribution_block")  # (strings from a fixed list: UpstreamSpec checks which)


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
            urls = tuple(check_url(expand(url, variables, f"{here}.url"), f"{here}.url")
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
            named = {key: _typed(entry[key], str, "a string", f"{here}.{key}") for key in NAMED_KEYS if key in entry}
            specs.append(UpstreamSpec(name=name, urls=urls, keys=keys, headers=headers, capabilities=capabilities,
                                      **timeouts, **named))
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



def _clients_table(table: object, where: str, variables: Mapping[str, str]) -> tuple[ClientSpec, ...]:
    """``[clients.NAME]``: key (``${VAR}`` read) or key_sha256, models, rpm, tpm, daily_tokens."""
    specs = []
    try:
        for name, entry in _table(table, where).items():
            here = f"{where}.{name}"
            entry = _table(entry, here)
            key = None
            if "key" in entry:
                key = expand(_typed(entry["key"], str, "a string", f"{here}.key", secret=True), variables,
                             f"{here}.key")
            specs.append(client_spec(name, entry, here, key))
        Clients(tuple(specs))  # (two clients with one key: refused here, naming the table)
    except (ClientError, SpecError) as exc:
        raise ConfigError(str(exc) if str(exc).startswith("config") else f"{where}: {exc}") from None
    return tuple(specs)
