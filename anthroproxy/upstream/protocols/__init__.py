"""Upstream protocols: one module each, behind base.py's interface.

    base.py       the interface (UpstreamProtocol, Relay, Prepared) and the Call a protocol is handed
    chat.py       OpenAI Chat Completions
    anthropic.py  Anthropic's Messages API, passed through
    responses.py  OpenAI's Responses API

A new protocol is a new module here, and its name in PROTOCOLS: the
dispatcher, failover and the rest never ask which protocol a candidate speaks.
"""

from __future__ import annotations

from typing import Callable

from ...config.settings import Config
from .anthropic import AnthropicProtocol
from .base import Call, Origin, Prepared, Relay, SwitchProtocol, UpstreamProtocol
from .chat import ChatProtocol
from .responses import ResponsesProtocol


def attribution_kept(config: Config) -> Callable[[str], bool]:
    """Whether an upstream gets Claude Code's attribution line: its own setting, else the proxy's."""
    kept = {name: (spec.attribution_block or config.attribution_block) == "keep"
            for name, spec in config.upstream_specs().items()}
    return kept.__getitem__


# Each protocol, by the name a configuration gives it (config/spec.py: PROTOCOLS), built from the proxy's settings.
PROTOCOLS: dict[str, Callable[[Config], UpstreamProtocol]] = {
    "chat": lambda config: ChatProtocol(config.capabilities, keep_attribution=attribution_kept(config),
                                        count_tokens=config.count_tokens),
    "anthropic": lambda config: AnthropicProtocol(keep_attribution=attribution_kept(config)),
    "responses": lambda config: ResponsesProtocol(config.capabilities, keep_attribution=attribution_kept(config)),
}

__all__ = ["PROTOCOLS", "AnthropicProtocol", "Call", "ChatProtocol", "Origin", "Prepared", "Relay", "ResponsesProtocol",
           "SwitchProtocol", "UpstreamProtocol"]
