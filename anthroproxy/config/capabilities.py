"""What a target model accepts, looked up by glob on its name.

One table instead of if-statements scattered through the translator. Every
entry whose pattern matches the target model contributes the fields it states;
for a field several state, the first entry in order wins, entries a user
configures (``--model-capabilities`` or the config file's ``[capabilities]``)
coming before the built-in ones. Fields no entry states keep their defaults.

    field                    default             meaning
    token_limit_field        "max_tokens"        the request field that carries max_tokens
                                                 ("max_completion_tokens" for OpenAI reasoning models)
    max_output_tokens        none                max_tokens is lowered to this (Claude Code asks for
                                                 32,000 or more; many backends refuse more than they have)
    max_input_tokens         none                the context size, reported by /v1/models
    sampling                 true                temperature and top_p are forwarded
    stop                     true                stop_sequences are forwarded as ``stop``
    reasoning_param          "none"              how thinking / output_config.effort reach the model:
                                                 "reasoning_effort" (OpenAI, Ollama, DeepSeek),
                                                 "reasoning" (OpenRouter's {"reasoning": {"effort": ...}}),
                                                 or "none"
    reasoning_field          "reasoning_content" the assistant-message field that carries the
                                                 thinking of earlier turns ("reasoning" for newer
                                                 vLLM and Ollama, "none" to never send it)
    reasoning_on_tool_calls  false               send the field, empty if need be, on every
                                                 assistant message with tool calls (DeepSeek's
                                                 thinking mode answers 400 without it)
    system_role              "system"            the role of system prompts ("developer" for
                                                 OpenAI's reasoning models)
    vision                   true                images are sent; false replaces each by a short note
    structured_output        "json_schema"       how an output schema reaches the model: "json_schema"
                                                 (response_format json_schema), "json_object"
                                                 (response_format json_object, the schema stated in the
                                                 system prompt) or "none" (the system prompt only)
    strict_schemas           false               the backend enforces strict schemas: an output schema
                                                 or a strict tool in OpenAI's strict subset is sent
                                                 with strict: true
    reasoning_off            "none"              what a request that disables thinking sends: see
                                                 REASONING_OFF in request.py
    lowest_effort            "none"              the reasoning effort reasoning_off sends, where it
                                                 sends one ("minimal" for gpt-5, "low" for o-series)

Built in: OpenAI's reasoning models (o1, o3, o4-*, gpt-5*) reject max_tokens
("Use 'max_completion_tokens' instead"), non-default temperature/top_p and
stop, take reasoning_effort and the developer role. Their lowest effort
(openai-python, types/shared/reasoning.py): gpt-5.1 and later "none", gpt-5
"minimal", o-series and the codex models "low". OpenAI's models from gpt-4o on enforce strict
schemas. DeepSeek needs reasoning on tool-call turns; its API (deepseek-chat,
deepseek-reasoner) turns thinking off with ``thinking: {"type": "disabled"}``
and takes only the json_object form (api-docs.deepseek.com: thinking mode,
JSON output).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
REASONING_PARAMS = ("none", "reasoning_effort", "reasoning")
REASONING_FIELDS = ("reasoning_content", "reasoning", "none")
SYSTEM_ROLES = ("system", "developer")
STRUCTURED_OUTPUTS = ("json_schema", "json_object", "none")
REASONING_OFF = ("none", "reasoning_effort", "reasoning", "thinking", "chat_template_kwargs", "think")
EFFORTS = ("none", "minimal", "low")
CHOICES = {"token_limit_field": TOKEN_LIMIT_FIELDS, "reasoning_param": REASONING_PARAMS,
           "reasoning_field": REASONING_FIELDS, "system_role": SYSTEM_ROLES, "structured_output": STRUCTURED_OUTPUTS,
           "reasoning_off": REASONING_OFF, "lowest_effort": EFFORTS}
FLAGS = ("sampling", "stop", "reasoning_on_tool_calls", "vision", "strict_schemas")
COUNTS = ("max_output_tokens", "max_input_tokens")


class CapabilitiesError(ValueError):
    """A capability table entry that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    token_limit_field: str = "max_tokens"
    max_output_tokens: int | None = None
    max_input_tokens: int | None = None
    sampling: bool = True
    stop: bool = True
    reasoning_param: str = "none"
    reasoning_field: str = "reasoning_content"
    reasoning_on_tool_calls: bool = False
    system_role: str = "system"
    vision: bool = True
    structured_output: str = "json_schema"
    strict_schemas: bool = False
    reasoning_off: str = "none"
    lowest_effort: str = "none"

    def __post_init__(self) -> None:
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise CapabilitiesError(f"{name}: expected one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for name in FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise CapabilitiesError(f"{name}: expected true or false")
        for name in COUNTS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise CapabilitiesError(f"{name}: expected a positive integer, got {value!r}")


_OPENAI_REASONING = {"token_limit_field": "max_completion_tokens", "sampling": False, "stop": False,
                     "reasoning_param": "reasoning_effort", "system_role": "developer", "strict_schemas": True,
                     "reasoning_off": "reasoning_effort"}

BUILTIN: tuple[tuple[str, dict[str, Any]], ...] = (
    ("o1*", {**_OPENAI_REASONING, "lowest_effort": "low"}),
    ("o3*", {**_OPENAI_REASONING, "lowest_effort": "low"}),
    ("o4*", {**_OPENAI_REASONING, "lowest_effort": "low"}),
    ("gpt-5*codex*", {**_OPENAI_REASONING, "lowest_effort": "low"}),  # the codex models take low to high
    ("gpt-5.*", {**_OPENAI_REASONING, "lowest_effort": "none"}),  # gpt-5.1 and later
    ("gpt-5*", {**_OPENAI_REASONING, "lowest_effort": "minimal"}),
    ("gpt-4o*", {"strict_schemas": True}),
    ("gpt-4.1*", {"strict_schemas": True}),
    # DeepSeek's own API; "deepseek*" also catches its open models served elsewhere (vLLM...).
    ("deepseek-chat*", {"reasoning_off": "thinking", "structured_output": "json_object"}),
    ("deepseek-reasoner*", {"reasoning_off": "thinking", "structured_output": "json_object"}),
    ("deepseek*", {"reasoning_on_tool_calls": True}),
)


@dataclass(frozen=True, slots=True)
class CapabilityTable:
    """Configured entries (pattern, changed fields), consulted before BUILTIN."""

    entries: tuple[tuple[str, dict[str, Any]], ...] = ()

    def __post_init__(self) -> None:
        known = {f.name for f in fields(Capabilities)}
        for pattern, changes in self.entries:
            unknown = sorted(set(changes) - known)
            if unknown:
                raise CapabilitiesError(f"{pattern}: unknown field {', '.join(unknown)}")
            try:
                Capabilities(**changes)
            except CapabilitiesError as exc:
                raise CapabilitiesError(f"{pattern}.{exc}") from None

    @classmethod
    def parse(cls, text: str) -> CapabilityTable:
        """From JSON: ``{"qwen3*": {"reasoning_param": "reasoning_effort"}, ...}``."""
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise CapabilitiesError(f"not valid JSON ({exc})") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Any) -> CapabilityTable:
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise CapabilitiesError('expected an object of objects, e.g. {"qwen3*": {"vision": false}}')
        return cls(tuple(data.items()))

    def merged(self, first: CapabilityTable) -> CapabilityTable:
        """This table with ``first``'s entries looked at before its own."""
        return CapabilityTable((*first.entries, *self.entries))

    def lookup(self, model: str, first: Mapping[str, Any] | None = None) -> Capabilities:
        """The model's capabilities; ``first`` (an upstream's own) before every entry."""
        stated: dict[str, Any] = {}
        for pattern, changes in reversed((*self.entries, *BUILTIN)):  # earlier entries applied last: they win
            if fnmatch.fnmatchcase(model, pattern):
                stated.update(changes)
        stated.update(first or {})
        return replace(Capabilities(), **stated)

    def __str__(self) -> str:
        return json.dumps(dict(self.entries)) if self.entries else ""
