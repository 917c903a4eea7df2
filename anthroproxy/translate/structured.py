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
# OpenAI's strict subset, from its structured-outputs guide: the keywords it
# supports (a schema using any other is not sent as strict), at most 10 levels
# of nesting and 5,000 properties in all.
STRICT_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const", "description",
    "title", "$defs", "definitions", "$ref", "pattern", "format", "multipleOf", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "minItems", "maxItems",
})
MAX_STRICT_NESTING = 10
MAX_STRICT_PROPERTIES = 5000

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
    the root (not anyOf); at every object, additionalProperties false and every
    property required; only STRICT_KEYWORDS; within the size limits."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        return False
    pending: list[tuple[Any, int]] = [(schema, 1)]
    properties_seen = 0
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, dict) or not node.keys() <= STRICT_KEYWORDS or depth > MAX_STRICT_NESTING:
            return False
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
            properties = node.get("properties", {})
            if not isinstance(properties, dict) or node.get("additionalProperties") is not False:
                return False
            required = node.get("required", [])
            if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
                return False
            if set(required) != set(properties):
                return False
            properties_seen += len(properties)
            pending += ((child, depth + 1) for child in properties.values())
        if "items" in node:
            pending.append((node["items"], depth + 1))  # (a list of schemas is not a dict: refused above)
        if isinstance(node.get("anyOf"), list):
            pending += ((child, depth) for child in node["anyOf"])
        elif "anyOf" in node:
            return False
        for key in ("$defs", "definitions"):
            if isinstance(node.get(key), dict):
                pending += ((child, 1) for child in node[key].values())
            elif key in node:
                return False
    return properties_seen <= MAX_STRICT_PROPERTIES


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


# An info string ("json") is short: an opening line longer than this is no fence.
MAX_OPENING_CHARS = 100
_OPENING = re.compile(r"\s*```[^\n`]{0,%d}\n" % MAX_OPENING_CHARS)
_FENCE_LINE = re.compile(r"[ \t\r]*```[ \t\r]*")  # the closing fence: a line of three backticks
_MAYBE_FENCE_LINE = re.compile(r"[ \t\r]*`{0,3}[ \t\r]*")  # the start of a line that may still become it


class FenceStripper:
    """Takes a Markdown code fence off text that opens with one.

    Text may arrive in pieces cut anywhere. Until the opening is decided
    (whitespace, then ``` and its info string up to the newline, or anything
    else), it is held; text that does not open with a fence passes through
    untouched. Inside the fence, a line is held while it may still turn out
    to be the closing fence, and so is the newline before it; the closing
    fence ends the text, and what follows it (a model's "Hope this helps!")
    is dropped.
    """

    def __init__(self) -> None:
        self._mode = "start"  # start | fenced | closed | plain
        self._held = ""  # before the opening is decided
        self._newline = False  # the newline that ended the last line, held
        self._line = ""  # the current line so far, held: it may be the closing fence
        self._line_out = False  # part of the current line went out: it is no fence

    def feed(self, text: str) -> str:
        if self._mode == "plain":
            return text
        if self._mode == "start":
            self._held += text
            head = self._held.lstrip()
            if not head or (len(head) < 3 and "```".startswith(head)):
                return ""
            if not head.startswith("```"):
                self._mode = "plain"
                held, self._held = self._held, ""
                return held
            opening = _OPENING.match(self._held)
            if opening is None:
                line = head[3:].partition("\n")[0]
                if "`" in line or len(line) > MAX_OPENING_CHARS or "\n" in head:  # ("````", prose): no fence
                    self._mode = "plain"
                    held, self._held = self._held, ""
                    return held
                return ""  # the fence's first line has not ended yet
            self._mode, text, self._held = "fenced", self._held[opening.end():], ""
        out: list[str] = []
        while text and self._mode == "fenced":
            piece, newline, text = text.partition("\n")
            self._fenced_line(piece, ended=bool(newline), out=out)
        return "".join(out)

    def flush(self) -> str:
        if self._mode == "start":
            held, self._held = self._held, ""
            return held
        if self._mode != "fenced" or "`" in self._line:
            return ""  # (a closing fence, or one cut short by max_tokens: the last line held is only ticks)
        tail = ("\n" if self._newline else "") + self._line
        self._newline, self._line = False, ""
        return tail

    def _fenced_line(self, piece: str, *, ended: bool, out: list[str]) -> None:
        """Part of a line inside the fence (its end, if ``ended``)."""
        if not self._line_out:
            line = self._line + piece
            if ended and _FENCE_LINE.fullmatch(line):
                self._mode = "closed"  # (its newline, the line and all after it are dropped)
                return
            if not ended and _MAYBE_FENCE_LINE.fullmatch(line):
                self._line = line
                return
            piece, self._line, self._line_out = line, "", True
            if self._newline:
                out.append("\n")
                self._newline = False
        out.append(piece)
        if ended:
            self._newline, self._line_out = True, False


def strip_fences(text: str) -> str:
    stripper = FenceStripper()
    return stripper.feed(text) + stripper.flush()
