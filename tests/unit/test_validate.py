import pytest

from anthroproxy.errors import InvalidRequest
from anthroproxy.translate.validate import validate_request

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
            "messages.0.content.0.type: expected 'text', got 'image'",
        ),
        (with_(system=5), "system: expected a string or an array of text blocks, got a number"),
        (with_(system=[{"type": "text", "text": 1}]), "system.0.text: expected a string, got a number"),
        (with_(stream="yes"), "stream: expected a boolean, got a string"),
        (with_(temperature="hot"), "temperature: expected a number, got a string"),
        (with_(top_p=[1]), "top_p: expected a number, got an array"),
        (with_(top_k=1.5), "top_k: expected an integer"),
        (with_(stop_sequences="END"), "stop_sequences: expected an array of strings, got a string"),
        (with_(stop_sequences=["a", 2]), "stop_sequences.1: expected a string, got a number"),
        (with_(metadata="u"), "metadata: expected an object, got a string"),
        (with_(metadata={"user_id": 3}), "metadata.user_id: expected a string, got a number"),
    ],
)
def test_errors_name_the_path(body, message):
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
    validate_request(body)
