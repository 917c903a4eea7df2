"""A Responses answer (JSON) as an Anthropic message (pure)."""

import pytest

from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.testing.fake_upstream import (output_call, output_message, output_reasoning, responses_response,
                                               responses_usage)
from anthroproxy.translate.responses.message import anthropic_usage, failure, from_responses
from anthroproxy.translate.responses.reasoning import ReasoningItem, from_signature
from anthroproxy.translate.tools import ToolNames


def message(response, **options):
    return from_responses(response, model="claude-x", message_id="msg_1", **options)


def test_text_and_usage():
    out = message(responses_response([output_message("Hello")], final_usage=responses_usage(30, 4, cached=20)))
    assert out == {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                   "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 10, "output_tokens": 4, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 20}}


def test_reasoning_then_a_call_is_thinking_then_tool_use():
    output = [output_reasoning("I should read it", "rs_1", "ENC"), output_call("call_7", "Read", '{"file_path": "/a"}')]
    out = message(responses_response(output))
    thinking, call = out["content"]
    assert thinking["thinking"] == "I should read it"
    assert from_signature(thinking["signature"]) == ReasoningItem("rs_1", "ENC")
    assert call == {"type": "tool_use", "id": "call_7", "name": "Read", "input": {"file_path": "/a"}}
    assert out["stop_reason"] == "tool_use"


def test_a_shortened_tool_name_is_mapped_back():
    names = ToolNames()
    long = "mcp__server__" + "x" * 80
    sent = names.upstream(long)
    out = message(responses_response([output_call("c", sent, "{}")]), names=names)
    assert out["content"][0]["name"] == long


def test_a_refusal_is_text_with_stop_reason_refusal():
    refusal = {"id": "msg_r", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    out = message(responses_response([refusal]))
    assert (out["content"], out["stop_reason"]) == ([{"type": "text", "text": "I can't help with that."}], "refusal")


def test_incomplete_at_the_token_limit_is_max_tokens():
    out = message(responses_response([output_message("Half a sen")], status="incomplete",
                                     incomplete="max_output_tokens"))
    assert (out["content"][0]["text"], out["stop_reason"]) == ("Half a sen", "max_tokens")
    filtered = message(responses_response([output_message("x")], status="incomplete", incomplete="content_filter"))
    assert filtered["stop_reason"] == "refusal"


def test_a_stop_sequence_cuts_the_text_and_what_follows():
    output = [output_message("one two STOP three"), output_call("c", "Read", "{}")]
    out = message(responses_response(output), stop_sequences=["STOP"])
    assert out["content"] == [{"type": "text", "text": "one two "}]
    assert (out["stop_reason"], out["stop_sequence"]) == ("stop_sequence", "STOP")


def test_an_empty_answer_cut_by_the_limit_is_still_a_message_but_an_empty_completion_is_an_error():
    out = message(responses_response([output_reasoning("", "rs_1")], status="incomplete",
                                     incomplete="max_output_tokens"))
    assert out["stop_reason"] == "max_tokens"
    with pytest.raises(UpstreamProtocolError):
        message(responses_response([]))


@pytest.mark.parametrize(
    ("error", "status"),
    [({"code": "server_is_overloaded", "message": "busy"}, 529), ({"code": "rate_limit_exceeded", "message": "slow"}, 429),
     ({"code": "server_error", "message": "oops"}, 500), ({"code": 503, "message": "llama.cpp"}, 503),
     ({"type": "error", "error": {"code": "invalid_prompt", "message": "no"}}, 400), ({}, 502), (None, 502)],
)
def test_a_failed_response_is_an_error_with_the_status_its_code_stands_for(error, status):
    with pytest.raises(UpstreamHTTPError) as raised:
        message({**responses_response([]), "status": "failed", "error": error})
    assert raised.value.status == status and raised.value.message
    assert failure(error).status == status


def test_too_long_says_so_in_the_words_claude_code_looks_for():
    assert "prompt is too long" in failure({"code": "context_length_exceeded", "message": "too many"}).message


def test_usage_never_goes_negative_or_counts_odd_values():
    assert anthropic_usage({"input_tokens": 5, "output_tokens": True, "input_tokens_details": {"cached_tokens": 9}}) == {
        "input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 5}
    assert anthropic_usage(None)["input_tokens"] == 0


def test_an_answer_that_is_not_an_object_is_a_protocol_error():
    with pytest.raises(UpstreamProtocolError):
        message(["not", "an", "object"])


def test_a_stop_sequence_at_the_very_start_is_an_empty_answer_not_a_fault():
    out = message(responses_response([output_message("STOP and more")]), stop_sequences=["STOP"])
    assert out["content"] == [] and out["stop_reason"] == "stop_sequence" and out["stop_sequence"] == "STOP"


def test_a_reasoning_item_with_nothing_to_show_or_carry_makes_no_block():
    out = message(responses_response([output_reasoning("", "rs_0", None), output_message("hi")]))
    assert [block["type"] for block in out["content"]] == ["text"]


@pytest.mark.parametrize("output", [
    [output_reasoning("", "rs_0", "ENC")],  # (reasoning, and nothing to see)
    [output_reasoning("", "rs_0", None), output_message("  \n ")],
])
def test_an_answer_with_nothing_visible_is_a_fault(output):
    with pytest.raises(UpstreamProtocolError):
        message(responses_response(output))


@pytest.mark.parametrize("response", [
    {**responses_response([output_message("x")], status="incomplete"), "incomplete_details": "max_output_tokens"},
    {**responses_response([output_message("x")]), "output": [output_message("x"), 7, "y"]},
    {**responses_response([]), "output": [{"type": "message", "content": {"not": "a list"}}, output_message("x")]},
    {**responses_response([]), "output": [{"type": "reasoning", "summary": "text", "content": 5}, output_message("x")]},
])
def test_odd_shapes_in_an_answer_are_read_around_not_a_crash(response):
    assert message(response)["content"][-1] == {"type": "text", "text": "x"}


def test_an_output_that_is_not_a_list_is_an_empty_answer():
    with pytest.raises(UpstreamProtocolError):
        message({**responses_response([]), "output": 5})


def test_a_reasoning_item_names_the_upstream_and_model_that_made_it():
    out = message(responses_response([output_reasoning("hm", "rs_1", "ENC"), output_message("x")]), origin="o/m")
    assert from_signature(out["content"][0]["signature"]) == ReasoningItem("rs_1", "ENC", origin="o/m")
