"""Anthropic Messages request -> OpenAI Chat Completions request (pure).

Only fields an OpenAI server understands are produced: anything Anthropic-only
(top_k, cache_control, context_management, container, mcp_servers, server
tools, ...) is left behind, so a strict OpenAI server accepts every request the
proxy sends. Which sampling, limit and reasoning fields are sent depends on the
target model's capabilities (capabilities.py).

The top-level ``system`` becomes one leading system message (blocks joined by a
blank line); ``role: "system"`` entries inside ``messages`` (recent Claude Code
sends them) stay system messages in place. Messages are built by messages.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .capabilities import Capabilities
from .content import PARAGRAPH
from .messages import build_messages
from .tools import ToolNames, translate_tool_choice, translate_tools

# Claude Code's budgets run from 1,024 up (31,999 by default); OpenAI takes three levels.
LOW_BUDGET_BELOW = 4096
MEDIUM_BUDGET_BELOW = 16384
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


@dataclass(slots=True)
class Translation:
    payload: dict[str, Any]
    names: ToolNames  # maps upstream tool names back to the client's
    dropped_tools: list[str] = field(default_factory=list)  # server tools left out


def to_openai(body: dict[str, Any], target_model: str, caps: Capabilities | None = None) -> Translation:
    """Translate a validated Anthropic request body for ``target_model``."""
    caps = caps or Capabilities()
    names = ToolNames()
    tools, dropped = translate_tools([*(body.get("tools") or ()), *added_tools(body["messages"])], names)
    system = body.get("system") or ""
    if isinstance(system, list):
        system = PARAGRAPH.join(block["text"] for block in system)
    limit = body["max_tokens"]
    if caps.max_output_tokens is not None:
        limit = min(limit, caps.max_output_tokens)
    payload: dict[str, Any] = {
        "model": target_model,
        "messages": build_messages(system, body["messages"], names, caps),
        caps.token_limit_field: limit,
    }
    if caps.sampling:
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                payload[key] = body[key]
    if caps.stop and body.get("stop_sequences"):
        payload["stop"] = list(body["stop_sequences"])
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id:
        payload["user"] = user_id
    if tools:
        payload["tools"] = tools
        offered = {tool["function"]["name"] for tool in tools}
        payload.update(translate_tool_choice(body.get("tool_choice"), names, offered))
    effort = reasoning_effort(body) if caps.reasoning_param != "none" else None
    if effort and caps.reasoning_param == "reasoning_effort":
        payload["reasoning_effort"] = effort
    elif effort:
        payload["reasoning"] = {"effort": effort}  # OpenRouter's form
    if body.get("stream"):
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return Translation(payload, names, dropped)


def added_tools(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools Claude Code adds mid-conversation (tool_addition blocks in system
    turns). OpenAI has one tool list per request, so they join it; a name
    already offered is not offered twice."""
    definitions: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["role"] == "system" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if block.get("type") == "tool_addition":
                    definition = block["tool"]["definition"]
                    definitions.setdefault(definition["name"], definition)
    return list(definitions.values())


def reasoning_effort(body: dict[str, Any]) -> str | None:
    """low / medium / high from output_config.effort, else from the thinking budget."""
    effort = (body.get("output_config") or {}).get("effort")
    if effort in EFFORTS:
        return EFFORTS[effort]
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens") or 0
        if budget < LOW_BUDGET_BELOW:
            return "low"
        return "medium" if budget < MEDIUM_BUDGET_BELOW else "high"
    return None
