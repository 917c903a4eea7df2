import pytest

from anthroproxy.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.fake_upstream import completion, usage
from anthroproxy.translate.response import from_openai
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
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("function_call", "tool_use"),
     ("content_filter", "refusal"), (None, "end_turn"), ("something_new", "end_turn")],
)
def test_finish_reasons(finish, stop_reason):
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


def test_null_or_empty_content_gives_no_blocks_and_content_parts_are_joined():
    assert translate(completion(None))["content"] == []
    assert translate(completion(""))["content"] == []
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
