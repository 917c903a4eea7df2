"""Anthropic content blocks -> OpenAI content parts (pure).

    Anthropic block                        OpenAI part
    text                                   {"type": "text"}
    image, base64 source                   {"type": "image_url"}, a data: URL
    image, url source                      {"type": "image_url"}, the URL
    document, base64 PDF                   {"type": "file"}, file_data as a data: URL, with a filename
    document, text source                  {"type": "text"} (title first, if any)
    document, content source               its own text and image parts
    document, url source                   {"type": "text"} naming the URL (no OpenAI part takes one)
    search_result                          {"type": "text"}: title, source, then its text

An image or document from the Files API (a ``file`` source) names a file
stored at Anthropic: only an upstream that speaks Anthropic's API can read it,
and a translation refuses it (400).

Blocks the validator lets through but OpenAI has no equivalent for (server tool
calls and results, container uploads...) produce no part: they are records of
work done at Anthropic that an OpenAI backend cannot use.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidRequest

Part = dict[str, Any]

PARAGRAPH = "\n\n"


def text_part(text: str) -> Part:
    return {"type": "text", "text": text}


def image_part(block: dict[str, Any]) -> Part:
    source = _readable(block)
    if source["type"] == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"
    else:
        url = source["url"]
    return {"type": "image_url", "image_url": {"url": url}}


def document_parts(block: dict[str, Any]) -> list[Part]:
    source, title = _readable(block), block.get("title")
    kind = source["type"]
    if kind == "base64":
        filename = title or "document.pdf"
        data_url = f"data:{source.get('media_type', 'application/pdf')};base64,{source['data']}"
        return [{"type": "file", "file": {"filename": filename, "file_data": data_url}}]
    if kind == "text":
        return [text_part(f"{title}{PARAGRAPH}{source['data']}" if title else source["data"])]
    if kind == "content":
        content = source["content"]
        if isinstance(content, str):
            return [text_part(content)]
        return [part for inner in content for part in block_parts(inner)]
    return [text_part(f"[document: {title + ' at ' if title else ''}{source['url']}]")]  # url source


def _readable(block: dict[str, Any]) -> dict[str, Any]:
    source = block["source"]
    if source["type"] == "file":
        raise InvalidRequest(f"{block['type']} source 'file' ({source['file_id']}): files stored at Anthropic reach only "
                             "an upstream that speaks Anthropic's API (protocol = \"anthropic\")")
    return source


def search_result_text(block: dict[str, Any]) -> str:
    body = PARAGRAPH.join(inner["text"] for inner in block.get("content", []) if inner.get("type") == "text")
    return f"{block.get('title', '')} ({block.get('source', '')}){PARAGRAPH}{body}"


def block_parts(block: dict[str, Any]) -> list[Part]:
    """Parts for one user content block (tool results are handled apart)."""
    kind = block["type"]
    if kind == "text":
        return [text_part(block["text"])]
    if kind == "image":
        return [image_part(block)]
    if kind == "document":
        return document_parts(block)
    if kind == "search_result":
        return [text_part(search_result_text(block))]
    return []


def tool_result(block: dict[str, Any]) -> tuple[str, list[Part]]:
    """The text of a tool result, and the parts that cannot go in a tool message
    (images, documents) and so follow in a user message.

    ``is_error`` has no OpenAI field; the text says it instead, so the model knows.
    """
    content = block.get("content")
    texts: list[str] = []
    moved: list[Part] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for inner in content:
            kind = inner["type"]
            if kind == "text":
                texts.append(inner["text"])
            elif kind == "search_result":
                texts.append(search_result_text(inner))
            elif kind == "tool_reference":
                texts.append(f"[tool loaded: {inner.get('tool_name', '')}]")
            else:
                moved += block_parts(inner)
    if moved:
        texts.append(f"[{len(moved)} attachment(s) of this result follow in the next user message]")
    text = PARAGRAPH.join(texts)
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error: the tool failed without a message."
    return text, moved


def collapse(parts: list[Part], joiner: str) -> str | list[Part]:
    """Plain text as one string (what every server accepts); parts otherwise."""
    if all(part["type"] == "text" for part in parts):
        return joiner.join(part["text"] for part in parts)
    return parts
