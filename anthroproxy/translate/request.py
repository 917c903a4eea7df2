"""Anthropic Messages request -> OpenAI Chat Completions request (pure).

Only fields an OpenAI server understands are produced: anything Anthropic-only
(top_k, thinking, cache_control, context_management, output_config, service_tier,
container, mcp_servers, ...) is left behind, so a strict OpenAI server accepts
every request the proxy sends.

Text layout choices:
- the top-level ``system`` (a string or text blocks) becomes one leading system
  message, blocks joined by a blank line; ``role: "system"`` entries inside
  ``messages`` (recent Claude Code sends them) stay system messages in place;
- user text blocks are joined by a blank line (they are separate paragraphs, e.g.
  a system-reminder and the prompt); assistant text blocks are joined with nothing
  between them (they were one continuous output, split by citations or tool use);
- consecutive turns of the same role are merged, as the Anthropic API does, since
  several chat templates (Mistral, Gemma) reject two user turns in a row.

Content is sent as a plain string, which every OpenAI-compatible server accepts.
Which sampling and limit fields are sent depends on the target model
(capabilities.py): OpenAI's reasoning models take ``max_completion_tokens`` and
no temperature, top_p or stop.
"""

from __future__ import annotations

from typing import Any

from .capabilities import capabilities_for

PARAGRAPH = "\n\n"
JOINERS = {"user": PARAGRAPH, "system": PARAGRAPH, "assistant": ""}


def to_openai(body: dict[str, Any], target_model: str) -> dict[str, Any]:
    """Translate a validated Anthropic request body for ``target_model``."""
    caps = capabilities_for(target_model)
    messages: list[dict[str, Any]] = []
    system = text_of(body.get("system"), PARAGRAPH)
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        role = message["role"]
        append_message(messages, role, text_of(message["content"], JOINERS[role]))

    request: dict[str, Any] = {"model": target_model, "messages": messages, caps.token_limit_field: body["max_tokens"]}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None and caps.sampling:
            request[key] = body[key]
    if body.get("stop_sequences") and caps.stop:
        request["stop"] = list(body["stop_sequences"])
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id:
        request["user"] = user_id
    if body.get("stream"):
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return request


def text_of(content: Any, joiner: str) -> str:
    """The text of a string or of an array of text blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return joiner.join(block["text"] for block in content if block.get("type") == "text")


def append_message(messages: list[dict[str, Any]], role: str, content: str) -> None:
    previous = messages[-1] if messages else None
    if previous is not None and previous["role"] == role and role != "system":
        previous["content"] = JOINERS[role].join(part for part in (previous["content"], content) if part)
        return
    messages.append({"role": role, "content": content})
