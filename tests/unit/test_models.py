import pytest

from anthroproxy.models import MappingError, ModelMap


def test_pairs_split_at_the_first_colon():
    mapping = ModelMap.parse("claude-haiku:qwen3:32b, claude-opus-4 : gpt-4-turbo,")
    assert mapping.pairs == (("claude-haiku", "qwen3:32b"), ("claude-opus-4", "gpt-4-turbo"))


@pytest.mark.parametrize("text", ["nocolon", ":target", "key:", "a:b,,c"])
def test_malformed_entries_are_rejected_by_name(text):
    bad_entry = text.rsplit(",", 1)[-1]
    with pytest.raises(MappingError, match=repr(bad_entry)):
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
