"""Anthropic Messages request -> OpenAI Responses request (pure).

    Anthropic                                  Responses
    system                                     instructions (Claude Code's attribution line left out)
    a user turn's text, images, documents      a user message of input_text, input_image, input_file parts
    role: "system" messages                    system (or developer) messages, in place
    an assistant turn's text                   an assistant message of output_text parts
    tool_use                                   function_call (call_id: the tool_use id)
    tool_result                                function_call_output (text, and its images as input_image;
                                               is_error: the text says so, as there is no flag)
    thinking whose signature carries a         the same reasoning item (reasoning.py), so the model keeps its
    reasoning item                             chain of thought across tool calls (one with neither its
                                               encrypted content nor its own text: left out)
    other thinking, redacted_thinking          left out (the API takes no reasoning it did not make)
    tools                                      flat function tools; strict only where the client set it and
                                               the schema is in OpenAI's strict subset (false otherwise: the
                                               API's default is true)
    tool_choice, disable_parallel_tool_use     "auto" / "required" / a function / "none"; parallel_tool_calls
    max_tokens                                 max_output_tokens
    temperature, top_p                         the same, where the target takes sampling settings
    thinking, output_config.effort             reasoning: {effort, summary: "auto"} (adaptive thinking with
                                               no effort: the summary only)
    thinking disabled                          reasoning: {effort: the target's lowest}
    an output schema                           text.format: json_schema, the schema as written
    stop_sequences                             none: the proxy cuts the text itself (stops.py)

Every request is stateless (``store: false``) and asks for the reasoning's
encrypted content. A call left without its result gets one saying none came,
and a result that matches no call goes as text: the API refuses either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...config.capabilities import Capabilities
from ..content import PARAGRAPH, Part, block_parts, search_result_text, text_part
from ..messages import NO_RESULT, NO_VISION, merged_turns
from ..request import Translation, added_tools, reasoning_effort, system_text
from ..structured import instruction, is_strict_subset, output_schema, schema_name
from ..tools import ToolNames, translate_tool_choice, translate_tools
from .reasoning import ReasoningItem, from_signature

OPTIONAL_FIELDS = ("reasoning", "include", "prompt_cache_key", "temperature", "top_p", "parallel_tool_calls",
                   "store", "text")
ENCRYPTED_REASONING = "reasoning.encrypted_content"


@dataclass(slots=True)
class ResponsesTranslation(Translation):
    origin: str | None = None  # the upstream/target it is for: its reasoning items name it

    @property
    def unfence(self) -> bool:
        """JSON asked for in words only: a code fence around the answer comes off."""
        form = (self.payload.get("text") or {}).get("format") or {}
        return self.structured and form.get("type") != "json_schema"


def to_responses(body: dict[str, Any], target: str, caps: Capabilities | None = None, *,
                 keep_attribution: bool = False, origin: str | None = None) -> ResponsesTranslation:
    """A validated Anthropic request as ``target`` gets it on the Responses API
    (``origin``: its upstream/target, for the reasoning items)."""
    caps = caps or Capabilities()
    names = ToolNames()
    functions, dropped = translate_tools([*(body.get("tools") or ()), *added_tools(body["messages"])], names,
                                         strict=True)
    instructions = system_text(body.get("system") or "", keep_attribution=keep_attribution)
    schema = output_schema(body)
    if schema is not None and caps.structured_output != "json_schema":
        instructions = PARAGRAPH.join(part for part in (instructions, instruction(schema)) if part)
    limit = body["max_tokens"]
    if caps.max_output_tokens is not None:
        limit = min(limit, caps.max_output_tokens)
    payload: dict[str, Any] = {"model": target, "input": InputBuilder(names, caps, origin).build(body["messages"])}
    if instructions:
        payload["instructions"] = instructions
    payload["max_output_tokens"] = limit
    if caps.sampling:
        payload.update({key: body[key] for key in ("temperature", "top_p") if body.get(key) is not None})
    if functions:
        payload["tools"] = [flat_tool(function["function"]) for function in functions]
        offered = {tool["name"] for tool in payload["tools"]}
        payload.update(flat_choice(translate_tool_choice(body.get("tool_choice"), names, offered)))
    reasoning = reasoning_fields(body, caps)
    if reasoning:
        payload["reasoning"] = reasoning
    if schema is not None and caps.structured_output == "json_schema":
        form = {"type": "json_schema", "name": schema_name(schema), "schema": schema}
        payload["text"] = {"format": {**form, "strict": is_strict_subset(schema)}}
    payload["store"] = False
    payload["include"] = [ENCRYPTED_REASONING]
    if body.get("stream"):
        payload["stream"] = True
    return ResponsesTranslation(payload, names, dropped, structured=schema is not None, origin=origin)


def flat_tool(function: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions function as the Responses API has it: flat, strict said out loud."""
    tool = {"type": "function", "name": function["name"]}
    if function.get("description"):
        tool["description"] = function["description"]
    return {**tool, "parameters": function["parameters"], "strict": function.get("strict") is True}


def flat_choice(fields: dict[str, Any]) -> dict[str, Any]:
    choice = fields.get("tool_choice")
    if isinstance(choice, dict):
        fields = {**fields, "tool_choice": {"type": "function", "name": choice["function"]["name"]}}
    return fields


def reasoning_fields(body: dict[str, Any], caps: Capabilities) -> dict[str, Any]:
    """``reasoning`` for a request that asks for thinking or an effort, or turns thinking off."""
    if (body.get("thinking") or {}).get("type") == "disabled":
        return {"effort": caps.lowest_effort} if caps.reasoning_off != "none" else {}
    effort = reasoning_effort(body)
    if effort:
        return {"effort": effort, "summary": "auto"}
    # Thinking asked for with no effort (adaptive): the target's own effort, its summary shown.
    return {"summary": "auto"} if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive") else {}


class InputBuilder:
    """Anthropic turns -> Responses input items, each call answered (the module's table)."""

    def __init__(self, names: ToolNames, caps: Capabilities, origin: str | None = None) -> None:
        self.items: list[dict[str, Any]] = []
        self._names, self._caps, self._origin = names, caps, origin
        self._pending: list[str] = []  # call_ids awaiting their outputs

    def build(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for role, blocks in merged_turns(messages):
            getattr(self, role)(blocks)
        self._answer_pending()
        return self.items

    def system(self, blocks: list[dict[str, Any]]) -> None:
        text = PARAGRAPH.join(block["text"] for block in blocks if block["type"] == "text" and block["text"])
        if text:
            self.items.append(message(self._caps.system_role, [{"type": "input_text", "text": text}]))

    def user(self, blocks: list[dict[str, Any]]) -> None:
        parts: list[Part] = []
        for block in blocks:
            if block["type"] == "mid_conv_system":
                self.system([{"type": "text", "text": block["content"]}] if isinstance(block["content"], str)
                            else block["content"])
            elif block["type"] == "tool_result":
                output = self._output(block)
                if block["tool_use_id"] in self._pending:
                    self._pending.remove(block["tool_use_id"])
                    self.items.append({"type": "function_call_output", "call_id": block["tool_use_id"],
                                       "output": output})
                else:
                    text = output if isinstance(output, str) else PARAGRAPH.join(
                        part["text"] for part in output if part["type"] == "input_text")
                    parts.append(text_part(f"[result of tool call {block['tool_use_id']}, which matches no call]"
                                           f"{PARAGRAPH}{text}"))
            else:
                parts += block_parts(block)
        self._answer_pending()
        if parts:
            self.items.append(message("user", [self._input(part) for part in parts]))

    def assistant(self, blocks: list[dict[str, Any]]) -> None:
        self._answer_pending()
        texts: list[str] = []
        for block in blocks:
            kind = block["type"]
            if kind in ("text", "compaction"):
                texts.append(block.get("text") if kind == "text" else block.get("content") or "")
                continue
            if kind == "thinking":
                item = from_signature(block.get("signature"))
                if item is not None and self._takes(item, block):
                    self._said(texts)
                    self.items.append(item.item(block.get("thinking") or ""))
            elif kind == "tool_use":
                self._said(texts)
                self.items.append({"type": "function_call", "call_id": block["id"],
                                   "name": self._names.upstream(block["name"]),
                                   "arguments": json.dumps(block["input"])})
                self._pending.append(block["id"])
        self._said(texts)

    def _takes(self, item: ReasoningItem, block: dict[str, Any]) -> bool:
        """Whether the reasoning item can go back: made here (not by another upstream or
        model, whose encrypted content this one cannot read), and with its encrypted
        content or its own text (else the API looks it up by id, and with store: false
        it keeps none: 404)."""
        if item.origin is not None and self._origin is not None and item.origin != self._origin:
            return False
        return bool(item.encrypted or (item.raw and block.get("thinking")))

    def _said(self, texts: list[str]) -> None:
        """The assistant's text so far, as one message (before a call or a reasoning item)."""
        text = "".join(texts)
        texts.clear()
        if text:
            self.items.append(message("assistant", [{"type": "output_text", "text": text, "annotations": []}]))

    def _answer_pending(self) -> None:
        self.items += [{"type": "function_call_output", "call_id": call_id, "output": NO_RESULT}
                       for call_id in self._pending]
        self._pending = []

    def _output(self, block: dict[str, Any]) -> str | list[dict[str, Any]]:
        """A tool result's output: its text, and its images and documents as parts."""
        content = block.get("content")
        texts: list[str] = []
        parts: list[Part] = []
        for inner in [{"type": "text", "text": content}] if isinstance(content, str) else content or ():
            if inner["type"] == "text":
                texts.append(inner["text"])
            elif inner["type"] == "search_result":
                texts.append(search_result_text(inner))
            elif inner["type"] == "tool_reference":
                texts.append(f"[tool loaded: {inner.get('tool_name', '')}]")
            else:
                parts += block_parts(inner)
        text = PARAGRAPH.join(texts)
        if block.get("is_error"):
            text = f"Error: {text}" if text else "Error: the tool failed without a message."
        if not parts:
            return text
        return [{"type": "input_text", "text": text}, *(self._input(part) for part in parts)]

    def _input(self, part: Part) -> dict[str, Any]:
        """A Chat Completions content part as a Responses input part."""
        if part["type"] == "image_url":
            if not self._caps.vision:
                return {"type": "input_text", "text": NO_VISION["text"]}
            return {"type": "input_image", "image_url": part["image_url"]["url"], "detail": "auto"}
        if part["type"] == "file":
            return {"type": "input_file", "filename": part["file"]["filename"], "file_data": part["file"]["file_data"]}
        return {"type": "input_text", "text": part["text"]}


def message(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}
