"""Tool definitions, tool names and tool_choice (pure).

OpenAI function names must match ``^[a-zA-Z0-9_-]{1,64}$``; MCP tools in Claude
Code are named ``mcp__server__tool`` and can be longer, or contain dots. Such a
name is replaced by its legal characters, cut to fit, plus 8 hex digits of its
SHA-256: deterministic (the same name maps the same way in every request, so
the history and the tool list agree) and collision-free in practice. ToolNames
maps the short form back when the upstream calls the tool.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .structured import is_strict_subset

MAX_NAME = 64
_LEGAL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ILLEGAL_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


class ToolNames:
    """Client tool names <-> names the upstream accepts, for one request."""

    def __init__(self) -> None:
        self._to_client: dict[str, str] = {}

    def upstream(self, name: str) -> str:
        if _LEGAL_NAME.match(name):
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        short = _ILLEGAL_CHARS.sub("_", name)[: MAX_NAME - 9] + "_" + digest
        self._to_client[short] = name
        return short

    def client(self, name: str) -> str:
        return self._to_client.get(name, name)


def is_server_tool(tool: dict[str, Any]) -> bool:
    """Anthropic-defined tools (web_search_*, bash_*, computer_*, mcp_toolset...)
    carry a versioned ``type``; custom tools have none, or "custom"."""
    return tool.get("type") not in (None, "custom")


def translate_tools(tools: list[dict[str, Any]], names: ToolNames, *,
                    strict: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """OpenAI function tools, and the names of the server tools left out
    (an OpenAI backend cannot run them). Only name, description and schema are
    kept: cache_control, defer_loading, eager_input_streaming, input_examples
    and allowed_callers are Anthropic's. A tool's ``strict: true`` is kept only
    for a backend that enforces it (``strict``) and a schema in OpenAI's strict
    subset (OpenAI rejects a strict schema outside it; other servers may paste
    unknown fields into the prompt)."""
    functions, dropped, seen = [], [], set()
    for tool in tools:
        if tool["name"] in seen:
            continue  # (a tool added mid-conversation that was already offered)
        seen.add(tool["name"])
        if is_server_tool(tool):
            dropped.append(f"{tool.get('name', '?')} ({tool['type']})")
            continue
        function: dict[str, Any] = {"name": names.upstream(tool["name"])}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = clean_schema(tool.get("input_schema") or {"type": "object", "properties": {}})
        if strict and tool.get("strict") is True and is_strict_subset(function["parameters"]):
            function["strict"] = True
        functions.append({"type": "function", "function": function})
    return functions, dropped


def clean_schema(schema: Any) -> Any:
    """A copy without ``"required": null`` at any depth (Claude Code sends it on
    some tools; strict OpenAI-compatible validators answer 400)."""
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if not (k == "required" and v is None)}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def translate_tool_choice(choice: dict[str, Any] | None, names: ToolNames, offered: set[str]) -> dict[str, Any]:
    """Request fields for tool_choice; only call when tools are sent (OpenAI
    rejects tool_choice and parallel_tool_calls without tools). A choice naming
    a tool that was left out (a server tool) is dropped: the upstream would
    reject a function it was not given."""
    if not choice:
        return {}
    fields: dict[str, Any] = {}
    kind = choice.get("type")
    if kind == "auto":
        fields["tool_choice"] = "auto"
    elif kind == "any":
        fields["tool_choice"] = "required"
    elif kind == "tool" and names.upstream(choice["name"]) in offered:
        fields["tool_choice"] = {"type": "function", "function": {"name": names.upstream(choice["name"])}}
    elif kind == "none":
        fields["tool_choice"] = "none"
    if choice.get("disable_parallel_tool_use") and kind != "none":
        fields["parallel_tool_calls"] = False
    return fields
