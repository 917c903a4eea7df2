"""Hostile variants of a few rich requests, for the fuzz tests (tests/unit/test_hostile.py
and tests/e2e/test_hostile.py).

Every field of every request, at any depth, is replaced in turn by each hostile
value (wrong types, lone surrogates, NUL, huge numbers, deep nesting, empty
containers, a 100 KB string), and deleted. Each variant is a request body in
bytes, because some hostile values (3,000-deep nesting) cannot pass through
``json.dumps``.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Iterator

# A PNG header that says 2x3 pixels: enough for the token estimate to read a size.
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 2, 3) + b"\x08\x02\x00\x00\x00"
                       ).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF").decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "description": "a city"},
                                           "days": {"type": "integer", "minimum": 1}},
          "required": ["city"], "additionalProperties": False}

TEXT = {
    "model": "claude-sonnet-x", "max_tokens": 64, "stream": True,
    "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.abc; cc_entrypoint=cli; "
                                        "cch=5f3a1;"},
               {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "Hello"},
                 {"role": "assistant", "content": "Hi."},
                 {"role": "user", "content": [{"type": "text", "text": "More?"}]}],
    "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
}

TOOLS = {
    "model": "claude-haiku-x", "max_tokens": 64, "system": "Use tools.",
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA, "strict": True},
              {"name": "mcp__weather.service__a_tool_name_that_is_well_over_sixty_four_characters_long",
               "input_schema": {"type": "object", "properties": {}}},
              {"type": "web_search_20250305", "name": "web_search"}],
    "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Oslo", "opts": {"units": ["c", 1]}}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
                                      "content": [{"type": "text", "text": "rain"},
                                                  {"type": "image", "source": {"type": "base64",
                                                                               "media_type": "image/png",
                                                                               "data": PNG}}]}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "get_weather",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "sun"}]},
    ],
}

IMAGES = {
    "model": "claude-x", "max_tokens": 64,
    "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "text", "text": "What is this?"}]}],
}

DOCUMENTS = {
    "model": "claude-x", "max_tokens": 64, "stream": True,
    "messages": [{"role": "user", "content": [
        {"type": "document", "title": "Report", "source": {"type": "base64", "media_type": "application/pdf",
                                                            "data": PDF}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
        {"type": "document", "source": {"type": "content", "content": [
            {"type": "text", "text": "inner"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "search_result", "source": "https://example.com", "title": "Found",
         "content": [{"type": "text", "text": "a result"}]},
        {"type": "text", "text": "Summarise."}]}],
}

THINKING = {
    "model": "claude-opus-x", "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": SCHEMA}},
    "messages": [
        {"role": "user", "content": "Think."},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                                          {"type": "redacted_thinking", "data": "opaque"},
                                          {"type": "text", "text": "{\"city\": \"Oslo\"}"}]},
        {"role": "system", "content": [{"type": "text", "text": "Be brief."},
                                       {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": {
                                           "name": "late_tool", "input_schema": {"type": "object"}}}}]},
        {"role": "user", "content": "Again."},
    ],
}

BETA = {
    "model": "claude-opus-x", "max_tokens": 256, "stream": True,
    "thinking": {"type": "disabled"},
    "output_format": {"type": "json_schema", "schema": {"type": "object", "properties": {
        "answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": False}},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "messages": [{"role": "user", "content": "Answer."}],
}

RICH = {"text": TEXT, "tools": TOOLS, "images": IMAGES, "documents": DOCUMENTS, "thinking": THINKING, "beta": BETA}

# Private-use strings no request holds, replaced after dumping by what json.dumps cannot write.
_DEEP = "\ue000deep-marker\ue000"
_RAW_SURROGATE = "\ue000raw-surrogate\ue000"
DEEP_LEVELS = (3000, 950, 500)


def _deep(levels: int) -> str:
    return f"{_DEEP}{levels}"


HOSTILE: tuple[tuple[str, Any], ...] = (
    ("null", None), ("true", True), ("zero", 0), ("-1", -1), ("huge int", 10**30), ("huge float", 1.5e308),
    ("empty string", ""), ("100 KB string", "x" * 100_000), ("lone surrogate", "\ud800"),
    ("NUL", "a\x00b"), ("empty array", []), ("empty object", {}), ("array of a lone surrogate", ["\udc00"]),
    ("object with a lone surrogate key", {"\ud800": 1}),
    ("a surrogate as raw UTF-8 bytes", _RAW_SURROGATE),
    *((f"{levels}-deep nesting", _deep(levels)) for levels in DEEP_LEVELS),
)

_DELETED = object()


def _nodes(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every value inside ``value``, the root excluded."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key), child
        yield from _nodes(child, (*path, key))


def _replaced(body: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(body) if isinstance(body, dict) else list(body)
    if rest or new is not _DELETED:
        copy[head] = _replaced(body[head], rest, new)
    else:
        del copy[head]
    return copy


def encode(body: Any) -> bytes:
    """JSON bytes (lone surrogates as \\u escapes), the markers expanded: deep
    nesting, and a surrogate as the three bytes UTF-8 would give it."""
    text = json.dumps(body)
    for levels in DEEP_LEVELS:
        text = text.replace(json.dumps(_deep(levels)), "[" * levels + "]" * levels)
    return text.encode().replace(json.dumps(_RAW_SURROGATE).encode(), b'"\xed\xa0\x80"')


def variants(body: dict) -> Iterator[tuple[str, bytes]]:
    """(what was done, body bytes) for every field and every hostile value."""
    for path, original in _nodes(body):
        where = ".".join(map(str, path))
        yield f"{where} deleted", encode(_replaced(body, path, _DELETED))
        for name, value in HOSTILE:
            yield f"{where} = {name}", encode(_replaced(body, path, value))
        if isinstance(original, str):
            yield f"{where} + lone surrogate", encode(_replaced(body, path, original + "\udfff"))


def all_variants() -> Iterator[tuple[str, bytes]]:
    for name, body in RICH.items():
        for what, data in variants(body):
            yield f"{name}: {what}", data
        yield f"{name}: the whole body in UTF-16", json.dumps(body, ensure_ascii=False).encode("utf-16")
        yield f"{name}: after a UTF-8 byte order mark", b"\xef\xbb\xbf" + encode(body)
