import pytest

from anthroproxy.translate.request import to_openai

# Every key a Chat Completions request may carry (openai-python, completion_create_params.py).
OPENAI_REQUEST_KEYS = {
    "model", "messages", "stream", "stream_options", "max_completion_tokens", "max_tokens", "temperature",
    "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "verbosity",
    "user", "safety_identifier", "prompt_cache_key", "service_tier", "metadata", "store", "modalities",
}


def request(**fields):
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_minimal():
    assert to_openai(request(), "gpt-4o") == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
    }


def test_system_string_and_blocks_become_one_leading_system_message():
    assert to_openai(request(system="be brief"), "m")["messages"][0] == {"role": "system", "content": "be brief"}
    blocks = [
        {"type": "text", "text": "attribution", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "You are Claude Code."},
    ]
    messages = to_openai(request(system=blocks), "m")["messages"]
    assert messages[0] == {"role": "system", "content": "attribution\n\nYou are Claude Code."}
    assert messages[1]["role"] == "user"


def test_empty_system_is_omitted():
    assert to_openai(request(system=""), "m")["messages"] == [{"role": "user", "content": "hi"}]
    assert to_openai(request(system=[]), "m")["messages"] == [{"role": "user", "content": "hi"}]


def test_system_role_messages_stay_in_place():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "<reminder>"}, {"type": "text", "text": "question"}]},
        {"role": "system", "content": [{"type": "text", "text": "mid-conversation note", "cache_control": {}}]},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "more"},
    ]
    assert to_openai(request(system="top", messages=messages), "m")["messages"] == [
        {"role": "system", "content": "top"},
        {"role": "user", "content": "<reminder>\n\nquestion"},
        {"role": "system", "content": "mid-conversation note"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "more"},
    ]


def test_consecutive_same_role_turns_are_merged():
    messages = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The answer is "}, {"type": "text", "text": "42."}]},
        {"role": "assistant", "content": " Really."},
    ]
    assert to_openai(request(messages=messages), "m")["messages"] == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "The answer is 42. Really."},
    ]


def test_sampling_stop_and_user_fields():
    out = to_openai(
        request(temperature=0.2, top_p=0.9, stop_sequences=["END", "###"], metadata={"user_id": "u-1"}),
        "m",
    )
    assert (out["temperature"], out["top_p"], out["stop"], out["user"]) == (0.2, 0.9, ["END", "###"], "u-1")


def test_nulls_and_empty_lists_are_not_forwarded():
    out = to_openai(request(temperature=None, stop_sequences=[], metadata={"user_id": None}), "m")
    assert set(out) == {"model", "messages", "max_tokens"}


def test_stream_asks_for_usage():
    out = to_openai(request(stream=True), "m")
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert "stream" not in to_openai(request(stream=False), "m")


ANTHROPIC_ONLY = dict(
    top_k=5,
    thinking={"type": "adaptive", "display": "omitted"},
    context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    output_config={"effort": "medium"},
    service_tier="auto",
    container="c-1",
    mcp_servers=[{"type": "url", "name": "x", "url": "https://x"}],
    cache_control={"type": "ephemeral"},
    inference_geo="us",
    speed="fast",
    diagnostics={},
    betas=["x"],
)


def test_anthropic_only_fields_never_reach_the_upstream():
    body = request(
        system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}],
        metadata={"user_id": '{"device_id":"d"}'},
        stream=True,
        **ANTHROPIC_ONLY,
    )
    out = to_openai(body, "m")
    assert set(out) <= OPENAI_REQUEST_KEYS
    text = repr(out)
    for needle in ("cache_control", "ephemeral", "thinking", "clear_thinking", "effort", "mcp", "top_k", "speed"):
        assert needle not in text


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_input_is_not_mutated(role):
    body = request(messages=[{"role": role, "content": "a"}, {"role": role, "content": "b"}])
    snapshot = repr(body)
    to_openai(body, "m")
    assert repr(body) == snapshot


@pytest.mark.parametrize("target", ["gpt-5", "gpt-5.1-mini", "o1", "o3-mini", "o4-mini-2025-04-16"])
def test_openai_reasoning_models_get_max_completion_tokens_and_no_sampling_or_stop(target):
    out = to_openai(request(temperature=0.5, top_p=0.9, stop_sequences=["END"]), target)
    assert out["max_completion_tokens"] == 100
    assert not {"max_tokens", "temperature", "top_p", "stop"} & set(out)


@pytest.mark.parametrize("target", ["gpt-4o", "gpt-4.1-mini", "deepseek-chat", "qwen3:32b", "openai/gpt-5"])
def test_other_models_get_the_classic_fields(target):
    out = to_openai(request(temperature=0.5, stop_sequences=["END"]), target)
    assert (out["max_tokens"], out["temperature"], out["stop"]) == (100, 0.5, ["END"])
    assert "max_completion_tokens" not in out
