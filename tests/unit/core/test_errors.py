import json

import pytest

from anthroproxy.core.errors import error_body, error_type_for, upstream_error_from_payload, upstream_http_error


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (402, "billing_error"), (403, "permission_error"),
     (404, "not_found_error"), (413, "request_too_large"), (422, "invalid_request_error"), (429, "rate_limit_error"),
     (500, "api_error"), (502, "api_error"), (503, "overloaded_error"), (504, "timeout_error"),
     (529, "overloaded_error"), (599, "api_error")],
)
def test_status_to_error_type(status, error_type):
    assert error_type_for(status) == error_type
    error = upstream_http_error(status, b'{"error": {"message": "m"}}', {})
    assert (error.status, error.error_type, error.message) == (status, error_type, "m")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}', "Incorrect API key provided"),
        (b'{"error": "model not found"}', "model not found"),  # Ollama (old), LM Studio
        (b'{"detail": "Not Found"}', "Not Found"),  # FastAPI / vLLM routes
        (b'{"object": "error", "message": "bad model", "code": 404}', "bad model"),  # vLLM
        (b'{"detail": [{"loc": ["body", "x"], "msg": "field required"}]}', '[{"loc": ["body", "x"], "msg": "field required"}]'),
        (b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        (b"", "upstream returned HTTP 500 with no error message"),
    ],
)
def test_upstream_message_is_kept(body, message):
    assert upstream_http_error(500, body, {}).message == message


def test_long_bodies_are_truncated():
    assert len(upstream_http_error(502, b"x" * 100_000, {}).message) < 2100


def test_retry_after_is_forwarded():
    error = upstream_http_error(429, b"{}", {"retry-after": "7", "retry-after-ms": "7000", "x-other": "no"})
    assert error.headers == (("retry-after", "7"), ("retry-after-ms", "7000"))


@pytest.mark.parametrize("status", [400, 413, 500])
def test_context_length_errors_are_400_in_anthropic_wording(status):
    upstream = (
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages."
    )
    body = json.dumps({"error": {"message": upstream, "code": "context_length_exceeded"}}).encode()
    error = upstream_http_error(status, body, {})
    assert error.status == 400 and error.error_type == "invalid_request_error"
    assert error.message.startswith("prompt is too long: 9000 tokens > 8192 maximum")
    assert upstream in error.message


def test_context_length_with_numbers_llama_cpp():
    """As the real llama-server 0c1e57098 answers (tests/e2e/test_llamacpp.py)."""
    upstream = "request (6089 tokens) exceeds the available context size (2048 tokens), try increasing it"
    body = json.dumps({"error": {"code": 400, "message": upstream, "type": "exceed_context_size_error",
                                 "n_prompt_tokens": 6089, "n_ctx": 2048}}).encode()
    error = upstream_http_error(400, body, {})
    assert error.status == 400 and error.message == f"prompt is too long: 6089 tokens > 2048 maximum (upstream: {upstream})"


def test_context_length_without_numbers_llama_cpp():
    error = upstream_http_error(500, b'{"error": {"message": "the request exceeds the available context size"}}', {})
    assert error.status == 400
    assert error.message == "prompt is too long (upstream: the request exceeds the available context size)"


def test_mid_stream_error_payloads():
    error = upstream_error_from_payload({"error": {"message": "upstream overloaded", "code": 503}})
    assert (error.status, error.error_type) == (503, "overloaded_error")
    error = upstream_error_from_payload({"error": {"message": "boom", "code": "internal"}})
    assert (error.status, error.error_type) == (502, "api_error")


def test_error_body_shape():
    assert json.loads(error_body("not_found_error", "no route", "req_1")) == {
        "type": "error", "error": {"type": "not_found_error", "message": "no route"}, "request_id": "req_1",
    }


def test_upstream_errors_have_a_kind_for_metrics():
    from anthroproxy.core.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable

    assert upstream_http_error(503, b"{}", {}).kind == "http_503"
    assert upstream_error_from_payload({"error": {"message": "x"}}).kind == "in_stream"
    assert [cls("m").kind for cls in (UpstreamTimeout, UpstreamUnreachable, UpstreamProtocolError)] == [
        "timeout", "unreachable", "protocol"]
