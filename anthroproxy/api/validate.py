"""Check an Anthropic Messages request before translating it.

Every failure is an InvalidRequest (400) whose message starts with the path of
the offending value, e.g. ``messages.3.content.1.text: expected a string``, so a
client can find its mistake. Unknown top-level fields are accepted (clients such
as Claude Code send many beta fields); they are simply not forwarded. An optional
field set to null counts as absent.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..core.errors import InvalidRequest

ROLES = ("user", "assistant", "system")

# Records of work done at Anthropic (server tools, uploads, advisor and
# fallback echoes): accepted in the history and passed over, since an OpenAI
# backend can neither run nor read them. Assistant and system turns also pass
# over block types newer than this list (clients echo whatever the API sent);
# a user turn with an unknown type is a 400, as at Anthropic.
PASSED_OVER = (
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
    "container_upload", "mcp_tool_use", "mcp_tool_result", "mcp_tool_listing", "advisor_tool_result", "fallback",
)
USER_BLOCKS = ("text", "image", "document", "search_result", "tool_result", "mid_conv_system")
ASSISTANT_BLOCKS = ("text", "thinking", "redacted_thinking", "tool_use", "compaction")
TOOL_RESULT_BLOCKS = ("text", "image", "document", "search_result", "tool_reference")
IMAGE_SOURCES = ("base64", "url")
DOCUMENT_SOURCES = ("base64", "text", "content", "url")
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")
OUTPUT_FORMATS = ("json_schema",)
# JSON Schemas and tool inputs are the request's free-form trees; the translator
# walks them, so their depth is bounded well below Python's recursion limit.
# (OpenAI's strict mode allows 10 levels; Claude Code's schemas use about 6.)
MAX_NESTING = 100
# The largest integer every JSON parser reads exactly (2**53 - 1, JavaScript's
# Number.MAX_SAFE_INTEGER): counts beyond it are refused, not passed on.
MAX_COUNT = 2**53 - 1


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


def shown_number(value: int | float) -> str:
    text = repr(value)
    return text if len(text) <= 24 else "a number out of range"


def require_count(value: Any, path: str) -> int:
    """A non-negative integer that fits in MAX_COUNT."""
    if not is_int(value) or value < 0:
        raise fail(path, f"expected a non-negative integer, got {describe(value)}")
    if value > MAX_COUNT:
        raise fail(path, f"expected an integer up to {MAX_COUNT}, got {shown_number(value)}")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---- the body as JSON ---------------------------------------------------------

# A \u escape of a surrogate. Decoded strictly, the UTF-8 text holds no raw
# surrogate, so only such an escape can put a lone one in a parsed string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_body(raw: bytes) -> Any:
    """The request body as JSON, strictly: UTF-8 (``json.loads`` of bytes would
    also take UTF-16, and surrogates encoded as UTF-8 bytes), no NaN or
    Infinity (Python's parser takes them; no other does), and no lone
    surrogate in any string (the Anthropic API refuses it, "no low surrogate
    in string", and it has no UTF-8 form to send on). Each refusal is a 400
    naming the problem."""
    if not raw.strip():
        raise InvalidRequest("request body: expected a JSON object, got an empty body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidRequest("request body: JSON nested too deeply") from None
    except ValueError as exc:
        raise InvalidRequest(f"request body: not valid JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(text):  # (rare: only then is the body walked)
        path = lone_surrogate_path(body)
        if path is not None:
            raise fail(path or "request body", "a lone surrogate (half of a UTF-16 pair) is not valid Unicode: "
                       "no low surrogate in string")
    return body


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_path(value: Any) -> str | None:
    """The path of a string (or object key) holding a lone surrogate, if any;
    walked with a stack, since the tree may be deep."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, str):
            if _lone_surrogate(node):
                return path
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _lone_surrogate(key):
                    return child_path.encode("utf-8", "backslashreplace").decode()
                pending.append((child_path, child))
        elif isinstance(node, list):
            pending += ((f"{path}.{i}" if path else str(i), child) for i, child in enumerate(node))
    return None


def require_depth(value: Any, path: str, limit: int = MAX_NESTING) -> None:
    """A free-form tree (a schema, a tool input) nests at most ``limit`` levels."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            raise fail(path, f"nested deeper than {limit} levels")
        if isinstance(node, dict):
            pending += ((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            pending += ((child, depth + 1) for child in node if isinstance(child, (dict, list)))


# ---- the request --------------------------------------------------------------


def validate_request(body: Any, *, counting: bool = False) -> None:
    """A /v1/messages body; for /v1/messages/count_tokens (``counting``),
    ``max_tokens`` may be left out."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body: expected a JSON object, got {describe(body)}")
    if "model" not in body:
        raise fail("model", "field required")
    require_str(body["model"], "model", non_empty=True)
    if "max_tokens" not in body and not counting:
        raise fail("max_tokens", "field required")
    if "max_tokens" in body:
        require_count(body["max_tokens"], "max_tokens")
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
        if present(key) and not 0 <= body[key] <= 1:
            raise fail(key, f"expected a number from 0 to 1, got {shown_number(body[key])}")
    if present("top_k"):
        require_count(body["top_k"], "top_k")
    if present("stop_sequences"):
        stops = body["stop_sequences"]
        if not isinstance(stops, list):
            raise fail("stop_sequences", f"expected an array of strings, got {describe(stops)}")
        for i, stop in enumerate(stops):
            require_str(stop, f"stop_sequences.{i}")
    if present("metadata"):
        metadata = require_object(body["metadata"], "metadata")
        if metadata.get("user_id") is not None:
            require_str(metadata["user_id"], "metadata.user_id")
    if present("tools"):
        validate_tools(body["tools"])
    if present("tool_choice"):
        validate_tool_choice(body["tool_choice"])
    if present("thinking"):
        thinking = require_object(body["thinking"], "thinking")
        require_one_of(thinking.get("type"), THINKING_TYPES, "thinking.type")
        if thinking["type"] == "enabled":
            require_count(thinking.get("budget_tokens"), "thinking.budget_tokens")
    if present("output_config"):
        config = require_object(body["output_config"], "output_config")
        if config.get("effort") is not None:
            require_str(config["effort"], "output_config.effort")
        if config.get("format") is not None:
            validate_output_format(config["format"], "output_config.format")
    if present("output_format"):  # the beta form
        validate_output_format(body["output_format"], "output_format")


def validate_output_format(form: Any, path: str) -> None:
    """``{"type": "json_schema", "schema": {...}}``: a structured output."""
    require_object(form, path)
    require_one_of(form.get("type"), OUTPUT_FORMATS, f"{path}.type")
    if "schema" not in form:
        raise fail(f"{path}.schema", "field required")
    require_object(form["schema"], f"{path}.schema")
    require_depth(form["schema"], f"{path}.schema")


def validate_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise fail("tools", f"expected an array, got {describe(tools)}")
    for i, tool in enumerate(tools):
        path = f"tools.{i}"
        require_object(tool, path)
        if "name" not in tool:
            raise fail(f"{path}.name", "field required")
        require_str(tool["name"], f"{path}.name", non_empty=True)
        if tool.get("type") not in (None, "custom"):
            require_str(tool["type"], f"{path}.type")
            continue  # an Anthropic server tool: left out, never translated
        if "input_schema" not in tool:
            raise fail(f"{path}.input_schema", "field required")
        validate_schema(tool["input_schema"], f"{path}.input_schema")
        if tool.get("description") is not None:
            require_str(tool["description"], f"{path}.description")
        if tool.get("strict") is not None and not isinstance(tool["strict"], bool):
            raise fail(f"{path}.strict", f"expected a boolean, got {describe(tool['strict'])}")


def validate_schema(schema: Any, path: str) -> None:
    require_object(schema, path)
    require_depth(schema, path)


def validate_tool_choice(choice: Any) -> None:
    require_object(choice, "tool_choice")
    require_one_of(choice.get("type"), TOOL_CHOICES, "tool_choice.type")
    if choice["type"] == "tool":
        if "name" not in choice:
            raise fail("tool_choice.name", "field required")
        require_str(choice["name"], "tool_choice.name", non_empty=True)
    if choice.get("disable_parallel_tool_use") is not None and not isinstance(choice["disable_parallel_tool_use"], bool):
        raise fail("tool_choice.disable_parallel_tool_use", "expected a boolean")


def validate_message(message: Any, path: str) -> None:
    require_object(message, path)
    if "role" not in message:
        raise fail(f"{path}.role", "field required")
    role = message["role"]
    require_one_of(role, ROLES, f"{path}.role")
    if role == "system":
        # Claude Code's mid-conversation system turns may carry only output_config, or
        # tool_addition / tool_removal blocks besides text.
        if message.get("content") is not None:
            validate_content(message["content"], f"{path}.content", ("text", "tool_addition"), lenient=True)
        return
    if "content" not in message:
        raise fail(f"{path}.content", "field required")
    if role == "user":
        validate_content(message["content"], f"{path}.content", USER_BLOCKS)
    else:
        validate_content(message["content"], f"{path}.content", ASSISTANT_BLOCKS, lenient=True)


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


def validate_content(content: Any, path: str, allowed: tuple[str, ...], *, lenient: bool = False) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(path, f"expected a string or an array of content blocks, got {describe(content)}")
    for i, block in enumerate(content):
        validate_block(block, f"{path}.{i}", allowed, lenient=lenient)


KNOWN_BLOCKS = {*USER_BLOCKS, *ASSISTANT_BLOCKS, "tool_reference", "tool_addition", "tool_removal"}


def validate_block(block: Any, path: str, allowed: tuple[str, ...], *, lenient: bool = False) -> None:
    """``lenient``: a type this proxy does not know is passed over, not refused."""
    block_type = _block_type(block, path)
    if block_type in PASSED_OVER:
        return
    if block_type not in allowed:
        if lenient and block_type not in KNOWN_BLOCKS - {"tool_removal"}:
            return
        problem = "is not allowed here" if block_type in KNOWN_BLOCKS else "is not supported"
        raise fail(f"{path}.type", f"content block type {block_type!r} {problem}")
    VALIDATORS[block_type](block, path)


def validate_image(block: dict, path: str) -> None:
    source = _source(block, path, IMAGE_SOURCES)
    if source["type"] == "base64":
        require_str(source.get("media_type"), f"{path}.source.media_type")
        require_str(source.get("data"), f"{path}.source.data")
    elif source["type"] == "url":
        require_str(source.get("url"), f"{path}.source.url")


def validate_document(block: dict, path: str) -> None:
    source = _source(block, path, DOCUMENT_SOURCES)
    kind = source["type"]
    if kind in ("base64", "text"):
        require_str(source.get("data"), f"{path}.source.data")
    elif kind == "url":
        require_str(source.get("url"), f"{path}.source.url")
    elif kind == "content" and not isinstance(source.get("content"), str):
        validate_content(source.get("content"), f"{path}.source.content", ("text", "image"))
    if block.get("title") is not None:
        require_str(block["title"], f"{path}.title")


def validate_search_result(block: dict, path: str) -> None:
    require_str(block.get("source"), f"{path}.source")
    require_str(block.get("title"), f"{path}.title")
    if not isinstance(block.get("content"), list):
        raise fail(f"{path}.content", f"expected an array of text blocks, got {describe(block.get('content'))}")
    validate_content(block["content"], f"{path}.content", ("text",))


def validate_mid_conv_system(block: dict, path: str) -> None:
    validate_text_content(block.get("content"), f"{path}.content")


def validate_tool_addition(block: dict, path: str) -> None:
    """``{"tool": {"type": "tool_definition", "definition": {name, input_schema...}}}``:
    a tool Claude Code adds in the middle of a conversation."""
    tool = require_object(block.get("tool"), f"{path}.tool")
    definition = require_object(tool.get("definition"), f"{path}.tool.definition")
    require_str(definition.get("name"), f"{path}.tool.definition.name", non_empty=True)
    if definition.get("input_schema") is not None:
        validate_schema(definition["input_schema"], f"{path}.tool.definition.input_schema")


def validate_tool_result(block: dict, path: str) -> None:
    require_str(block.get("tool_use_id"), f"{path}.tool_use_id", non_empty=True)
    if block.get("content") is not None:
        validate_content(block["content"], f"{path}.content", TOOL_RESULT_BLOCKS)
    if block.get("is_error") is not None and not isinstance(block["is_error"], bool):
        raise fail(f"{path}.is_error", f"expected a boolean, got {describe(block['is_error'])}")


def validate_tool_use(block: dict, path: str) -> None:
    require_str(block.get("id"), f"{path}.id", non_empty=True)
    require_str(block.get("name"), f"{path}.name", non_empty=True)
    require_object(block.get("input"), f"{path}.input")
    require_depth(block["input"], f"{path}.input")


def validate_thinking(block: dict, path: str) -> None:
    require_str(block.get("thinking"), f"{path}.thinking")
    if block.get("signature") is not None:
        require_str(block["signature"], f"{path}.signature")


def validate_redacted_thinking(block: dict, path: str) -> None:
    require_str(block.get("data"), f"{path}.data")


def validate_compaction(block: dict, path: str) -> None:
    if block.get("content") is not None:
        require_str(block["content"], f"{path}.content")


def validate_tool_reference(block: dict, path: str) -> None:
    require_str(block.get("tool_name"), f"{path}.tool_name")


def _source(block: dict, path: str, kinds: tuple[str, ...]) -> dict:
    source = require_object(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "file":  # (the Files API: only an Anthropic upstream can read it; translations refuse it)
        require_str(source.get("file_id"), f"{path}.source.file_id")
        return source
    require_one_of(kind, kinds, f"{path}.source.type")
    return source


def validate_text_block(block: dict, path: str) -> None:
    if "text" not in block:
        raise fail(f"{path}.text", "field required")
    require_str(block["text"], f"{path}.text")


def require_object(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise fail(path, f"expected an object, got {describe(value)}")
    return value


def require_one_of(value: Any, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        shown = "nothing" if value is None else repr(value)
        raise fail(path, f"expected one of {', '.join(choices)}, got {shown}")
    return value


def _block_type(block: Any, path: str) -> str:
    if not isinstance(block, dict):
        raise fail(path, f"expected a content block object, got {describe(block)}")
    if "type" not in block:
        raise fail(f"{path}.type", "field required")
    return require_str(block["type"], f"{path}.type")


VALIDATORS = {
    "text": validate_text_block,
    "image": validate_image,
    "document": validate_document,
    "search_result": validate_search_result,
    "tool_result": validate_tool_result,
    "tool_use": validate_tool_use,
    "thinking": validate_thinking,
    "redacted_thinking": validate_redacted_thinking,
    "compaction": validate_compaction,
    "tool_reference": validate_tool_reference,
    "mid_conv_system": validate_mid_conv_system,
    "tool_addition": validate_tool_addition,
}
