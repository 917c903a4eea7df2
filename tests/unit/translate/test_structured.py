import pytest

from anthroproxy.translate.structured import FenceStripper, is_strict_subset, output_schema, schema_name, strip_fences

OBJECT = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}


def levels(count):
    schema = {"type": "string"}
    for _ in range(count - 1):
        schema = nested(schema)
    return schema if count > 1 else OBJECT


def nested(inner):
    return {"type": "object", "properties": {"x": inner}, "required": ["x"], "additionalProperties": False}


@pytest.mark.parametrize(
    ("schema", "strict"),
    [
        (OBJECT, True),
        ({"type": "object", "properties": {}, "additionalProperties": False}, True),
        (nested(OBJECT), True),
        (nested({"type": "array", "items": OBJECT}), True),
        (nested({"anyOf": [OBJECT, {"type": "null"}]}), True),
        ({**nested({"$ref": "#/$defs/A"}), "$defs": {"A": OBJECT}}, True),
        ({**OBJECT, "required": []}, False),  # an optional property
        ({**OBJECT, "additionalProperties": True}, False),
        ({k: v for k, v in OBJECT.items() if k != "additionalProperties"}, False),
        (nested({"type": "object", "properties": {"b": {"type": "string"}}}), False),  # deep, not closed
        (nested({"type": "array", "items": {"type": "object", "properties": {}}}), False),
        ({**nested({"$ref": "#/$defs/A"}), "$defs": {"A": {**OBJECT, "required": []}}}, False),
        (nested({"oneOf": [OBJECT]}), False),  # outside the subset
        ({"anyOf": [OBJECT]}, False),  # the root must be an object
        ({"type": "array", "items": OBJECT}, False),
        ({**OBJECT, "properties": [], "required": []}, False),  # properties of the wrong type
        (nested({"type": "array", "items": [{"type": "object", "properties": {}}]}), False),  # tuple-form items
        ({**OBJECT, "anyOf": [OBJECT]}, False),  # an anyOf at the root
        (nested({"type": "string", "default": "x"}), False),  # a keyword outside the subset
        (nested({"type": "array", "items": {"type": "string"}, "uniqueItems": True}), False),
        ({**OBJECT, "$schema": "https://json-schema.org/draft/2020-12/schema"}, False),
        (levels(10), True),
        (levels(11), False),  # OpenAI: "up to 10 levels of nesting"
        (nested({"type": ["object", "null"], "properties": {}}), False),  # an object by a list of types, not closed
        (nested({"type": ["object", "null"], "properties": {}, "additionalProperties": False}), True),
        (nested({"anyOf": [{"type": "object", "properties": {}}, {"type": "null"}]}), False),  # an open object in anyOf
        ({"type": "object", "additionalProperties": False, "required": [f"p{i}" for i in range(5001)],
          "properties": {f"p{i}": {"type": "string"} for i in range(5001)}}, False),  # over 5,000 properties
    ],
)
def test_the_strict_subset(schema, strict):
    assert is_strict_subset(schema) is strict


def test_output_schema_reads_the_ga_form_then_the_beta_form():
    form = {"type": "json_schema", "schema": OBJECT}
    assert output_schema({"output_config": {"format": form}}) is OBJECT
    assert output_schema({"output_format": form}) is OBJECT
    assert output_schema({"output_config": {"effort": "low"}}) is None


@pytest.mark.parametrize(("title", "name"), [("Weather", "Weather"), ("My model: v2", "My_model_v2"),
                                             ("é", "response"), (None, "response"), ("x" * 80, "x" * 64)])
def test_schema_names_fit_openais_pattern(title, name):
    assert schema_name({"title": title} if title else {}) == name


@pytest.mark.parametrize(
    ("text", "unfenced"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('  ```\n{"a": 1}\n```\n', '{"a": 1}'),
        ('```json\n{"a": "``"}\n```', '{"a": "``"}'),
        ('```json\n{"a": 1}', '{"a": 1}'),  # never closed
        ('{"a": "```"}', '{"a": "```"}'),  # no fence at the start: untouched
        ("Sure! ```json\n{}\n```", "Sure! ```json\n{}\n```"),
        ("", ""),
        ("``", "``"),
        ('```json\n{"a": 1}\n```\nHope this helps!', '{"a": 1}'),  # what follows the fence is dropped
        ('```json\n{\n  "a": "x```y"\n}\n  ```  \n\nMore.', '{\n  "a": "x```y"\n}'),
        ('```\r\n{"a": 1}\r\n```\r\n', '{"a": 1}\r'),
        ('```json\n{"a": 1}\n``\n', '{"a": 1}\n``\n'),  # two backticks close nothing
        ('```json\n```', ""),
        ('```json\n{"a": 1}\n``', '{"a": 1}'),  # the closing fence cut short by max_tokens
        ("````json\n{}\n````", "````json\n{}\n````"),  # four backticks: not taken for a fence
        ("```" + "x" * 120 + "\n{}", "```" + "x" * 120 + "\n{}"),  # no info string is that long
    ],
)
def test_a_code_fence_comes_off_at_every_split(text, unfenced):
    assert strip_fences(text) == unfenced
    for cut in range(len(text) + 1):
        for second in range(cut, len(text) + 1):
            stripper = FenceStripper()
            pieces = [text[:cut], text[cut:second], text[second:]]
            assert "".join(stripper.feed(piece) for piece in pieces) + stripper.flush() == unfenced


def test_inside_a_fence_text_is_released_as_soon_as_it_cannot_be_the_closing_fence():
    stripper = FenceStripper()
    assert stripper.feed("```json\n") == ""
    assert stripper.feed('{"a": 1') == '{"a": 1'
    assert stripper.feed("}\n`") == "}"
    assert stripper.feed("``") == ""
    assert stripper.feed("x") == "\n```x"  # not the fence after all
    assert stripper.feed("\n```\nbye") == ""
    assert stripper.flush() == ""


def test_an_opening_that_is_no_fence_is_released_at_once_not_held_to_the_end():
    stripper = FenceStripper()
    assert stripper.feed("````") == "````"
    assert stripper.feed("json\n{}") == "json\n{}"
