"""Identifiers in Anthropic's style: a prefix and 24 random base-62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def _random(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def message_id() -> str:
    return "msg_" + _random()


def request_id() -> str:
    return "req_" + _random()


def tool_use_id() -> str:
    """For tool calls a backend sent without an id."""
    return "toolu_" + _random()
