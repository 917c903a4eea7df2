"""OpenAI chat completion (JSON) -> Anthropic message (pure).

Content order follows Anthropic's: thinking, then text, then tool_use blocks.
A backend that sent tool calls but finish_reason "stop" (Gemini's OpenAI layer)
still gets stop_reason "tool_use": the client must run the tools.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import ids
from ..core.errors import UpstreamProtocolError, upstream_error_from_payload
from .reasoning import UNSIGNED, reasoning_of, split_think_tags
from .structured import strip_fences
from .tools import ToolNames
from .usage import anthropic_usage, matched_stop_sequence, stop_reason


def from_openai(
    completion: Any,
    *,
    model: str,
    message_id: str,
    stop_sequences: list[str] | None = None,
    names: ToolNames | None = None,
    unfence: bool = False,
) -> dict[str, Any]:
    """Build the Anthropic message. ``model`` is the name the client asked for.
    ``unfence``: JSON was asked for in words only; a code fence around it comes off."""
    choice = first_choice(completion)
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    names = names or ToolNames()

    content: list[dict[str, Any]] = []
    reasoning, signature = reasoning_of(message)
    if reasoning:
        content.append(thinking_block(reasoning, signature))
    for kind, text in split_think_tags(message_text(message.get("content"))):
        if kind == "thinking":
            if not reasoning:  # (with a reasoning field too, it is a repeat)
                content.append(thinking_block(text, None))
            continue
        text = strip_fences(text) if unfence else text
        if text.strip():  # whitespace alone is no block, as in a stream
            content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = [tool_use_block(call, names) for call in message.get("tool_calls") or () if isinstance(call, dict)]
    content += calls

    if not content:
        require_some_content(choice.get("finish_reason"))
    matched = matched_stop_sequence(choice, stop_sequences)
    if matched is not None:
        reason = "stop_sequence"
    elif isinstance(refusal, str) and refusal:
        reason = "refusal"
    else:
        reason = stop_reason(choice.get("finish_reason"), tool_calls=bool(calls))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": matched,
        "usage": anthropic_usage(completion.get("usage")),
    }


# A limit or a filter may legitimately cut an answer to nothing.
EMPTY_ALLOWED = ("length", "content_filter")


def require_some_content(finish_reason: Any) -> None:
    """An answer with no text, no reasoning and no tool call, not cut by a limit
    or a filter, is an upstream fault (a 200 with ``content: null``, a stream of
    nothing): reported as such rather than passed on as an empty message."""
    if finish_reason not in EMPTY_ALLOWED:
        raise UpstreamProtocolError(
            f"the upstream's answer was empty: no text, no tool call (finish_reason {finish_reason!r})")


def thinking_block(text: str, signature: str | None) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": signature or UNSIGNED}


def tool_use_block(call: dict[str, Any], names: ToolNames) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "type": "tool_use",
        "id": call.get("id") or ids.tool_use_id(),
        "name": names.client(function.get("name") or ""),
        "input": parse_arguments(function.get("arguments")),
    }


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool input as an object: empty arguments are ``{}``; arguments some
    backends send as an object already are kept; JSON that was encoded twice is
    decoded twice. Anything that is not an object cannot be a tool input."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
        if isinstance(value, str):
            value = json.loads(value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def first_choice(completion: Any) -> dict[str, Any]:
    if not isinstance(completion, dict):
        raise UpstreamProtocolError("the upstream answered with JSON that is not an object")
    if completion.get("error"):
        raise upstream_error_from_payload(completion)
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("the upstream answered without any choices")
    return choices[0]


def message_text(content: Any) -> str:
    """Content as a string, or as an array of text parts (some servers)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
