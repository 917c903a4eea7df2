"""A Responses answer (JSON) -> an Anthropic message (pure).

    output item                      Anthropic block
    reasoning                        thinking: its summary (or its own reasoning text), the item in the
                                     signature (reasoning.py)
    message: output_text             text
    message: refusal                 text, and stop_reason "refusal"
    function_call                    tool_use: id the call_id, input the parsed arguments
    others (web_search_call...)      none

    status                           stop_reason
    a stop sequence in the text      stop_sequence (the text cut before it, and nothing after)
    incomplete, max_output_tokens    max_tokens
    incomplete, content_filter       refusal
    completed, with a function_call  tool_use
    completed                        end_turn
    failed                           an error, with the status its code stands for
"""

from __future__ import annotations

from typing import Any

from ...core.errors import UpstreamHTTPError, UpstreamProtocolError
from ..response import parse_arguments, require_some_content
from ..structured import strip_fences
from ..tools import ToolNames
from .reasoning import from_item
from .stops import cut

# The status a Responses error code stands for (as an Anthropic error type: core/errors.py).
CODE_STATUSES = {"rate_limit_exceeded": 429, "server_error": 500, "server_is_overloaded": 529,
                 "invalid_prompt": 400, "context_length_exceeded": 400, "vector_store_timeout": 504}


def from_responses(response: Any, *, model: str, message_id: str, stop_sequences: list[str] | None = None,
                   names: ToolNames | None = None, unfence: bool = False, origin: str | None = None) -> dict[str, Any]:
    """The Anthropic message for a Responses answer; ``model`` is the name the
    client asked for, ``origin`` the upstream/target that answered."""
    if not isinstance(response, dict):
        raise UpstreamProtocolError("the upstream answered with JSON that is not an object")
    if response.get("status") == "failed" or (response.get("error") and not response.get("output")):
        raise failure(response.get("error"))
    names = names or ToolNames()
    content: list[dict[str, Any]] = []
    refused, matched = False, None
    for item in list_of(response.get("output")):
        if not isinstance(item, dict) or matched is not None:
            continue
        kind = item.get("type")
        if kind == "reasoning":
            text, carried = from_item(item, origin)
            if text or carried.encrypted:  # (an item with nothing to show or carry makes no block)
                content.append({"type": "thinking", "thinking": text, "signature": carried.signature()})
        elif kind == "message":
            for part in list_of(item.get("content")):
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refused = True
                    content.append({"type": "text", "text": part["refusal"]})
                elif isinstance(part.get("text"), str):
                    text, matched = cut(strip_fences(part["text"]) if unfence else part["text"], stop_sequences)
                    if text.strip():
                        content.append({"type": "text", "text": text})
                    if matched is not None:
                        break
        elif kind == "function_call":
            content.append({"type": "tool_use", "id": str(item.get("call_id") or item.get("id") or ""),
                            "name": names.client(str(item.get("name") or "")),
                            "input": parse_arguments(item.get("arguments"))})
    reason = stop_reason(response, content, refused, matched)
    if not any(block["type"] != "thinking" or block["thinking"] for block in content):
        require_some_content("length" if reason in ("max_tokens", "refusal", "stop_sequence") else None)
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reason, "stop_sequence": matched, "usage": anthropic_usage(response.get("usage"))}


def stop_reason(response: dict[str, Any], content: list[dict[str, Any]], refused: bool, matched: str | None) -> str:
    if matched is not None:
        return "stop_sequence"
    why = dict_of(response.get("incomplete_details")).get("reason")
    if refused or why == "content_filter":
        return "refusal"
    if response.get("status") == "incomplete" or why == "max_output_tokens":
        return "max_tokens"
    return "tool_use" if any(block["type"] == "tool_use" for block in content) else "end_turn"


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Responses usage as Anthropic reports it: cached input apart from the rest."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    total, cached = _int(usage.get("input_tokens")), _int(details.get("cached_tokens"))
    cached = min(cached, total)
    written = min(_int(details.get("cache_write_tokens")), total - cached)
    return {"input_tokens": total - cached - written, "output_tokens": _int(usage.get("output_tokens")),
            "cache_creation_input_tokens": written, "cache_read_input_tokens": cached}


def failure(error: Any) -> UpstreamHTTPError:
    """A failed response, or an error event: the status its code stands for."""
    error = error if isinstance(error, dict) else {}
    nested = error.get("error")
    if isinstance(nested, dict):  # (the nested form: {"type": "error", "error": {...}})
        error = nested
    code, message = error.get("code"), error.get("message")
    if not isinstance(message, str) or not message:
        message = "the upstream reported that the response failed"
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = code  # (llama.cpp's: the HTTP status as the code)
    else:
        status = CODE_STATUSES.get(str(code), CODE_STATUSES.get(str(error.get("type")), 502))
    if code == "context_length_exceeded":
        message = f"prompt is too long (upstream: {message})"
    return UpstreamHTTPError(status, message)


def dict_of(value: Any) -> dict[str, Any]:
    """(The upstream's JSON, where an object should be: anything else counts as empty.)"""
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
