"""A reasoning item, carried in a thinking block's signature (pure).

The Responses API keeps no state here (``store: false``): a reasoning model
keeps its chain of thought across tool calls only if each reasoning item goes
back on the next turn, with its ``encrypted_content``. Anthropic's clients
keep a thinking block's ``signature`` and send it back unchanged, so the item's
id and encrypted content travel there, marked as the proxy's, with where it
came from (upstream/target). A thinking block whose signature is not one of
these came from elsewhere, and goes back as the Responses API cannot take it:
not at all. Nor does an item go to another upstream or model than the one
that made it, after a failover: its encrypted content is that one's, and
llama.cpp's server refuses an item without its own text (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MARK = "anthroproxy.responses:"


@dataclass(frozen=True, slots=True)
class ReasoningItem:
    id: str  # "rs_..."
    encrypted: str | None = None  # encrypted_content, when the upstream gave it
    raw: bool = False  # the text was the model's own (reasoning_text), not a summary (open-weight servers)
    origin: str | None = None  # "upstream/target" that made it (None: a signature from before it was kept)

    def signature(self) -> str:
        fields: dict[str, Any] = {"id": self.id}
        if self.encrypted:
            fields["enc"] = self.encrypted
        if self.raw:
            fields["raw"] = True
        if self.origin:
            fields["o"] = self.origin
        return MARK + base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode()

    def item(self, text: str) -> dict[str, Any]:
        """The reasoning item to send back, its text as the thinking block has it."""
        item: dict[str, Any] = {"type": "reasoning", "id": self.id, "summary": []}
        if text:
            if self.raw:
                item["content"] = [{"type": "reasoning_text", "text": text}]
            else:
                item["summary"] = [{"type": "summary_text", "text": text}]
        if self.encrypted:
            item["encrypted_content"] = self.encrypted
        return item


def from_signature(signature: Any) -> ReasoningItem | None:
    """The reasoning item a thinking block's signature carries, if it carries one."""
    if not isinstance(signature, str) or not signature.startswith(MARK):
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(signature[len(MARK):].encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("id"), str):
        return None
    encrypted = fields.get("enc") if isinstance(fields.get("enc"), str) else None
    origin = fields.get("o") if isinstance(fields.get("o"), str) else None
    return ReasoningItem(fields["id"], encrypted, fields.get("raw") is True, origin)


def from_item(item: dict[str, Any], origin: str | None = None) -> tuple[str, ReasoningItem]:
    """(the thinking text, the item to carry) of a reasoning output item from
    ``origin``: its summary, else its own reasoning text."""
    summary = [_text(part) for part in _parts(item.get("summary"))]
    content = [_text(part) for part in _parts(item.get("content"))]
    raw = not any(summary) and any(content)
    text = "\n\n".join(piece for piece in (content if raw else summary) if piece)
    encrypted = item.get("encrypted_content") if isinstance(item.get("encrypted_content"), str) else None
    return text, ReasoningItem(str(item.get("id") or ""), encrypted or None, raw, origin)


def _parts(value: Any) -> list[dict[str, Any]]:
    return [part for part in value if isinstance(part, dict)] if isinstance(value, list) else []


def _text(part: dict[str, Any]) -> str:
    return part["text"] if isinstance(part.get("text"), str) else ""
