import pytest

from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.testing.fake_upstream import completion, usage
from anthroproxy.translate.response import from_openai, parse_arguments
from anthroproxy.translate.tools import ToolNames
from anthroproxy.translate.usage import anthropic_usage


def translate(body, **kwargs):
    return from_openai(body, model="claude-asked", message_id="msg_test", **kwargs)


def test_text_completion():
    assert translate(completion("Hello!", final_usage=usage(prompt=30, completion=7, cached=10))) == {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-asked",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 10,
        },
    }


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn"),
     ("something_new", "end_turn"), ("tool_calls", "end_turn"), ("function_call", "end_turn")],
)
def test_finish_reasons(finish, stop_reason):
    # (tool_calls without any call: there is no tool_use block to act on)
    assert translate(completion("x", finish=finish))["stop_reason"] == stop_reason


def test_vllm_reports_the_matched_stop_sequence():
    body = completion("x")
    body["choices"][0]["stop_reason"] = "###"
    out = translate(body, stop_sequences=["END", "###"])
    assert (out["stop_reason"], out["stop_sequence"]) == ("stop_sequence", "###")
    assert translate(body, stop_sequences=None)["stop_reason"] == "end_turn"


def test_refusal_is_text_with_stop_reason_refusal():
    out = translate(completion(None, refusal="I can't help with that."))
    assert out["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert out["stop_reason"] == "refusal"


@pytest.mark.parametrize("content", [None, "", "\n \n"])
def test_an_empty_answer_is_an_upstream_fault_unless_a_limit_cut_it(content):
    with pytest.raises(UpstreamProtocolError, match="answer was empty"):
        translate(completion(content))
    assert translate(completion(content, finish="length"))["content"] == []
    assert translate(completion(content, finish="content_filter"))["stop_reason"] == "refusal"


def test_content_parts_are_joined():
    parts = completion([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert translate(parts)["content"] == [{"type": "text", "text": "ab"}]


@pytest.mark.parametrize("body", [[], {"choices": []}, {"choices": None}, {"object": "chat.completion"}, {"choices": ["x"]}])
def test_answers_without_choices_are_protocol_errors(body):
    with pytest.raises(UpstreamProtocolError):
        translate(body)


def test_an_error_object_in_a_200_is_an_upstream_error():
    with pytest.raises(UpstreamHTTPError) as caught:
        translate({"error": {"message": "Rate limited", "code": 429}})
    assert (caught.value.status, caught.value.error_type, caught.value.message) == (429, "rate_limit_error", "Rate limited")


def test_usage_mapping_excludes_cached_and_written_tokens_from_input():
    assert anthropic_usage(
        {"prompt_tokens": 100, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30}}
    ) == {"input_tokens": 10, "output_tokens": 9, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 60}
    # DeepSeek's own cache field
    assert anthropic_usage({"prompt_tokens": 50, "completion_tokens": 1, "prompt_cache_hit_tokens": 20})[
        "cache_read_input_tokens"
    ] == 20
    # missing, null or nonsense usage never crashes
    for bad in (None, {}, {"prompt_tokens": None, "prompt_tokens_details": None}, {"prompt_tokens": "5"}, "x"):
        assert anthropic_usage(bad) == {
            "input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        }


# ---- tools and reasoning ---------------------------------------------------------------


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_tool_calls_become_tool_use_blocks_after_the_text():
    body = completion("Checking.", finish="tool_calls", tool_calls=[
        tool_call("call_1", "Bash", '{"command": "ls"}'), tool_call("call_2", "Read", "")])
    out = translate(body)
    assert out["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_use", "id": "call_2", "name": "Read", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use"


def test_tool_call_quirks_finish_stop_missing_id_and_short_names():
    names = ToolNames()
    short = names.upstream("mcp__a.b__c")
    body = completion(None, finish="stop", tool_calls=[tool_call("", short, '{"x": 1}')])
    out = from_openai(body, model="m", message_id="msg_x", names=names)
    (block,) = out["content"]
    assert block["name"] == "mcp__a.b__c" and block["id"].startswith("toolu_") and block["input"] == {"x": 1}
    assert out["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [("", {}), (None, {}), ("  ", {}), ('{"a": [1]}', {"a": [1]}), ({"a": 1}, {"a": 1}),
     ('"{\\"a\\": 2}"', {"a": 2}), ("[1, 2]", {}), ("{broken", {})],
)
def test_parse_arguments(arguments, parsed):
    assert parse_arguments(arguments) == parsed


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_becomes_a_thinking_block_first(field):
    out = translate(completion("42", **{field: "Let me add."}))
    assert out["content"] == [
        {"type": "thinking", "thinking": "Let me add.", "signature": "anthroproxy-unsigned"},
        {"type": "text", "text": "42"},
    ]


def test_reasoning_details_with_signature_and_no_double_counting():
    out = translate(completion("ok", reasoning="r", reasoning_details=[
        {"type": "reasoning.text", "text": "r", "signature": "sig"}]))
    assert out["content"][0] == {"type": "thinking", "thinking": "r", "signature": "sig"}
    assert len(out["content"]) == 2


def test_think_tags_in_content_are_split():
    out = translate(completion("<think>\nsteps\n</think>\n\nanswer"))
    assert out["content"] == [
        {"type": "thinking", "thinking": "steps\n", "signature": "anthroproxy-unsigned"},
        {"type": "text", "text": "answer"},
    ]
    assert translate(completion("a <think> b"))["content"] == [{"type": "text", "text": "a <think> b"}]


def test_reasoning_in_a_field_and_in_think_tags_gives_one_thinking_block():
    out = translate(completion("<think>plan</think>answer", reasoning_content="plan"))
    assert [b["type"] for b in out["content"]] == ["thinking", "text"]
