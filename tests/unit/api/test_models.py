"""/v1/models: display names, dates and pages."""

import pytest

from anthroproxy.api.models import UNKNOWN_DATE, created_at, display_name, model_info, model_page, page_params
from anthroproxy.core.errors import InvalidRequest


@pytest.mark.parametrize(
    ("name", "shown", "created"),
    [
        ("claude-3-5-haiku-20241022", "Claude 3.5 Haiku (gpt-4o)", "2024-10-22T00:00:00Z"),
        ("claude-sonnet-4-5", "Claude Sonnet 4.5 (gpt-4o)", UNKNOWN_DATE),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1 (gpt-4o)", "2025-08-05T00:00:00Z"),
        ("anthropic--x", "Anthropic X (gpt-4o)", UNKNOWN_DATE),
    ],
)
def test_display_names_and_dates_come_from_the_name(name, shown, created):
    assert display_name(name, "gpt-4o") == shown
    assert created_at(name) == created


def entries(count: int) -> list[dict]:
    return [model_info(f"claude-{i}", "t", None, max_input_tokens=None, max_tokens=None) for i in range(count)]


def test_pages_go_forward_with_after_id_and_back_with_before_id():
    models = entries(5)
    first = model_page(models, after_id=None, before_id=None, limit=2)
    assert [m["id"] for m in first["data"]] == ["claude-0", "claude-1"]
    assert (first["has_more"], first["first_id"], first["last_id"]) == (True, "claude-0", "claude-1")
    second = model_page(models, after_id=first["last_id"], before_id=None, limit=2)
    assert [m["id"] for m in second["data"]] == ["claude-2", "claude-3"] and second["has_more"]
    last = model_page(models, after_id="claude-3", before_id=None, limit=2)
    assert [m["id"] for m in last["data"]] == ["claude-4"] and not last["has_more"]
    back = model_page(models, after_id=None, before_id="claude-3", limit=2)
    assert [m["id"] for m in back["data"]] == ["claude-1", "claude-2"] and back["has_more"]
    start = model_page(models, after_id=None, before_id="claude-1", limit=5)
    assert [m["id"] for m in start["data"]] == ["claude-0"] and not start["has_more"]
    empty = model_page([], after_id=None, before_id=None, limit=20)
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_a_cursor_not_in_the_list_is_an_invalid_request():
    with pytest.raises(InvalidRequest, match="after_id: no model 'claude-9'"):
        model_page(entries(2), after_id="claude-9", before_id=None, limit=2)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", (None, None, 20)), ("limit=1000", (None, None, 1000)), ("after_id=a&limit=3", ("a", None, 3)),
     ("before_id=b", (None, "b", 20))],
)
def test_page_params(query, expected):
    assert page_params(query) == expected


@pytest.mark.parametrize(("query", "message"), [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                                                ("limit=%C2%B2", "limit"), ("limit=-1", "limit"),
                                                ("after_id=a&before_id=b", "after_id, before_id")])
def test_bad_page_params_are_invalid_requests(query, message):
    with pytest.raises(InvalidRequest, match=message):
        page_params(query)
