"""What a target model accepts, looked up by glob on its name.

One table instead of if-statements scattered through the translator. Entries a
user configures (``--model-capabilities``) are looked at first, then the
built-in ones; the first pattern that matches the target model wins, and a
model nothing matches gets the defaults. A configured entry states only the
fields it changes.

    field                    default             meaning
    token_limit_field        "max_tokens"        the request field that carries max_tokens
                                                 ("max_completion_tokens" for OpenAI reasoning models)
    sampling                 true                temperature and top_p are forwarded
    stop                     true                stop_sequences are forwarded as ``stop``
    reasoning_effort         false               thinking / output_config.effort become
                                                 ``reasoning_effort`` (low, medium or high)
    reasoning_field          "reasoning_content" the assistant-message field that carries the
                                                 thinking of earlier turns ("reasoning" for newer
                                                 vLLM and Ollama, "none" to never send it)
    reasoning_on_tool_calls  false               send the field, empty if need be, on every
                                                 assistant message with tool calls (DeepSeek's
                                                 thinking mode answers 400 without it)

Built in: OpenAI's reasoning models (o1, o3, o4-*, gpt-5*) reject max_tokens
("Use 'max_completion_tokens' instead"), non-default temperature/top_p and
stop, and take reasoning_effort; DeepSeek needs reasoning on tool-call turns.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, fields, replace
from typing import Any

TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
REASONING_FIELDS = ("reasoning_content", "reasoning", "none")


class CapabilitiesError(ValueError):
    """A capability table entry that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    token_limit_field: str = "max_tokens"
    sampling: bool = True
    stop: bool = True
    reasoning_effort: bool = False
    reasoning_field: str = "reasoning_content"
    reasoning_on_tool_calls: bool = False

    def __post_init__(self) -> None:
        if self.token_limit_field not in TOKEN_LIMIT_FIELDS:
            raise CapabilitiesError(f"token_limit_field: expected one of {', '.join(TOKEN_LIMIT_FIELDS)}")
        if self.reasoning_field not in REASONING_FIELDS:
            raise CapabilitiesError(f"reasoning_field: expected one of {', '.join(REASONING_FIELDS)}")
        for name in ("sampling", "stop", "reasoning_effort", "reasoning_on_tool_calls"):
            if not isinstance(getattr(self, name), bool):
                raise CapabilitiesError(f"{name}: expected true or false")


_OPENAI_REASONING = {"token_limit_field": "max_completion_tokens", "sampling": False, "stop": False,
                     "reasoning_effort": True}

BUILTIN: tuple[tuple[str, dict[str, Any]], ...] = (
    ("o1*", _OPENAI_REASONING),
    ("o3*", _OPENAI_REASONING),
    ("o4*", _OPENAI_REASONING),
    ("gpt-5*", _OPENAI_REASONING),
    ("deepseek*", {"reasoning_on_tool_calls": True}),
)


@dataclass(frozen=True, slots=True)
class CapabilityTable:
    """Configured entries (pattern, changed fields), consulted before BUILTIN."""

    entries: tuple[tuple[str, dict[str, Any]], ...] = ()

    def __post_init__(self) -> None:
        for pattern, changes in self.entries:
            try:
                Capabilities(**changes)
            except TypeError:
                unknown = sorted(set(changes) - {f.name for f in fields(Capabilities)})
                raise CapabilitiesError(f"{pattern}: unknown field {', '.join(unknown)}") from None
            except CapabilitiesError as exc:
                raise CapabilitiesError(f"{pattern}.{exc}") from None

    @classmethod
    def parse(cls, text: str) -> CapabilityTable:
        """From JSON: ``{"qwen3*": {"reasoning_effort": true}, ...}``."""
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise CapabilitiesError(f"not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise CapabilitiesError('expected a JSON object of objects, e.g. {"qwen3*": {"reasoning_effort": true}}')
        return cls(tuple(data.items()))

    def lookup(self, model: str) -> Capabilities:
        for pattern, changes in (*self.entries, *BUILTIN):
            if fnmatch.fnmatchcase(model, pattern):
                return replace(Capabilities(), **changes)
        return Capabilities()

    def __str__(self) -> str:
        return json.dumps(dict(self.entries)) if self.entries else ""
