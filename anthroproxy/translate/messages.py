"""Anthropic messages -> OpenAI messages, tool calls paired with their results (pure).

OpenAI requires every assistant message with ``tool_calls`` to be followed at
once by one ``role: "tool"`` message per call; Anthropic puts the results as
``tool_result`` blocks in the next user turn. The builder keeps the ids of the
last assistant message's calls as *pending* and, at the next user turn, emits:

1. a tool message per tool_result whose id is pending, in the user's order;
2. a tool message saying no result came, for each call still pending (repair:
   a tool_use without its tool_result would make the upstream reject the
   conversation);
3. system messages that arrived between the call and its results (Claude Code
   puts system-reminders there), which must not split calls from results;
4. one user message with the images and documents of those results, the text
   of tool_results that match no pending call (repair: an orphan result is kept
   as text rather than sent as a tool message the upstream would reject), and
   the rest of the user's content.

Consecutive turns of the same role are merged first, as the Anthropic API
does, so each turn is one message. Text blocks of a user turn are joined by a
blank line (separate paragraphs, e.g. a system-reminder and the prompt); those of
an assistant turn with nothing between (one output, split by citations or tool
use). Thinking blocks of an assistant turn travel in the field the target's
capabilities name (``reasoning_content`` by default).
"""

from __future__ import annotations

import json
from typing import Any

from ..config.capabilities import Capabilities
from .content import PARAGRAPH, Part, block_parts, collapse, text_part, tool_result
from .tools import ToolNames

NO_RESULT = "No result was returned for this tool call."
NO_VISION = text_part("[an image was here; this model cannot see images]")
JOINERS = {"user": PARAGRAPH, "system": PARAGRAPH, "assistant": ""}


def build_messages(
    system: str, messages: list[dict[str, Any]], names: ToolNames, caps: Capabilities
) -> list[dict[str, Any]]:
    builder = MessageBuilder(names, caps)
    builder.system(system)
    for role, blocks in merged_turns(messages):
        getattr(builder, role)(blocks)
    return builder.finish()


def merged_turns(messages: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(role, blocks) per turn, string content as a text block, consecutive
    user or assistant turns merged into one, as the Anthropic API does."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        role, content = message["role"], message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
        if role == "system" and not any(b["type"] == "text" and b["text"] for b in blocks):
            continue  # (e.g. only output_config, or tool changes): no message, and no break between turns
        if turns and turns[-1][0] == role and role != "system":
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return turns


class MessageBuilder:
    def __init__(self, names: ToolNames, caps: Capabilities) -> None:
        self.messages: list[dict[str, Any]] = []
        self._names = names
        self._caps = caps
        self._pending: list[str] = []  # tool call ids awaiting their results
        self._deferred: list[dict[str, Any]] = []  # system messages held back meanwhile

    def system(self, blocks: str | list[dict[str, Any]]) -> None:
        text = blocks if isinstance(blocks, str) else PARAGRAPH.join(b["text"] for b in blocks if b["type"] == "text")
        if not text:
            return
        message = {"role": self._caps.system_role, "content": text}
        (self._deferred if self._pending else self.messages).append(message)

    def user(self, blocks: list[dict[str, Any]]) -> None:
        tool_messages: list[dict[str, Any]] = []
        parts: list[Part] = []
        for block in blocks:
            if block["type"] == "mid_conv_system":
                self.system(block["content"])  # held back while tool results are pending
                continue
            if block["type"] != "tool_result":
                parts += block_parts(block)
                continue
            text, moved = tool_result(block)
            call_id = block["tool_use_id"]
            if call_id in self._pending:
                self._pending.remove(call_id)
                tool_messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
            else:
                parts.append(text_part(f"[result of tool call {call_id}, which matches no call]{PARAGRAPH}{text}"))
            parts += moved
        self.messages += tool_messages
        self._answer_pending()
        if not self._caps.vision:
            parts = [NO_VISION if part["type"] == "image_url" else part for part in parts]
        if parts:
            self.messages.append({"role": "user", "content": collapse(parts, JOINERS["user"])})

    def assistant(self, blocks: list[dict[str, Any]]) -> None:
        self._answer_pending()
        message: dict[str, Any] = {"role": "assistant"}
        text = JOINERS["assistant"].join(_text_of(block) for block in blocks)
        calls = [self._tool_call(block) for block in blocks if block["type"] == "tool_use"]
        if not text and not calls:
            return  # only thinking or records of server tools: an empty turn servers may refuse
        message["content"] = text if text or not calls else None
        if calls:
            message["tool_calls"] = calls
            self._pending = [call["id"] for call in calls]
        field = self._caps.reasoning_field
        thinking = [block["thinking"] for block in blocks if block["type"] == "thinking" and block["thinking"]]
        if field != "none" and (thinking or (calls and self._caps.reasoning_on_tool_calls)):
            message[field] = PARAGRAPH.join(thinking)
        self.messages.append(message)

    def finish(self) -> list[dict[str, Any]]:
        self._answer_pending()
        return merge_adjacent(self.messages)

    def _tool_call(self, block: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": block["id"],
            "type": "function",
            "function": {"name": self._names.upstream(block["name"]), "arguments": json.dumps(block["input"])},
        }

    def _answer_pending(self) -> None:
        """Close the tool-call exchange: a result for every call, then the system
        messages that were held back."""
        self.messages += [{"role": "tool", "tool_call_id": i, "content": NO_RESULT} for i in self._pending]
        self._pending = []
        self.messages += self._deferred
        self._deferred = []


def _text_of(block: dict[str, Any]) -> str:
    """Text an assistant block contributes; a compaction block's summary is text
    the model must still see."""
    if block["type"] == "text":
        return block["text"]
    if block["type"] == "compaction":
        return block.get("content") or ""
    return ""


def merge_adjacent(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join user messages that ended up next to each other (an assistant turn
    left out between them): Mistral and Gemma chat templates refuse two in a row."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        previous = merged[-1] if merged else None
        if previous is not None and previous["role"] == message["role"] == "user":
            parts = _as_parts(previous["content"]) + _as_parts(message["content"])
            previous["content"] = collapse(parts, JOINERS["user"])
        else:
            merged.append(message)
    return merged


def _as_parts(content: str | list[Part]) -> list[Part]:
    return [text_part(content)] if isinstance(content, str) else content
