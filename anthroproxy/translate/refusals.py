"""The refused-field retry, whole (pure): what an upstream may refuse of a
request, how to tell from its error, the request without it, when to retry,
and what is remembered for the next request.

Some fields the proxy adds are optional, and some backends reject one of them
with a 400 (or a 422) that names it. The request is then sent again without
the field (RefusalRetry) and, if that works, the field is left out for that
target model from then on (Refusals). At most MAX_RETRIES retries a request,
for different refusals: a retry refused with the same message shows the guess
was wrong, and its error is the answer. How backends word it varies:

    OpenAI      Unsupported parameter: 'reasoning_effort' is not supported with this model.
                Additional properties are not allowed ('reasoning_content' was unexpected)
                Unrecognized request argument supplied: user
    pydantic    1 validation error for ChatCompletionRequest
    (vLLM,      messages.1.assistant.reasoning_content
    SGLang)       Extra inputs are not permitted [type=extra_forbidden, ...]
    prose       The reasoning_content is an intermediate result and must not be passed in the input messages
    DeepSeek    This response_format type is unavailable now

So a field counts as refused when the message names it and, near that name,
states or implies a refusal; never when it asks for MORE of it (DeepSeek: "The
reasoning_content in the thinking mode must be passed back"; "Missing
`reasoning_content`"). Of several fields named, the one nearest the refusal
counts; a list of what the server would take ("unknown field `think`,
expected one of `model`, `temperature`, ...") names none, and a path into a
message (``messages.1.assistant.reasoning``) names the echoed reasoning, not
a top-level field. A refusal of one value ("Unsupported value", "does not
support 'minimal'") is remembered as that value: the field is left out when
it has it, and kept otherwise. An error about the client's own schema is no
refusal.

A name with an underscore is named wherever it stands as a word (also as the
last segment of a dotted path); one that is also an English word (user,
stop, reasoning, think...) only where it is marked as a name:
quoted, a dotted path's last segment, on a line of its own, or beside
"parameter", "argument", "field"... ("This reasoning model does not support
images" refuses no field called reasoning).

"reasoning_history" stands for the reasoning echoed on assistant messages
(``reasoning_content`` or ``reasoning``); leaving it out removes it from every
assistant message. "response_format" left out (the Responses API's "text")
is replaced by the schema stated in the system prompt (its instructions), so
the answer is still asked for as JSON.

"images" stands for every image in the request. A server with no vision model
answers an image in its own words, and not always with a 4xx (llama.cpp: a
500, which clients would retry in vain); leaving them out replaces each with
the note ``vision = false`` sends, as if the target's capabilities said so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from .content import collapse
from .messages import JOINERS, NO_VISION
from .request import Translation
from .structured import instruction

OPTIONAL_FIELDS = ("reasoning_effort", "reasoning", "parallel_tool_calls", "stream_options", "user", "temperature",
                   "top_p", "stop", "thinking", "chat_template_kwargs", "think", "response_format")
HISTORY_FIELDS = ("reasoning_content", "reasoning")
REASONING_HISTORY = "reasoning_history"
IMAGES = "images"
REFUSAL_STATUSES = (400, 422)
# Retries per request to one candidate: a request may be refused for more than
# one thing (its reasoning history, then its images), but not without end.
MAX_RETRIES = 2
# Servers answer an image they cannot take with these (llama.cpp: 500; OpenRouter: 404).
IMAGE_REFUSAL_STATUSES = (400, 404, 415, 422, 500)
# How far around the field's name a refusal is looked for, in characters.
NEAR = 160
# How far back a path into the request that ends in the field's name may reach.
PATH_CHARS = 120
# Error messages reach here cut to 2,000 characters (errors.py); this bounds the work anyway.
MAX_MESSAGE_CHARS = 4000

_REFUSAL = re.compile(
    r"not (?:be )?(?:permitted|allowed|supported|recogni[sz]ed|accepted|expected|available|valid here)"
    r"|unexpected|unknown|unrecogni[sz]ed|unsupported|unavailable|extra[ _](?:inputs?|fields?|forbidden|propert)"
    r"|additional propert|(?:must|should|may) not be (?:passed|sent|included|provided|used|set|specified)"
    r"|cannot be (?:used|passed|sent|set|disabled)"
    r"|(?:does|do|did)(?: not|n't) (?:support|accept|allow|recogni[sz]e)"
    r"|no such|forbidden|disallowed|is ignored",
    re.IGNORECASE,
)
_ASKS_FOR_MORE = re.compile(
    r"must be (?:passed|provided|included|present|sent|set)|missing|(?:is|are) required|field required"
    r"|required field|needs? to be (?:passed|provided|included)|must not be (?:empty|null|blank)",
    re.IGNORECASE,
)
# What servers answer an image with when they have no vision model:
_NO_IMAGES = re.compile(
    r"image input is not supported"  # llama.cpp, no mmproj (HTTP 500)
    r"|multimodal data provided, but model does not support"  # llama.cpp /completion, newer Ollama
    r"|is not a multimodal model"  # vLLM, a text-only model
    r"|at most 0 image"  # vLLM, --limit-mm-per-prompt image=0
    r"|missing data required for image input"  # Ollama
    r"|model does not support (?:image input|images|vision|multimodal)"  # Ollama's cloud models, LM Studio
    r"|unknown variant `?image_url"  # DeepSeek
    r"|image_url is only supported by certain models"  # OpenAI, a text-only model
    r"|no endpoints found that support image input",  # OpenRouter (HTTP 404)
    re.IGNORECASE,  # (not "this image is not supported": that is one image, not the model)
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What an error refuses: a field (or "reasoning_history", "images"), or
    with ``value`` only that value of it (JSON: "Unsupported value: 'minimal'"
    refuses reasoning_effort "minimal", not every reasoning effort)."""

    field: str
    value: str | None = None

    @property
    def key(self) -> str:
        """How it is remembered for the target model: see leave_out_remembered."""
        return self.field if self.value is None else f"{self.field}={self.value}"


def refused_field(status: int, message: str, payload: dict[str, Any],
                  optional: tuple[str, ...] = OPTIONAL_FIELDS) -> Refusal | None:
    """What of the payload an error refuses, if it is something the proxy may
    leave out: an optional field, "reasoning_history" or "images". Of several
    fields named, the one named nearest to the refusal."""
    if status in IMAGE_REFUSAL_STATUSES and _has_images(payload) and _NO_IMAGES.search(message):
        return Refusal(IMAGES)
    if status not in REFUSAL_STATUSES or _THE_CLIENTS_OWN.search(message):
        return None
    message = message[:MAX_MESSAGE_CHARS]
    candidates = [(field, False) for field in optional if field in payload]
    if _has_history(payload):
        candidates += [(field, True) for field in HISTORY_FIELDS]
    best: tuple[int, str, bool] | None = None
    for field, nested in candidates:
        found = _refusal_of(message, field, nested=nested)
        if found is not None and (best is None or found[0] < best[0]):
            best = (found[0], REASONING_HISTORY if nested else field, found[1])
    if best is None:
        return None
    _, field, of_a_value = best
    if of_a_value and field in payload:
        return Refusal(field, _value_key(payload[field]))
    return Refusal(field)


def refuses(message: str, field: str, *, nested: bool = False) -> bool:
    """Whether the message names ``field`` (a top-level one, or with ``nested``
    one inside messages) with a refusal near it, and asks for no more of it."""
    return _refusal_of(message, field, nested=nested) is not None


def _refusal_of(message: str, field: str, *, nested: bool) -> tuple[int, bool] | None:
    """(distance from the field's name to the refusal, whether it refuses a
    value) for the nearest refusal of ``field``: in the same statement (a
    sentence, an entry of a list of errors, a pydantic error with its indented
    message), at most NEAR characters away, with no request for more near it.
    A list of what the server would accept ("expected one of ...") names
    fields that are not refused."""
    if field not in message.lower():
        return None  # (the common case, found at C speed)
    pattern = re.compile(_name_pattern(field), re.IGNORECASE | re.MULTILINE)
    best: tuple[int, bool] | None = None
    for statement in _STATEMENTS.split(message):
        statement = _ACCEPTED_LIST.split(statement, 1)[0]
        for named in pattern.finditer(statement):
            name_at = named.start() + named.group().lower().rfind(field.lower())
            if not nested and _inside_something(statement[:name_at]):
                continue  # messages.1.user names a field of a message, not the request's user
            near_start = max(0, named.start() - NEAR)
            near = statement[near_start: named.end() + NEAR]
            if _ASKS_FOR_MORE.search(near):
                continue
            refusals = [abs(near_start + m.start() - name_at) for m in _REFUSAL.finditer(near)]
            if refusals and (best is None or min(refusals) < best[0]):
                best = (min(refusals), bool(_A_VALUE.search(statement)))
    return best


def _inside_something(before: str) -> bool:
    """Whether the name that follows ``before`` is a segment of a path into
    the request (``messages.1.``, or a location list through "messages"),
    rather than a top-level field (``body.`` or none). Only the end of
    ``before`` is looked at: the regexes stay linear on any message."""
    before = before[-PATH_CHARS:]
    dotted = re.search(r"(?:[\w-]+\.)+$", before)
    if dotted is not None and dotted.group().lower() != "body.":
        return True
    return re.search(r"[\[(]\s*['\"]body['\"],\s*['\"]messages['\"][^\])]*$", before) is not None


# Where one statement of an error message ends: a line that is not indented
# (pydantic starts each error so), the next object of a JSON list, a sentence.
_STATEMENTS = re.compile(r"\n(?=\S)|\}\s*,\s*\{|(?<=[.;])\s+")
# Where a statement starts listing what the server would take instead (serde:
# "unknown field `think`, expected one of `model`, `messages`, ...").
_ACCEPTED_LIST = re.compile(
    r"expected one of|expected:|one of the following|(?:allowed|valid|supported|permitted|known) "
    r"(?:fields|keys|parameters|properties|values|options)(?: are)?:?", re.IGNORECASE)
# A refusal of the value, not of the field.
_A_VALUE = re.compile(r"unsupported value|invalid value|supported values|does not support ['\"`][^'\"`]*['\"`]"
                      r"|is not (?:a )?(?:valid|supported) value|must be one of|unknown variant", re.IGNORECASE)
# The client's own input is wrong (its schema): answered as it is, never retried.
_THE_CLIENTS_OWN = re.compile(r"invalid schema|schema is invalid", re.IGNORECASE)


_NAME_WORDS = r"(?:parameter|argument|field|property|key|option)s?"


def _name_pattern(field: str) -> str:
    word = rf"(?<![\w-]){re.escape(field)}(?![\w-]|\.\w)"
    if "_" in field:
        return word
    return "|".join((
        rf"['\"`]{re.escape(field)}['\"`]",  # quoted
        rf"['\"`]{re.escape(field)}\.[\w.]+['\"`]",  # a quoted path into it: 'text.format' (Responses)
        rf"(?<=\w\.){word}",  # a dotted path's last segment: body.user
        rf"^[ \t]*{word}[ \t]*$",  # a line of its own (pydantic's location line)
        rf"{_NAME_WORDS}(?: supplied)?:? {word}",  # "parameter user", "argument supplied: user"
        rf"{word}:? {_NAME_WORDS}",  # "user parameter"
    ))


def leave_out_remembered(payload: dict[str, Any], key: str) -> None:
    """Leave out what a Refusal's ``key`` names: a field, or a field when it
    has the value refused."""
    field, _, value = key.partition("=")
    if not value or (field in payload and _value_key(payload[field]) == value):
        leave_out(payload, field)


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def leave_out(payload: dict[str, Any], field: str) -> None:
    if field == REASONING_HISTORY:
        for message in payload["messages"]:
            if message["role"] == "assistant":
                for key in HISTORY_FIELDS:
                    message.pop(key, None)
    elif field == IMAGES:
        for message in payload["messages"]:
            if isinstance(message.get("content"), list):
                parts = [NO_VISION if part.get("type") == "image_url" else part for part in message["content"]]
                message["content"] = collapse(parts, JOINERS.get(message["role"], JOINERS["user"]))
    elif field == "response_format":
        form = payload.pop("response_format", None) or {}
        schema = (form.get("json_schema") or {}).get("schema") if form.get("type") == "json_schema" else None
        if schema is not None:
            _add_to_system_prompt(payload, instruction(schema))
    elif field == "text" and "input" in payload:  # (the Responses API's text.format)
        form = (payload.pop("text", None) or {}).get("format") or {}
        if form.get("type") == "json_schema" and form.get("schema") is not None:
            said = payload.get("instructions")
            payload["instructions"] = f"{said}\n\n{instruction(form['schema'])}" if said else instruction(form["schema"])
    else:
        payload.pop(field, None)


def _add_to_system_prompt(payload: dict[str, Any], text: str) -> None:
    messages = payload["messages"]
    first = messages[0] if messages else None
    if first is not None and first["role"] in ("system", "developer") and isinstance(first.get("content"), str):
        first["content"] = f"{first['content']}\n\n{text}" if first["content"] else text
    else:
        messages.insert(0, {"role": "system", "content": text})


def _has_history(payload: dict[str, Any]) -> bool:
    return any(key in m for m in payload.get("messages", ()) if m["role"] == "assistant" for key in HISTORY_FIELDS)


def _has_images(payload: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in payload.get("messages", ()))


def describe_refusal(refusal: Refusal) -> str:
    """For the log: what is left out from now on, and the setting that says so."""
    field = refusal.field
    if refusal.value is not None:
        return f"{field} {refusal.value} (the field is left out when it has that value)"
    if field == IMAGES:
        return 'its images (each is replaced by a note); set "vision": false in its capabilities to say so up front'
    if field in ("response_format", "text"):
        return f'{field} (the schema is stated in the prompt); set "structured_output": "none" to say so'
    return json.dumps(field) if field != REASONING_HISTORY else "the reasoning echoed on assistant messages"


class Refusals:
    """What each (upstream, target model) refused, remembered while the proxy
    runs: a field, or a field with one value (``Refusal.key``). ``optional``:
    the fields of the request (Chat Completions', by default) it may do without."""

    def __init__(self, optional: tuple[str, ...] = OPTIONAL_FIELDS) -> None:
        self._refused: dict[tuple[str, str], set[str]] = {}
        self._optional = optional
        # Told of each refusal newly remembered here (where, key): the shared store, when there is one.
        self.listener: Callable[[tuple[str, str], str], None] | None = None

    def learn(self, where: tuple[str, str], key: str) -> None:
        """Remember a refusal another instance found."""
        self._refused.setdefault(where, set()).add(key)

    def tell(self, where: tuple[str, str], refusals: list[Refusal]) -> None:
        """Refusals newly remembered after a request (``RefusalRetry.succeeded``) go to the listener."""
        if self.listener is not None:
            for refusal in refusals:
                self.listener(where, refusal.key)

    def of(self, where: tuple[str, str]) -> frozenset[str]:
        return frozenset(self._refused.get(where, ()))

    def apply(self, where: tuple[str, str], payload: dict[str, Any]) -> None:
        """Leave out of ``payload`` what ``where`` refused before."""
        for key in self._refused.get(where, ()):
            leave_out_remembered(payload, key)

    def retry(self, where: tuple[str, str], translation: Translation) -> RefusalRetry:
        """The retries of one request to ``where``."""
        return RefusalRetry(self._refused.setdefault(where, set()), translation, self._optional)


class RefusalRetry:
    """One request's retries after refusals, to one (upstream, target model)::

        retry = refusals.retry(where, translation)
        while True:
            try:
                answer = send(translation.payload)
                break
            except the upstream's HTTP error:
                if retry.after(status, message) is None:
                    raise  # not a refusal the proxy can do without, or no retry left
        for refusal in retry.succeeded():
            ...  # newly remembered: say so once
    """

    def __init__(self, memory: set[str], translation: Translation, optional: tuple[str, ...] = OPTIONAL_FIELDS) -> None:
        self._memory = memory
        self._translation = translation
        self._optional = optional
        self._left_out: list[tuple[Refusal, str]] = []  # and the message that refused it

    def after(self, status: int, message: str) -> Refusal | None:
        """What to leave out after an error (it is left out of the payload
        here), or None: the error is the answer."""
        payload = self._translation.payload
        refusal = refused_field(status, message, payload, self._optional)
        same_again = bool(self._left_out) and message == self._left_out[-1][1]
        if refusal is None or same_again or len(self._left_out) == MAX_RETRIES:
            return None
        self._left_out.append((refusal, message))
        leave_out(payload, refusal.field)
        self._translation.left_out.append(refusal.key)
        return refusal

    def succeeded(self) -> list[Refusal]:
        """The request went through: what it left out is remembered; the
        refusals remembered only now."""
        new = []
        for refusal, _ in self._left_out:
            if refusal.key not in self._memory:
                self._memory.add(refusal.key)
                new.append(refusal)
        return new
