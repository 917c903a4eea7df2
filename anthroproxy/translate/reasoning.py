"""Where backends put the model's reasoning, and the ``<think>`` tag splitter (pure).

    field                                   who sends it
    reasoning_content                       DeepSeek, llama.cpp, LM Studio, older vLLM
    reasoning                               OpenRouter, newer vLLM, Ollama, LM Studio (gpt-oss)
    reasoning_details[].text (+ signature)  OpenRouter (signatures of Anthropic models)
    <think>...</think> opening the content  vLLM / llama.cpp without a reasoning parser

OpenRouter sends the same text in ``reasoning`` and ``reasoning_details``, so
the first field present wins and the others are not added to it.
"""

from __future__ import annotations

from typing import Any

OPEN_TAG, CLOSE_TAG = "<think>", "</think>"

# A thinking block needs a signature string (the SDKs require one). Backends
# other than Anthropic-via-OpenRouter have none, and a signature is never forged:
# this marks the block as the proxy's. Clients echo it back; the proxy ignores it.
UNSIGNED = "anthroproxy-unsigned"


def reasoning_of(delta: dict[str, Any]) -> tuple[str, str | None]:
    """(reasoning text, signature) of a message or a stream delta."""
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value, _signature(delta.get("reasoning_details"))
    details = delta.get("reasoning_details")
    if isinstance(details, list):
        text = "".join(d["text"] for d in details if isinstance(d, dict) and isinstance(d.get("text"), str))
        return text, _signature(details)
    return "", None


def _signature(details: Any) -> str | None:
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and isinstance(detail.get("signature"), str) and detail["signature"]:
                return detail["signature"]
    return None


class ThinkTagSplitter:
    """Splits content that OPENS with ``<think>`` into reasoning and text.

    Tags may arrive cut anywhere across deltas, so a possible tag prefix is held
    back until it is decided. Content that does not open with the tag (after
    whitespace) passes through untouched, later ``<think>`` strings included.
    """

    def __init__(self) -> None:
        self._mode = "start"  # start | think | text
        self._held = ""
        self._trim = False  # drop whitespace that follows a tag, until something else comes

    def feed(self, text: str) -> list[tuple[str, str]]:
        """(kind, text) pieces, kind "thinking" or "text"."""
        if self._mode == "text":
            return self._trimmed("text", text)
        self._held += text
        if self._mode == "start":
            head = self._held.lstrip()
            if not head or (len(head) < len(OPEN_TAG) and OPEN_TAG.startswith(head)):
                return []  # undecided yet
            if not head.startswith(OPEN_TAG):
                self._mode = "text"
                held, self._held = self._held, ""
                return [("text", held)]
            self._mode, self._trim = "think", True
            self._held = head[len(OPEN_TAG):]
        return self._think()

    def flush(self) -> list[tuple[str, str]]:
        held, self._held = self._held, ""
        return self._trimmed("thinking" if self._mode == "think" else "text", held)

    def _think(self) -> list[tuple[str, str]]:
        end = self._held.find(CLOSE_TAG)
        if end >= 0:
            thought, rest = self._held[:end], self._held[end + len(CLOSE_TAG):]
            self._held = ""
            pieces = self._trimmed("thinking", thought)
            self._mode, self._trim = "text", True
            return pieces + self._trimmed("text", rest)
        keep = _partial_suffix(self._held, CLOSE_TAG)
        thought = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep:]
        return self._trimmed("thinking", thought)

    def _trimmed(self, kind: str, text: str) -> list[tuple[str, str]]:
        if self._trim:
            text = text.lstrip()
            self._trim = not text
        return [(kind, text)] if text else []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could begin ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_think_tags(content: str) -> list[tuple[str, str]]:
    splitter = ThinkTagSplitter()
    return splitter.feed(content) + splitter.flush()
