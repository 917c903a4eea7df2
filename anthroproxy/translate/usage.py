"""Tables shared by the JSON and streaming response translators.

Token accounting differs between the APIs: OpenAI's ``prompt_tokens`` INCLUDES
cached tokens, Anthropic's ``input_tokens`` EXCLUDES them (total prompt =
input_tokens + cache_read_input_tokens + cache_creation_input_tokens). Passing
prompt_tokens through unchanged double-counts the cache and makes clients
compact their context too early.
"""

from __future__ import annotations

from typing import Any

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Rough size of a token in characters, used only when a backend reports no usage.
CHARS_PER_TOKEN = 4


def stop_reason(finish_reason: str | None, *, tool_calls: bool = False) -> str:
    """Anthropic's stop_reason. When tool calls were made, only a token limit or
    a content filter overrides tool_use (Gemini says "stop" after tool calls);
    "tool_calls" without any call is a plain end_turn."""
    reason = STOP_REASONS.get(finish_reason or "stop", "end_turn")
    if tool_calls and reason == "end_turn":
        return "tool_use"
    if not tool_calls and reason == "tool_use":
        return "end_turn"  # no tool_use block to act on
    return reason


def matched_stop_sequence(choice: dict[str, Any], requested: list[str] | None) -> str | None:
    """vLLM reports the stop string that ended generation in ``choice.stop_reason``;
    OpenAI strips it and does not say which one matched."""
    matched = choice.get("stop_reason")
    if isinstance(matched, str) and requested and matched in requested:
        return matched
    return None


def anthropic_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    # DeepSeek reports its cache hits in its own field.
    cached = _int(details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    cached = min(cached, prompt)
    written = min(_int(details.get("cache_write_tokens")), prompt - cached)
    return {
        "input_tokens": prompt - cached - written,
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def estimate_tokens(characters: int) -> int:
    return -(-characters // CHARS_PER_TOKEN)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def estimate_prompt_tokens(openai_messages: list[dict[str, Any]]) -> int:
    """A rough prompt size, for message_start before the backend reports usage."""
    return estimate_tokens(sum(len(m["content"]) for m in openai_messages if isinstance(m.get("content"), str)))
