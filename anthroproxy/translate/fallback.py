"""Fields an upstream may refuse, and how to tell from its 400 (pure).

Some fields the proxy adds are optional, and some backends reject one of them
with a 400 (or a 422) that names it: OpenAI's "Additional properties are not
allowed ('reasoning_content' was unexpected)", "Unsupported parameter:
'reasoning_effort'", "Unrecognized request argument supplied: user". The
handler then retries once without the field and, if the retry works, leaves it
out for that target model from then on (``leave_out``).

"reasoning_history" stands for the reasoning echoed on assistant messages
(``reasoning_content`` or ``reasoning``). A message asking for MORE of it
(DeepSeek: "The reasoning_content in the thinking mode must be passed back")
is not a refusal.
"""

from __future__ import annotations

import re
from typing import Any

OPTIONAL_FIELDS = ("reasoning_effort", "reasoning", "parallel_tool_calls", "stream_options", "user", "temperature",
                   "top_p", "stop")
HISTORY_FIELDS = ("reasoning_content", "reasoning")
REASONING_HISTORY = "reasoning_history"
REFUSAL_STATUSES = (400, 422)
_ASKS_FOR_MORE = re.compile(r"must be passed|missing|is required", re.IGNORECASE)


def _named(field: str, message: str) -> bool:
    pattern = rf"""['"`]{field}['"`]|(?:argument|parameter|property|field)s?(?: supplied)?:? {field}\b"""
    return re.search(pattern, message, re.IGNORECASE) is not None


def refused_field(status: int, message: str, payload: dict[str, Any]) -> str | None:
    """The optional field a 400/422 refuses, if it names one the payload has."""
    if status not in REFUSAL_STATUSES or _ASKS_FOR_MORE.search(message):
        return None
    for field in OPTIONAL_FIELDS:
        if field in payload and _named(field, message):
            return field
    if any(_named(field, message) for field in HISTORY_FIELDS) and _has_history(payload):
        return REASONING_HISTORY
    return None


def leave_out(payload: dict[str, Any], field: str) -> None:
    if field == REASONING_HISTORY:
        for message in payload["messages"]:
            if message["role"] == "assistant":
                for key in HISTORY_FIELDS:
                    message.pop(key, None)
    else:
        payload.pop(field, None)


def _has_history(payload: dict[str, Any]) -> bool:
    return any(key in m for m in payload["messages"] if m["role"] == "assistant" for key in HISTORY_FIELDS)
