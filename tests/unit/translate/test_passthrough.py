"""An Anthropic upstream's request and answer, passed through (pure): what
changes in the request, and what the relay reads, keeps back and writes."""

import json

import pytest

from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.testing.fake_upstream import anthropic_events, anthropic_frames, anthropic_usage
from anthroproxy.translate.passthrough import (PassthroughRelay, error_from_event, is_anthropic_error, outgoing_body,
                                              without_attribution)
from tests.support.events import check_grammar, parse_events

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.331.49f; cc_entrypoint=cli; cch=5f3a1;"
BODY = {"model": "claude-opus-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_a_body_that_needs_no_change_goes_as_it_came():
    assert outgoing_body(BODY, None, keep_attribution=False) is None
    assert outgoing_body(BODY, "claude-opus-4-6", keep_attribution=False) is None  # (the same name)
    assert outgoing_body({**BODY, "system": ATTRIBUTION + "\nBe brief."}, None, keep_attribution=True) is None


def test_only_the_model_and_the_attribution_line_change():
    system = [{"type": "text", "text": ATTRIBUTION}, {"type": "text", "text": "Be brief.", "cache_control": {}}]
    sent = outgoing_body({**BODY, "system": system, "top_k": 2}, "claude-sonnet-4-6", keep_attribution=False)
    assert sent == {**BODY, "model": "claude-sonnet-4-6", "system": system[1:], "top_k": 2}
    assert without_attribution(ATTRIBUTION + "\n\nBe brief.") == "Be brief."
    assert without_attribution([{"type": "text", "text": ATTRIBUTION + "\nBe brief."}]) == [
        {"type": "text", "text": "Be brief."}]
    assert "system" not in outgoing_body({**BODY, "system": ATTRIBUTION}, None, keep_attribution=False)


def relay_all(pieces: list[bytes], **options) -> tuple[PassthroughRelay, bytes]:
    relay = PassthroughRelay(message_id="msg_proxy", model="claude-x", **options)
    out = b"".join(relay.feed(piece) for piece in pieces) + relay.finish()
    return relay, out


def splits(data: bytes):
    """The data cut at every point, and in single bytes."""
    for cut in range(len(data) + 1):
        yield [data[:cut], data[cut:]]
    yield [data[i:i + 1] for i in range(len(data))]


EVENTS = anthropic_events(["Hel", "lo \u2028\U0001f600"], thinking=["hm"], final_usage=anthropic_usage(12, 4, 9))


def test_any_chunking_relays_the_stream_byte_for_byte_and_reads_it():
    data = b"".join(anthropic_frames(EVENTS))
    for pieces in splits(data):
        relay, out = relay_all(pieces)
        assert out == data and relay.error is None and relay.done
        assert (relay.stop_reason, relay.blocks, relay.committed) == ("end_turn", 2, True)
        assert relay.usage == {"input_tokens": 12, "output_tokens": 4, "cache_read_input_tokens": 9,
                               "cache_creation_input_tokens": 0}


def test_an_error_before_content_is_kept_back_for_failover():
    error = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    relay, out = relay_all([b"".join(anthropic_frames([*EVENTS[:2], error, *EVENTS[2:]]))])
    assert out == b"".join(anthropic_frames(EVENTS[:2]))  # (message_start and the ping; not the error)
    assert not relay.committed and isinstance(relay.error, UpstreamHTTPError)
    assert (relay.error.status, relay.error.error_type, relay.error.message) == (529, "overloaded_error", "Overloaded")
    assert relay.fail(relay.error) == b"".join(anthropic_frames([error]))  # (its own words, if it comes to that)


def test_a_later_candidate_does_not_repeat_message_start():
    relay, out = relay_all([b"".join(anthropic_frames(EVENTS))], started=True)
    assert out == b"".join(anthropic_frames(EVENTS[1:]))  # (no second message_start)


def test_pings_before_the_answer_begin_the_message_and_the_upstreams_start_is_dropped():
    relay = PassthroughRelay(message_id="msg_proxy", model="claude-x")
    out = relay.keepalive() + relay.keepalive() + relay.feed(b"".join(anthropic_frames(EVENTS))) + relay.finish()
    events = parse_events(out)
    check_grammar(events)
    assert [name for name, _ in events][:3] == ["message_start", "ping", "ping"]
    assert events[0][1]["message"]["id"] == "msg_proxy" and relay.usage["input_tokens"] == 12


def test_a_stream_that_ends_without_message_stop_is_a_failure():
    relay, out = relay_all([b"".join(anthropic_frames(EVENTS[:-2]))])  # (after the last block: no message_delta)
    assert isinstance(relay.error, UpstreamProtocolError) and "message_stop" in relay.error.message
    check_grammar(parse_events(out + relay.fail(relay.error)))


def test_data_lines_alone_and_broken_events():
    bare = b"".join(b"data: " + json.dumps(payload).encode() + b"\n\n" for _, payload in EVENTS)
    relay, out = relay_all([bare])
    assert relay.error is None and parse_events(out) == [(name, payload) for name, payload in EVENTS]
    relay, _ = relay_all([b"event: message_delta\ndata: {not json\n\n"])
    assert isinstance(relay.error, UpstreamProtocolError)


@pytest.mark.parametrize(("payload", "status", "error_type"), [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529, "overloaded_error"),
    ({"type": "error", "error": {"type": "api_error", "message": "x"}}, 500, "api_error"),
    ({"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}, 429, "rate_limit_error"),
    ({"type": "error", "error": {"type": "invalid_request_error", "message": "x"}}, 400, "invalid_request_error"),
    ({"code": 503, "message": "Loading model", "type": "unavailable_error"}, 503, "overloaded_error"),  # llama.cpp
])
def test_what_an_error_event_stands_for(payload, status, error_type):
    error = error_from_event(payload)
    assert (error.status, error.error_type) == (status, error_type) and error.upstream_status is None


def test_only_anthropics_own_shape_counts_as_it():
    assert is_anthropic_error({"type": "error", "error": {"type": "x", "message": "y"}})
    assert not is_anthropic_error({"error": {"type": "x", "message": "y"}})  # (OpenAI's: converted)
    assert not is_anthropic_error({"type": "error", "error": "y"})


def decoded_only(data: bytes) -> bytes:
    """What the relay writes when every frame goes through the SSE decoder (a CR first forces it)."""
    _, out = relay_all([b": \r\n", data])
    return out


BAD_UTF8 = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"\xff\xfe"}}\n\n')


@pytest.mark.parametrize("tweak", [
    lambda data: data,  # (the copied deltas)
    lambda data: data.replace(b"\n", b"\r\n"),  # CRLF line ends: the decoder reads it all
    lambda data: data.replace(b"\n\nevent: message_delta", b"\r\n\r\nevent: message_delta", 1),  # a CR late
    lambda data: data.replace(b"\n\nevent: message_delta", b"\n\n" + BAD_UTF8 + b"event: message_delta", 1),
    lambda data: data.replace(b"\n\nevent: content_block_stop", b"\n\n\n: a comment\nid: 4\n\nevent: content_block_stop", 1),
])
def test_the_copied_deltas_and_the_decoded_frames_write_the_same_for_any_chunking(tweak):
    data = tweak(b"".join(anthropic_frames(EVENTS)))
    expected = decoded_only(data)
    assert b"\r" not in expected and b"message_stop" in expected
    for pieces in splits(data):
        relay, out = relay_all(pieces)
        assert out == expected and relay.error is None and relay.stop_reason == "end_turn"


def test_a_delta_of_invalid_utf8_is_not_copied_as_it_came():
    data = b"".join(anthropic_frames(EVENTS)).replace(b"\n\nevent: message_delta",
                                                        b"\n\n" + BAD_UTF8 + b"event: message_delta", 1)
    _, out = relay_all([data])
    assert b"\xff" not in out and "\ufffd".encode() in out


def test_a_run_of_deltas_is_copied_unchanged_and_the_events_around_it_are_read():
    deltas = [f"piece {n} \u00e9 " for n in range(50)]
    data = b"".join(anthropic_frames(anthropic_events(deltas, final_usage=anthropic_usage(3, 50))))
    relay, out = relay_all([data])
    assert out == data and relay.usage["output_tokens"] == 50 and relay.blocks == 1


def test_an_unfinished_frame_too_long_is_a_protocol_error():
    head = b"".join(anthropic_frames(EVENTS[:2]))
    relay, _ = relay_all([head, b"event: content_block_delta\ndata: " + b"x" * (17 * 1024 * 1024)])
    assert isinstance(relay.error, UpstreamProtocolError)
