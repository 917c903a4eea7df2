"""What the shell refuses, as the proxy's clients see it: Anthropic's statuses
and error types (api/app.py maps server/errors.py at its boundary)."""

import logging

import pytest

from anthroproxy import server
from anthroproxy.api.app import as_proxy_error
from anthroproxy.core.errors import InvalidRequest, ProxyError


@pytest.mark.parametrize(("refusal", "status", "error_type"), [
    (server.BadRequest, 400, "invalid_request_error"),
    (server.RequestTimeout, 408, "timeout_error"),
    (server.ContentTooLarge, 413, "request_too_large"),
    (server.HeadersTooLarge, 431, "invalid_request_error"),
    (server.Overloaded, 529, "overloaded_error"),  # (Anthropic's overloaded status, not the shell's 503)
    (server.ShuttingDown, 529, "overloaded_error"),
])
def test_each_refusal_of_the_shell_has_its_anthropic_status_and_type(refusal, status, error_type):
    mapped = as_proxy_error(refusal("why, in words"), "req_1")
    assert (mapped.status, mapped.error_type, mapped.message) == (status, error_type, "why, in words")


def test_a_refusal_the_table_does_not_know_keeps_its_kind_of_status():
    class Teapot(server.HTTPError):
        status = 418

    assert as_proxy_error(Teapot("no"), "req_1").status == 400


def test_the_proxys_own_errors_pass_as_they_are_and_anything_else_is_a_500_with_its_traceback(caplog):
    own = InvalidRequest("messages: expected a list")
    assert as_proxy_error(own, "req_1") is own
    with caplog.at_level(logging.ERROR, logger="anthroproxy"):
        mapped = as_proxy_error(KeyError("bug"), "req_2")
    assert type(mapped) is ProxyError and mapped.status == 500 and mapped.error_type == "api_error"
    (record,) = caplog.records
    assert "req_2" in record.getMessage() and record.exc_info[0] is KeyError
