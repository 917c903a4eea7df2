"""The access log: a readable line, or one JSON object per line."""

from __future__ import annotations

import json
import logging

import pytest

from anthroproxy.observe.logs import AccessRecord, configure_logging, log, log_access


def finished_stream() -> AccessRecord:
    record = AccessRecord(method="POST", path="/v1/messages", request_id="req_abc", route="messages",
                          model="claude-x", target="gpt-4o", stream=True, status=200, stop_reason="end_turn",
                          usage={"input_tokens": 12, "output_tokens": 5, "cache_read_input_tokens": 4})
    record.first_event_s = 0.25
    return record


class Stderr:
    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def stderr(capsys):
    yield Stderr(capsys)  # (configure_logging binds the sys.stderr of the moment: pytest's capture)
    configure_logging("NONE")


def test_text_line_says_what_happened(stderr):
    configure_logging("INFO", "text")
    log_access(finished_stream(), 1.5)
    line = stderr.getvalue()
    for part in ("INFO POST /v1/messages claude-x -> gpt-4o 200 stream 1.500s first-event=0.250s",
                 "in=12 out=5 cached=4 stop=end_turn req_abc"):
        assert part in line


def test_json_lines_carry_the_fields(stderr):
    configure_logging("INFO", "json")
    record = finished_stream()
    log_access(record, 1.5)
    cut = AccessRecord(method="POST", path="/v1/messages", request_id="req_cut", status=200, stream=True)
    cut.upstream_failed("timeout")
    cut.client_gone = True
    log_access(cut, 0.1)
    log.warning("a plain message with \"quotes\"")
    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["level"] == "INFO" and first["time"].endswith("Z")
    assert {k: first[k] for k in ("request_id", "method", "path", "model", "target", "status", "stream",
                                   "duration_ms", "first_event_ms", "input_tokens", "output_tokens",
                                   "cache_read_input_tokens", "stop_reason", "error", "client_disconnected",
                                   "upstream_cancelled")} == {
        "request_id": "req_abc", "method": "POST", "path": "/v1/messages", "model": "claude-x", "target": "gpt-4o",
        "status": 200, "stream": True, "duration_ms": 1500.0, "first_event_ms": 250.0, "input_tokens": 12,
        "output_tokens": 5, "cache_read_input_tokens": 4, "stop_reason": "end_turn", "error": None,
        "client_disconnected": False, "upstream_cancelled": False}
    assert (lines[1]["upstream_error"], lines[1]["upstream_cancelled"], lines[1]["client_disconnected"]) == (
        "timeout", True, True)
    assert lines[2] == {"time": lines[2]["time"], "level": "WARNING", "message": 'a plain message with "quotes"'}


def test_json_lines_carry_exceptions_on_one_line(stderr):
    configure_logging("DEBUG", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    (line,) = stderr.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "it failed" and "ValueError: boom" in entry["exception"]


def test_only_a_timeout_leaves_the_upstream_request_open():
    for kind, still_open in (("timeout", True), ("http_500", False), ("unreachable", False), ("in_stream", False)):
        record = AccessRecord(method="POST", path="/", request_id="r", upstream_open=True)
        record.upstream_failed(kind)
        assert (record.upstream_error, record.upstream_open) == (kind, still_open)


def test_nothing_is_logged_below_the_level(stderr):
    configure_logging("WARN", "json")
    log_access(finished_stream(), 1.0)
    assert stderr.getvalue() == ""
    assert log.getEffectiveLevel() == logging.WARNING
