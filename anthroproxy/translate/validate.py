"""Check an Anthropic Messages request before translating it.

Every failure is an InvalidRequest (400) whose message starts with the path of
the offending value, e.g. ``messages.3.content.1.text: expected a string``, so a
client can find its mistake. Unknown top-level fields are accepted (clients such
as Claude Code send many beta fields); they are simply not forwarded. An optional
field set to null counts as absent.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest

ROLES = ("user", "assistant", "system")
TEXT_BLOCK_TYPES = ("text",)


def fail(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}")


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def require_str(value: Any, path: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(path, f"expected a string, got {describe(value)}")
    if non_empty and not value:
        raise fail(path, "must not be empty")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_request(body: Any) -> None:
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body: expected a JSON object, got {describe(body)}")
    if "model" not in body:
        raise fail("model", "field required")
    require_str(body["model"], "model", non_empty=True)
    if "max_tokens" not in body:
        raise fail("max_tokens", "field required")
    if not is_int(body["max_tokens"]) or body["max_tokens"] < 0:
        raise fail("max_tokens", f"expected a non-negative integer, got {describe(body['max_tokens'])}")
    _validate_optional(body)
    if "messages" not in body:
        raise fail("messages", "field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise fail("messages", f"expected an array, got {describe(messages)}")
    if not messages:
        raise fail("messages", "at least one message is required")
    for i, message in enumerate(messages):
        validate_message(message, f"messages.{i}")


def _validate_optional(body: dict) -> None:
    def present(key: str) -> bool:
        return body.get(key) is not None

    if present("system"):
        validate_text_content(body["system"], "system")
    if present("stream") and not isinstance(body["stream"], bool):
        raise fail("stream", f"expected a boolean, got {describe(body['stream'])}")
    for key in ("temperature", "top_p"):
        if present(key) and not is_number(body[key]):
            raise fail(key, f"expected a number, got {describe(body[key])}")
    if present("top_k") and not is_int(body["top_k"]):
        raise fail("top_k", f"expected an integer, got {describe(body['top_k'])}")
    if present("stop_sequences"):
        stops = body["stop_sequences"]
        if not isinstance(stops, list):
            raise fail("stop_sequences", f"expected an array of strings, got {describe(stops)}")
        for i, stop in enumerate(stops):
            require_str(stop, f"stop_sequences.{i}")
    if present("metadata"):
        metadata = body["metadata"]
        if not isinstance(metadata, dict):
            raise fail("metadata", f"expected an object, got {describe(metadata)}")
        if metadata.get("user_id") is not None:
            require_str(metadata["user_id"], "metadata.user_id")


def validate_message(message: Any, path: str) -> None:
    if not isinstance(message, dict):
        raise fail(path, f"expected an object, got {describe(message)}")
    if "role" not in message:
        raise fail(f"{path}.role", "field required")
    role = message["role"]
    if role not in ROLES:
        raise fail(f"{path}.role", f"expected one of {', '.join(ROLES)}, got {role!r}")
    if "content" not in message:
        raise fail(f"{path}.content", "field required")
    if role == "system":
        validate_text_content(message["content"], f"{path}.content")
    else:
        validate_content(message["content"], f"{path}.content")


def validate_text_content(content: Any, path: str) -> None:
    """A string or an array of text blocks (system prompts)."""
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(path, f"expected a string or an array of text blocks, got {describe(content)}")
    for i, block in enumerate(content):
        block_path = f"{path}.{i}"
        block_type = _block_type(block, block_path)
        if block_type != "text":
            raise fail(f"{block_path}.type", f"expected 'text', got {block_type!r}")
        validate_text_block(block, block_path)


def validate_content(content: Any, path: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(path, f"expected a string or an array of content blocks, got {describe(content)}")
    for i, block in enumerate(content):
        block_path = f"{path}.{i}"
        block_type = _block_type(block, block_path)
        if block_type == "text":
            validate_text_block(block, block_path)
        else:
            raise fail(f"{block_path}.type", f"content block type {block_type!r} is not supported")


def validate_text_block(block: dict, path: str) -> None:
    if "text" not in block:
        raise fail(f"{path}.text", "field required")
    require_str(block["text"], f"{path}.text")


def _block_type(block: Any, path: str) -> str:
    if not isinstance(block, dict):
        raise fail(path, f"expected a content block object, got {describe(block)}")
    if "type" not in block:
        raise fail(f"{path}.type", "field required")
    return require_str(block["type"], f"{path}.type")
