"""/v1/models: the names the proxy serves, in Anthropic's list shape (pure)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from ..core.errors import InvalidRequest

DEFAULT_PAGE, MAX_PAGE = 20, 1000
_DATE = re.compile(r"-(\d{4})(\d{2})(\d{2})$")
UNKNOWN_DATE = "1970-01-01T00:00:00Z"


def display_name(name: str, target: str) -> str:
    """``claude-3-5-haiku-20241022`` served by gpt-4o -> ``Claude 3.5 Haiku (gpt-4o)``:
    words capitalised, version numbers joined with dots, a date suffix dropped."""
    words: list[str] = []
    for part in _DATE.sub("", name).split("-"):
        if part.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + part
        elif part:
            words.append(part[:1].upper() + part[1:])
    return f"{' '.join(words) or name} ({target})"


def created_at(name: str) -> str:
    """The date in a dated name (``-20241022``), else the epoch: the proxy does not know."""
    match = _DATE.search(name)
    return f"{match[1]}-{match[2]}-{match[3]}T00:00:00Z" if match else UNKNOWN_DATE


def model_info(name: str, target: str, label: str | None, *, max_input_tokens: int | None,
               max_tokens: int | None) -> dict[str, object]:
    return {
        "type": "model",
        "id": name,
        "display_name": label or display_name(name, target),
        "created_at": created_at(name),
        "max_input_tokens": max_input_tokens,
        "max_tokens": max_tokens,
    }


def page_params(query: str) -> tuple[str | None, str | None, int]:
    """(after_id, before_id, limit) from a /v1/models query string."""
    params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    text = params.get("limit", str(DEFAULT_PAGE))
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= MAX_PAGE:
        raise InvalidRequest(f"limit: expected an integer from 1 to {MAX_PAGE}, got {text!r}")
    after, before = params.get("after_id") or None, params.get("before_id") or None
    if after and before:
        raise InvalidRequest("after_id, before_id: give one or the other, not both")
    return after, before, int(digits)


def model_page(models: list[dict[str, object]], *, after_id: str | None, before_id: str | None,
               limit: int) -> dict[str, object]:
    """A page the way Anthropic pages: after an id, before an id, or from the start."""
    ids = [model["id"] for model in models]
    for name, given in (("after_id", after_id), ("before_id", before_id)):
        if given is not None and given not in ids:
            raise InvalidRequest(f"{name}: no model {given!r} in the list")
    if before_id is not None:
        end = ids.index(before_id)
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = ids.index(after_id) + 1 if after_id is not None else 0
        end = min(len(models), start + limit)
        has_more = end < len(models)
    data = models[start:end]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
