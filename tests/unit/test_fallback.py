import pytest

from anthroproxy.translate.fallback import REASONING_HISTORY, leave_out, refused_field


def payload(**fields):
    messages = [{"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "reasoning_content": "r", "tool_calls": []}]
    return {"model": "m", "messages": messages, "max_tokens": 5, **fields}


@pytest.mark.parametrize(
    ("status", "message", "fields", "refused"),
    [
        (400, "Additional properties are not allowed ('reasoning_content' was unexpected) - 'messages.1'", {},
         REASONING_HISTORY),
        (400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
         {"reasoning_effort": "high"}, "reasoning_effort"),
        (400, "Unrecognized request argument supplied: user", {"user": "u"}, "user"),
        (400, "Unsupported value: 'temperature' does not support 0.0 with this model.", {"temperature": 0.0},
         "temperature"),
        (422, '[{"loc": ["body", "parallel_tool_calls"], "msg": "Extra inputs are not permitted"}]',
         {"parallel_tool_calls": False}, "parallel_tool_calls"),
        # not refusals:
        (400, "The reasoning_content in the thinking mode must be passed back to the API.", {}, None),
        (400, "Missing `reasoning_content` field in the assistant message at message index 1", {}, None),
        (400, "This reasoning model does not support images", {}, None),
        (400, "Unsupported parameter: 'reasoning_effort'", {}, None),  # not in the payload
        (500, "Unsupported parameter: 'user'", {"user": "u"}, None),
        (400, "model not found", {"user": "u"}, None),
    ],
)
def test_refused_field(status, message, fields, refused):
    assert refused_field(status, message, payload(**fields)) == refused


def test_reasoning_history_is_refused_only_when_it_was_sent():
    bare = payload()
    del bare["messages"][1]["reasoning_content"]
    assert refused_field(400, "'reasoning_content' was unexpected", bare) is None


def test_leave_out():
    body = payload(reasoning_effort="low")
    body["messages"][1]["reasoning"] = "r2"
    leave_out(body, REASONING_HISTORY)
    assert body["messages"][1] == {"role": "assistant", "content": "y", "tool_calls": []}
    leave_out(body, "reasoning_effort")
    assert "reasoning_effort" not in body
