import copy

import pytest

from anthroproxy.api.validate import parse_body, validate_request
from anthroproxy.core.errors import InvalidRequest
from anthroproxy.translate.request import to_openai

GOOD = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def with_(**changes):
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "request body: expected a JSON object, got an array"),
        (with_(model=...), "model: field required"),
        (with_(model=7), "model: expected a string, got a number"),
        (with_(model=""), "model: must not be empty"),
        (with_(max_tokens=...), "max_tokens: field required"),
        (with_(max_tokens="10"), "max_tokens: expected a non-negative integer, got a string"),
        (with_(max_tokens=True), "max_tokens: expected a non-negative integer, got a boolean"),
        (with_(max_tokens=-1), "max_tokens: expected a non-negative integer"),
        (with_(max_tokens=1.5), "max_tokens: expected a non-negative integer"),
        (with_(messages=...), "messages: field required"),
        (with_(messages={}), "messages: expected an array, got an object"),
        (with_(messages=[]), "messages: at least one message is required"),
        (with_(messages=["hi"]), "messages.0: expected an object, got a string"),
        (with_(messages=[{"content": "x"}]), "messages.0.role: field required"),
        (with_(messages=[{"role": "bot", "content": "x"}]), "messages.0.role: expected one of user, assistant, system"),
        (with_(messages=[{"role": "user"}]), "messages.0.content: field required"),
        (with_(messages=[{"role": "user", "content": 5}]), "messages.0.content: expected a string or an array"),
        (
            with_(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text"}]}]),
            "messages.1.content.0.text: field required",
        ),
        (
            with_(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]),
            "messages.0.content.1.type: field required",
        ),
        (
            with_(messages=[{"role": "user", "content": [{"type": "text", "text": None}]}]),
            "messages.0.content.0.text: expected a string, got null",
        ),
        (
            with_(messages=[{"role": "user", "content": [{"type": "hologram"}]}]),
            "messages.0.content.0.type: content block type 'hologram' is not supported",
        ),
        (
            with_(messages=[{"role": "system", "content": [{"type": "image"}]}]),
            "messages.0.content.0.type: content block type 'image' is not allowed here",
        ),
        (with_(system=5), "system: expected a string or an array of text blocks, got a number"),
        (with_(system=[{"type": "text", "text": 1}]), "system.0.text: expected a string, got a number"),
        (with_(stream="yes"), "stream: expected a boolean, got a string"),
        (with_(temperature="hot"), "temperature: expected a number, got a string"),
        (with_(top_p=[1]), "top_p: expected a number, got an array"),
        (with_(top_k=1.5), "top_k: expected a non-negative integer"),
        (with_(stop_sequences="END"), "stop_sequences: expected an array of strings, got a string"),
        (with_(stop_sequences=["a", 2]), "stop_sequences.1: expected a string, got a number"),
        (with_(metadata="u"), "metadata: expected an object, got a string"),
        (with_(metadata={"user_id": 3}), "metadata.user_id: expected a string, got a number"),
    ],
)
def test_errors_name_the_path(body, message):
    check(body, message)


def accepted(body: dict) -> dict:
    """What validation accepts it leaves as it was, and the translator takes: its payload."""
    before = copy.deepcopy(body)
    assert validate_request(body) is None
    assert body == before  # (validation reads the body; it never rewrites it)
    return to_openai(body, "target-model").payload


def check(body, message):
    with pytest.raises(InvalidRequest) as caught:
        validate_request(body)
    assert caught.value.message.startswith(message)
    assert caught.value.status == 400 and caught.value.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    "body",
    [
        GOOD,
        with_(max_tokens=0, temperature=None, system=None, stream=False, stop_sequences=None, metadata={}),
        with_(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}], top_k=3,
              unknown_beta_field={"x": 1}, thinking={"type": "adaptive"}),
        with_(messages=[{"role": "system", "content": "s"}, {"role": "assistant", "content": [{"type": "text", "text": ""}]}]),
    ],
)
def test_valid_requests_pass(body):
    payload = accepted(body)
    assert payload["model"] == "target-model" and payload["messages"]


def user(*blocks):
    return with_(messages=[{"role": "user", "content": list(blocks)}])


def assistant(*blocks):
    return with_(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": list(blocks)}])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (user({"type": "image"}), "messages.0.content.0.source: expected an object, got null"),
        (user({"type": "image", "source": {"type": "base64", "data": "x"}}), "messages.0.content.0.source.media_type: expected a string"),
        (user({"type": "image", "source": {"type": "url"}}), "messages.0.content.0.source.url: expected a string"),
        (user({"type": "image", "source": {"type": "file"}}), "messages.0.content.0.source.file_id: expected a string"),
        (user({"type": "image", "source": {"type": "pixels"}}), "messages.0.content.0.source.type: expected one of base64, url"),
        (user({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": 5}}),
         "messages.0.content.0.source.data: expected a string, got a number"),
        (user({"type": "document", "source": {"type": "content", "content": [{"type": "tool_use"}]}}),
         "messages.0.content.0.source.content.0.type: content block type 'tool_use' is not allowed here"),
        (user({"type": "tool_result"}), "messages.0.content.0.tool_use_id: expected a string, got null"),
        (user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "thinking"}]}),
         "messages.0.content.0.content.0.type: content block type 'thinking' is not allowed here"),
        (user({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}), "messages.0.content.0.is_error: expected a boolean"),
        (user({"type": "tool_use", "id": "t", "name": "n", "input": {}}),
         "messages.0.content.0.type: content block type 'tool_use' is not allowed here"),
        (assistant({"type": "tool_result", "tool_use_id": "t"}),
         "messages.1.content.0.type: content block type 'tool_result' is not allowed here"),
        (assistant({"type": "tool_use", "id": "t", "name": "n", "input": "{}"}), "messages.1.content.0.input: expected an object, got a string"),
        (assistant({"type": "tool_use", "id": "", "name": "n", "input": {}}), "messages.1.content.0.id: must not be empty"),
        (assistant({"type": "thinking", "signature": "s"}), "messages.1.content.0.thinking: expected a string, got null"),
        (with_(tools={}), "tools: expected an array, got an object"),
        (with_(tools=[{"input_schema": {}}]), "tools.0.name: field required"),
        (with_(tools=[{"name": "t"}]), "tools.0.input_schema: field required"),
        (with_(tools=[{"name": "t", "input_schema": []}]), "tools.0.input_schema: expected an object, got an array"),
        (with_(tools=[{"name": "t", "input_schema": {}, "description": 1}]), "tools.0.description: expected a string"),
        (with_(tool_choice={"type": "some"}), "tool_choice.type: expected one of auto, any, tool, none, got 'some'"),
        (with_(tool_choice={"type": "tool"}), "tool_choice.name: field required"),
        (with_(thinking={"type": "enabled"}), "thinking.budget_tokens: expected a non-negative integer, got null"),
        (with_(thinking={"type": "on"}), "thinking.type: expected one of enabled, disabled, adaptive"),
        (with_(output_config={"effort": 3}), "output_config.effort: expected a string, got a number"),
    ],
)
def test_content_and_tool_errors_name_the_path(body, message):
    check(body, message)


def test_claude_code_shaped_history_is_valid():
    payload = accepted(with_(
        tools=[{"type": "web_search_20250305", "name": "web_search"},
               {"name": "Bash", "input_schema": {"type": "object"}, "defer_loading": True}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "q"},
                                         {"type": "image", "source": {"type": "url", "url": "https://x"}},
                                         {"type": "document", "source": {"type": "content", "content": "c"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "redacted_thinking", "data": "d"},
                {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": False, "content": [
                {"type": "text", "text": "ok"}, {"type": "tool_reference", "tool_name": "X"},
                {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "r"}]}]}]},
        ],
    ))
    assert [tool["function"]["name"] for tool in payload["tools"]] == ["Bash"]  # (web_search: a server tool)
    roles = [message["role"] for message in payload["messages"]]
    assert roles[-2:] == ["assistant", "tool"] and payload["messages"][-2]["tool_calls"][0]["id"] == "t1"


TOOL_ADDITION = {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": {
    "name": "mcp__late__tool", "description": "d", "input_schema": {"type": "object"}}}}


@pytest.mark.parametrize(
    "messages",
    [
        # Claude Code's mid-conversation tool changes and per-turn effort
        [{"role": "user", "content": "x"},
         {"role": "system", "content": [{"type": "text", "text": "tools changed"}, TOOL_ADDITION,
                                        {"type": "tool_removal", "tool_name": "Old"}]}],
        [{"role": "user", "content": "x"}, {"role": "system", "output_config": {"effort": "high"}}],
        [{"role": "user", "content": "x"}, {"role": "system", "content": [{"type": "some_future_block"}]}],
        # newer echo blocks and unknown future blocks in assistant turns are passed over
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": [
            {"type": "advisor_tool_result", "content": {}}, {"type": "fallback"}, {"type": "mcp_tool_listing"},
            {"type": "some_future_block", "data": 1}, {"type": "text", "text": "ok"}]}],
        [{"role": "user", "content": [{"type": "mid_conv_system", "content": [{"type": "text", "text": "note"}]}]}],
        # the Files API, for images as for documents
        [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                                      {"type": "document", "source": {"type": "file", "file_id": "file_2"}}]}],
    ],
)
def test_claude_code_system_turns_and_newer_blocks_are_accepted(messages):
    validate_request(with_(messages=messages))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (user({"type": "search_result", "source": "s", "title": "t", "content": "abc"}),
         "messages.0.content.0.content: expected an array of text blocks, got a string"),
        (user({"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "search_result", "source": "s", "title": "t", "content": "abc"}]}),
         "messages.0.content.0.content.0.content: expected an array of text blocks"),
        (with_(messages=[{"role": "system", "content": [{"type": "tool_addition", "tool": {}}]}]),
         "messages.0.content.0.tool.definition: expected an object, got null"),
        (with_(messages=[{"role": "system", "content": [{"type": "image"}]}]),
         "messages.0.content.0.type: content block type 'image' is not allowed here"),
        (user({"type": "some_future_block"}), "messages.0.content.0.type: content block type 'some_future_block' is not supported"),
    ],
)
def test_shapes_that_would_crash_the_translator_are_400s(body, message):
    check(body, message)


def test_counting_tokens_needs_no_max_tokens_but_checks_it_when_given():
    validate_request(with_(max_tokens=...), counting=True)
    with pytest.raises(InvalidRequest, match="max_tokens: expected a non-negative integer"):
        validate_request(with_(max_tokens="10"), counting=True)
    with pytest.raises(InvalidRequest, match="messages: at least one message is required"):
        validate_request(with_(max_tokens=..., messages=[]), counting=True)


def deep(levels: int) -> dict:
    node: dict = {"type": "string"}
    for _ in range(levels - 1):
        node = {"items": node}
    return node


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (with_(temperature=1.5), "temperature: expected a number from 0 to 1, got 1.5"),
        (with_(temperature=10**400), "temperature: expected a number from 0 to 1, got a number out of range"),
        (with_(max_tokens=2**53), "max_tokens: expected an integer up to 9007199254740991, got 9007199254740992"),
        (with_(thinking={"type": "enabled", "budget_tokens": 10**30}),
         "thinking.budget_tokens: expected an integer up to 9007199254740991, got a number out of range"),
        (with_(top_p=-0.1), "top_p: expected a number from 0 to 1, got -0.1"),
        (with_(output_config={"format": {"type": "json_object"}}), "output_config.format.type: expected one of json_schema"),
        (with_(output_config={"format": {"type": "json_schema"}}), "output_config.format.schema: field required"),
        (with_(output_config={"format": {"type": "json_schema", "schema": "{}"}}),
         "output_config.format.schema: expected an object, got a string"),
        (with_(output_format={"type": "json_schema", "schema": deep(101)}),
         "output_format.schema: nested deeper than 100 levels"),
        (with_(output_format=[SCHEMA]), "output_format: expected an object, got an array"),
        (with_(tools=[{"name": "t", "input_schema": SCHEMA, "strict": "yes"}]),
         "tools.0.strict: expected a boolean, got a string"),
        (with_(tools=[{"name": "t", "input_schema": deep(101)}]), "tools.0.input_schema: nested deeper than 100 levels"),
        (with_(messages=[{"role": "assistant", "content": [{"type": "tool_use", "id": "i", "name": "t",
                                                            "input": {"x": deep(100)}}]}]),
         "messages.0.content.0.input: nested deeper than 100 levels"),
        (with_(messages=[{"role": "system", "content": [{"type": "tool_addition", "tool": {"definition": {
            "name": "t", "input_schema": []}}}]}]),
         "messages.0.content.0.tool.definition.input_schema: expected an object, got an array"),
    ],
)
def test_structured_outputs_strict_tools_ranges_and_depth(body, message):
    check(body, message)


def test_nesting_up_to_the_limit_is_fine():
    validate_request(with_(tools=[{"name": "t", "input_schema": deep(100)}],
                           output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
                           temperature=0, top_p=1))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "request body: expected a JSON object, got an empty body"),
        (b'{"temperature": NaN}', "request body: not valid JSON (NaN is not a JSON value"),
        (b'{"temperature": -Infinity}', "request body: not valid JSON (-Infinity is not a JSON value"),
        (b'{"temperature": 1e400}', "request body: not valid JSON (the number 1e400 is out of range"),
        (b"[" * 5000 + b"]" * 5000, "request body: JSON nested too deeply"),
        (b'{"model": "\\udc00x"}', "model: a lone surrogate (half of a UTF-16 pair) is not valid Unicode"),
        (b'{"messages": [{"content": [{"text": "ok \\ud83d"}]}]}', "messages.0.content.0.text: a lone surrogate"),
        (b'{"tools": [{"input_schema": {"properties": {"\\ud800": {}}}}]}',
         "tools.0.input_schema.properties.\\ud800: a lone surrogate"),
        (b'"\\ud800"', "request body: a lone surrogate"),
        (b"\xff{}", "request body: not valid UTF-8 (invalid start byte at byte 0)"),
        (b'{"tools": [{"name": "t\xed\xa0\x80"}]}', "request body: not valid UTF-8"),  # a surrogate as UTF-8 bytes
        ('{"model": "x"}'.encode("utf-16"), "request body: not valid UTF-8"),
        ('{"model": "\ud800"}'.encode("utf-16", "surrogatepass"), "request body: not valid UTF-8"),
    ],
)
def test_the_body_is_strict_json(raw, message):
    with pytest.raises(InvalidRequest) as caught:
        parse_body(raw)
    assert caught.value.message.startswith(message), caught.value.message


def test_surrogate_pairs_and_escaped_backslashes_are_fine():
    assert parse_body(b'{"a": "\\ud83d\\ude00", "b": "\\\\udc00"}') == {"a": "\U0001F600", "b": "\\udc00"}
