"""The client's own credential, as its headers carry it (pure)."""

from __future__ import annotations

from typing import Mapping


def client_key(headers: Mapping[str, str]) -> str | None:
    """The client's key: x-api-key, or an Authorization bearer token."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
