"""The model mapping: names, resolution order, listing, and the route cache."""

import pytest

from anthroproxy.config.models import MappingError, ModelMap


def test_pairs_split_at_the_first_colon():
    mapping = ModelMap.parse("claude-haiku:qwen3:32b, claude-opus-4 : gpt-4-turbo,")
    assert mapping.pairs == (("claude-haiku", "qwen3:32b"), ("claude-opus-4", "gpt-4-turbo"))


@pytest.mark.parametrize(("text", "named"), [("nocolon", "nocolon"), (":target", ":target"), ("key:", "key:"),
                                             ("a:b,,c", "c"), ("a:b,c:d,a:e", "a")])
def test_malformed_entries_are_rejected_by_name(text, named):
    with pytest.raises(MappingError, match=repr(named)):
        ModelMap.parse(text)


MAPPING = ModelMap.parse(
    "claude-3:gpt-4o,claude-3-5:gpt-4.1,claude-3-5-haiku-20241022:mini,*-opus-*:o3,claude-*:catch-all,claude-3-opus:x"
)


@pytest.mark.parametrize(
    ("requested", "target"),
    [
        ("claude-3-5-haiku-20241022", "mini"),  # exact wins over prefixes
        ("claude-3-5-sonnet-latest", "gpt-4.1"),  # longest prefix
        ("claude-3-haiku", "gpt-4o"),  # shorter prefix
        ("claude-3-opus", "x"),  # exact, although a glob also matches
        ("claude-opus-4-1", "o3"),  # first matching glob, in order given
        ("claude-sonnet-4-5", "catch-all"),
        ("gpt-4o", "default"),  # nothing matches
    ],
)
def test_resolution_order(requested, target):
    assert MAPPING.resolve(requested, "default") == target


def test_empty_mapping_uses_the_default():
    assert ModelMap.parse("").resolve("claude-x", "gpt-5") == "gpt-5"
    assert str(ModelMap.parse("a:b,c:d:e")) == "a:b,c:d:e"


def test_lookup_says_whether_a_key_catches_the_name():
    assert MAPPING.lookup("claude-3-haiku") == "gpt-4o"
    assert MAPPING.lookup("gpt-4o") is None


def test_only_plain_names_are_listed_with_their_labels():
    mapping = ModelMap((("claude-a", "x"), ("claude-*", "y"), ("claude-b", "z"), ("claude-a", "w")),
                       (("claude-b", "Bee"),))
    assert mapping.listed() == [("claude-a", "x", None), ("claude-b", "z", "Bee")]


def test_the_route_cache_answers_as_the_mapping_does_and_stays_bounded():
    from anthroproxy.config.models import MAX_REMEMBERED_NAMES, RouteCache

    mapping = ModelMap.parse("claude-haiku:qwen3:8b@local|deepseek-chat,claude-*:deepseek-chat")
    routes = RouteCache(mapping, "gpt-5")
    for name in ("claude-haiku-4-5", "claude-opus-4-6", "gpt-4o", "claude-haiku-4-5"):
        assert routes(name) == mapping.routes_for(name, "gpt-5")[1]
    for index in range(2 * MAX_REMEMBERED_NAMES):  # (names come from clients)
        routes(f"client-made-name-{index}")
        assert len(routes._found) <= MAX_REMEMBERED_NAMES
