"""Structured outputs: an Anthropic output schema -> what the backend takes (pure).

    Anthropic                                                   OpenAI
    output_config.format = {"type": "json_schema", "schema"}    response_format = {"type": "json_schema",
    output_format = {...} (the beta form, at the top level)         "json_schema": {"name", "schema", "strict"?}}

The schema goes as the client wrote it: nothing is made required that was
optional (that would change what a valid answer is). How it reaches the model
is the target's ``structured_output`` capability:

    json_schema   response_format json_schema (OpenAI, vLLM, SGLang, llama.cpp, Ollama, LM Studio)
    json_object   response_format json_object, the schema stated in the system prompt (DeepSeek)
    none          the schema stated in the system prompt only

``strict: true`` is set only where the backend enforces it (``strict_schemas``)
and the schema is in OpenAI's strict subset ("All fields must be required",
"additionalProperties: false must always be set in objects", the root an
object): OpenAI answers 400 to a strict schema outside it.

The answer is a text block holding the JSON, as at Anthropic. A model told the
schema only in words may wrap its JSON in a Markdown code fence; FenceStripper
takes the fence off, so the SDKs' ``messages.parse`` can read it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# OpenAI: json_schema.name "must be a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 64".
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")
MAX_NAME = 64
DEFAULT_NAME = "response"
# Keywords outside OpenAI's strict subset: a schema using one is not sent as strict.
_NOT_STRICT = frozenset({"allOf", "oneOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
                         "patternProperties", "unevaluatedProperties", "propertyNames"})
_SUBSCHEMA_LISTS = ("anyOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")

INSTRUCTION = ("Answer with a single JSON value that conforms to the JSON Schema below, and nothing else: no "
               "other text, no Markdown code fence.\n\nJSON Schema:\n")


def output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a request asks the answer to match (the GA form first)."""
    for form in ((body.get("output_config") or {}).get("format"), body.get("output_format")):
        if isinstance(form, dict) and form.get("type") == "json_schema":
            return form["schema"]
    return None


def schema_name(schema: dict[str, Any]) -> str:
    """A name OpenAI accepts, from the schema's title (pydantic sets one)."""
    title = schema.get("title")
    name = _NAME_CHARS.sub("_", title).strip("_")[:MAX_NAME] if isinstance(title, str) else ""
    return name or DEFAULT_NAME


def is_strict_subset(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema as it is: an object at
    the root; at every object, additionalProperties false and every property
    required; no keyword outside the subset."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return False
    pending = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            return False
        if _NOT_STRICT & node.keys():
            return False
        if node.get("type") == "object" or "properties" in node:
            properties = node.get("properties") or {}
            if node.get("additionalProperties") is not False or not isinstance(properties, dict):
                return False
            required = node.get("required") or []
            if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
                return False
            if set(required) != set(properties):
                return False
        for key in _SUBSCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                pending += node[key].values()
        for key in _SUBSCHEMA_LISTS:
            if isinstance(node.get(key), list):
                pending += node[key]
        if isinstance(node.get("items"), dict):
            pending.append(node["items"])
    return True


def response_format(schema: dict[str, Any], mode: str, *, strict: bool) -> dict[str, Any] | None:
    """The response_format field for a capability mode (None for "none")."""
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "none":
        return None
    spec: dict[str, Any] = {"name": schema_name(schema), "schema": schema}
    if strict and is_strict_subset(schema):
        spec["strict"] = True
    return {"type": "json_schema", "json_schema": spec}


def instruction(schema: dict[str, Any]) -> str:
    """The schema stated for the model, for modes that cannot enforce it.
    (It says "JSON": DeepSeek's json_object mode refuses a prompt without the word.)"""
    return INSTRUCTION + json.dumps(schema, ensure_ascii=False)


_OPENING = re.compile(r"\s*```[^\n`]*\n")
_CLOSING = re.compile(r"\s*```\s*$")


class FenceStripper:
    """Takes a Markdown code fence off text that opens with one.

    Text may arrive in pieces cut anywhere. Until the opening is decided
    (whitespace, then ``` and its info string up to the newline, or anything
    else), it is held; text that does not open with a fence passes through
    untouched. Inside a fence, an end that could be the closing fence is held
    until more text shows it is not, or the end drops it.
    """

    def __init__(self) -> None:
        self._mode = "start"  # start | fenced | plain
        self._held = ""

    def feed(self, text: str) -> str:
        if self._mode == "plain":
            return text
        self._held += text
        if self._mode == "start":
            head = self._held.lstrip()
            if not head or (len(head) < 3 and "```".startswith(head)):
                return ""
            if not head.startswith("```"):
                self._mode = "plain"
                held, self._held = self._held, ""
                return held
            opening = _OPENING.match(self._held)
            if opening is None:
                return ""  # the fence's first line has not ended yet
            self._mode, self._held = "fenced", self._held[opening.end():]
        return self._release()

    def flush(self) -> str:
        held, self._held = self._held, ""
        if self._mode == "fenced":
            return _CLOSING.sub("", held)
        return held

    def _release(self) -> str:
        """Everything but an end that could still become the closing fence."""
        keep = _closing_suffix(self._held)
        out, self._held = self._held[: len(self._held) - keep], self._held[len(self._held) - keep:]
        return out


def _closing_suffix(text: str) -> int:
    """Length of the longest end of ``text`` made of whitespace and at most
    three backticks, which the closing fence could still turn out to be."""
    end = len(text)
    position = end
    while position > 0 and text[position - 1].isspace():
        position -= 1
    ticks = 0
    while position > 0 and text[position - 1] == "`" and ticks < 3:
        position -= 1
        ticks += 1
    while position > 0 and text[position - 1].isspace():
        position -= 1
    return end - position if ticks or position < end else 0


def strip_fences(text: str) -> str:
    stripper = FenceStripper()
    return stripper.feed(text) + stripper.flush()
