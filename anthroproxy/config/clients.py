"""Client keys: who may call the proxy, for which models, within which limits (pure).

    [clients.alice]
    key = "${ALICE_KEY}"           # or key_sha256 = "<hex>", so the file holds no secret
    models = ["claude-*"]          # model names (globs) this client may ask for; all if left out
    rpm = 60                       # requests per minute
    tpm = 400000                   # input + output tokens per minute
    daily_tokens = 20000000        # a budget; resets at 00:00 UTC

A presented key is found by its SHA-256 in a dict: one hash, one lookup, in
process, whatever the key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

CLIENT_KEYS = ("key", "key_sha256", "models", "rpm", "tpm", "daily_tokens")
LIMITS = ("rpm", "tpm", "daily_tokens")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
# The name a client is known by in the access log, the metrics and /v1/usage.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ClientError(ValueError):
    """A [clients] entry that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class ClientSpec:
    name: str
    key_sha256: str  # hex, lower case
    models: tuple[str, ...] | None = None  # globs; None: every model
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None

    def may_use(self, model: str) -> bool:
        return self.models is None or any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    @property
    def limited(self) -> bool:
        return any(getattr(self, limit) is not None for limit in LIMITS)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client_spec(name: str, entry: Mapping[str, object], where: str, key: str | None) -> ClientSpec:
    """One ``[clients.NAME]`` table, its ``key`` already expanded (``${VAR}``)."""
    unknown = set(entry) - set(CLIENT_KEYS)
    if unknown:
        raise ClientError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    if not _NAME.fullmatch(name):
        raise ClientError(f"{where}: a client's name is letters, digits, '_', '.' or '-' (at most 64)")
    if (key is None) == ("key_sha256" not in entry):
        raise ClientError(f"{where}: key or key_sha256, one of them")
    if key is not None:
        if not key.strip():
            raise ClientError(f"{where}.key: an empty key")
        digest = key_hash(key)
    else:
        digest = entry["key_sha256"]
        if not isinstance(digest, str) or not _HEX_SHA256.fullmatch(digest.lower()):
            raise ClientError(f"{where}.key_sha256: expected 64 hexadecimal digits (sha256sum of the key)")
        digest = digest.lower()
    models = entry.get("models")
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)):
        raise ClientError(f"{where}.models: expected a list of model names or globs")
    limits = {}
    for limit in LIMITS:
        value = entry.get(limit)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ClientError(f"{where}.{limit}: expected a whole number of at least 1, got {value!r}")
        limits[limit] = value
    return ClientSpec(name, digest, tuple(models) if models is not None else None, **limits)


class Clients:
    """The configured clients, found by key."""

    def __init__(self, specs: tuple[ClientSpec, ...] = ()) -> None:
        self.specs = specs
        self._by_hash = {spec.key_sha256: spec for spec in specs}
        self.by_name = {spec.name: spec for spec in specs}
        if len(self._by_hash) != len(specs):
            raise ClientError("clients: two clients have the same key")

    def __bool__(self) -> bool:
        return bool(self.specs)

    def find(self, key: str | None) -> ClientSpec | None:
        return self._by_hash.get(key_hash(key)) if key else None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)
