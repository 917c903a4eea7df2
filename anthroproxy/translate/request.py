"""Anthropic Messages request -> OpenAI Chat Completions request (pure).

Only fields an OpenAI server understands are produced: anything Anthropic-only
(top_k, cache_control, context_management, container, mcp_servers, server
tools, ...) is left behind, so a strict OpenAI server accepts every request the
proxy sends. Which sampling, limit and reasoning fields are sent depends on the
target model's capabilities (capabilities.py).

The top-level ``system`` becomes one leading system message (blocks joined by a
blank line); ``role: "system"`` entries inside ``messages`` (recent Claude Code
sends them) stay system messages in place. Messages are built by messages.py.

Claude Code opens ``system`` with an attribution line,
``x-anthropic-billing-header: cc_version=...; cc_entrypoint=...; cch=...;``,
whose value changes from one conversation to the next. Another backend would
take it as prompt text, and every new conversation would then miss the
backend's prefix cache of the system prompt and tools. It is left out unless
``keep_attribution``.

A request that turns thinking off (``thinking: {"type": "disabled"}``, as
Claude Code's subagents and background calls send) gets what the target's
``reasoning_off`` capability names, for backends that think unless told not to:

    reasoning_off          sent                                          documented by
    reasoning_effort       "reasoning_effort": lowest_effort             OpenAI (reasoning effort); Ollama
                                                                         ("none" turns think off, openai/openai.go)
    reasoning              "reasoning": {"effort": lowest_effort}        OpenRouter (reasoning tokens)
    thinking               "thinking": {"type": "disabled"}              DeepSeek (thinking mode)
    chat_template_kwargs   "chat_template_kwargs": {"enable_thinking":   vLLM and SGLang (Qwen 3's template),
                           false}                                        llama.cpp's server
    think                  "think": false                                Ollama's native API and servers that
                                                                         forward it
    none                   nothing
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.capabilities import Capabilities
from .content import PARAGRAPH
from .messages import build_messages
from .structured import instruction, output_schema, response_format
from .tools import ToolNames, translate_tool_choice, translate_tools

# Claude Code's budgets run from 1,024 up (31,999 by default); OpenAI takes three levels.
LOW_BUDGET_BELOW = 4096
MEDIUM_BUDGET_BELOW = 16384
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
ATTRIBUTION = "x-anthropic-billing-header:"


@dataclass(slots=True)
class Translation:
    payload: dict[str, Any]
    names: ToolNames  # maps upstream tool names back to the client's
    dropped_tools: list[str] = field(default_factory=list)  # server tools left out
    structured: bool = False  # the client asked for JSON matching a schema
    left_out: list[str] = field(default_factory=list)  # what the upstream refused, left out of the payload since

    @property
    def unfence(self) -> bool:
        """The JSON was asked for in words only (not a json_schema response_format,
        or no longer: refusals.py): a code fence around the answer comes off."""
        form = self.payload.get("response_format") or {}
        return self.structured and form.get("type") != "json_schema"


def to_openai(body: dict[str, Any], target_model: str, caps: Capabilities | None = None, *,
              keep_attribution: bool = False) -> Translation:
    """Translate a validated Anthropic request body for ``target_model``."""
    caps = caps or Capabilities()
    names = ToolNames()
    tools, dropped = translate_tools([*(body.get("tools") or ()), *added_tools(body["messages"])], names,
                                     strict=caps.strict_schemas)
    system = system_text(body.get("system") or "", keep_attribution=keep_attribution)
    schema = output_schema(body)
    if schema is not None and caps.structured_output != "json_schema":
        system = PARAGRAPH.join(part for part in (system, instruction(schema)) if part)
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
    if (body.get("thinking") or {}).get("type") == "disabled":
        payload.update(reasoning_off(caps))  # (and no effort: for Ollama any effort but "none" turns thinking on)
    else:
        payload.update(reasoning_on(body, caps))
    if schema is not None:
        form = response_format(schema, caps.structured_output, strict=caps.strict_schemas)
        if form is not None:
            payload["response_format"] = form
    if body.get("stream"):
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return Translation(payload, names, dropped, structured=schema is not None)


def system_text(system: str | list[dict[str, Any]], *, keep_attribution: bool) -> str:
    """The system prompt as one string, Claude Code's attribution line left
    out unless kept."""
    blocks = [system] if isinstance(system, str) else [block["text"] for block in system]
    if blocks and not keep_attribution and blocks[0].startswith(ATTRIBUTION):
        blocks[0] = blocks[0].partition("\n")[2].lstrip("\n")
    return PARAGRAPH.join(text for text in blocks if text)


def reasoning_on(body: dict[str, Any], caps: Capabilities) -> dict[str, Any]:
    """The effort field, for a request that enables thinking or names an effort."""
    effort = reasoning_effort(body) if caps.reasoning_param != "none" else None
    if not effort:
        return {}
    if caps.reasoning_param == "reasoning_effort":
        return {"reasoning_effort": effort}
    return {"reasoning": {"effort": effort}}  # OpenRouter's form


def reasoning_off(caps: Capabilities) -> dict[str, Any]:
    """The fields that turn a backend's reasoning off (the module's table)."""
    switch = caps.reasoning_off
    if switch == "reasoning_effort":
        return {"reasoning_effort": caps.lowest_effort}
    if switch == "reasoning":
        return {"reasoning": {"effort": caps.lowest_effort}}
    if switch == "thinking":
        return {"thinking": {"type": "disabled"}}
    if switch == "chat_template_kwargs":
        return {"chat_template_kwargs": {"enable_thinking": False}}
    if switch == "think":
        return {"think": False}
    return {}


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
