"""OpenAI chat completion (JSON) -> Anthropic message (pure)."""

from __future__ import annotations

from typing import Any

from ..errors import UpstreamProtocolError, upstream_error_from_payload
from .usage import anthropic_usage, matched_stop_sequence, stop_reason


def from_openai(
    completion: Any,
    *,
    model: str,
    message_id: str,
    stop_sequences: list[str] | None = None,
) -> dict[str, Any]:
    """Build the Anthropic message. ``model`` is the name the client asked for."""
    choice = first_choice(completion)
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}

    content: list[dict[str, Any]] = []
    text = message_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})

    matched = matched_stop_sequence(choice, stop_sequences)
    if matched is not None:
        reason = "stop_sequence"
    elif isinstance(refusal, str) and refusal:
        reason = "refusal"
    else:
        reason = stop_reason(choice.get("finish_reason"))
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
