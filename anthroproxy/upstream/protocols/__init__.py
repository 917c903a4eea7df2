"""Upstream protocols: one module each, behind base.py's interface.

    base.py   the interface (UpstreamProtocol, Relay, Prepared) and the Call a protocol is handed
    chat.py   OpenAI Chat Completions

A new protocol is a new module here, and its name in PROTOCOLS: the
dispatcher, failover and the rest never ask which protocol a candidate speaks.
"""

from __future__ import annotations

from typing import Callable

from ...config.settings import Config
from .base import Call, Origin, Prepared, Relay, UpstreamProtocol
from .chat import ChatProtocol

# Each protocol, by the name a configuration would give it, built from the proxy's settings.
PROTOCOLS: dict[str, Callable[[Config], UpstreamProtocol]] = {
    "chat": lambda config: ChatProtocol(config.capabilities, keep_attribution=config.attribution_block == "keep",
                                        count_tokens=config.count_tokens),
}

__all__ = ["PROTOCOLS", "Call", "ChatProtocol", "Origin", "Prepared", "Relay", "UpstreamProtocol"]
