"""The streaming translator: golden transcripts fed at every split point, and
each way an upstream stream can end or fail."""

from pathlib import Path

import pytest

from anthroproxy.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.fake_upstream import chunk, sse_frames, text_chunks, usage
from anthroproxy.translate.stream import StreamRelay, StreamTranslator
from tests.helpers import check_grammar, parse_events, text_of

DATA = Path(__file__).parent.parent / "data"
GOLDEN = ["openai_text", "openrouter_text", "llamacpp_no_usage"]


def relay(**kwargs) -> StreamRelay:
    options = {"message_id": "msg_golden", "model": "claude-sonnet-4-5", "input_tokens_estimate": 7, **kwargs}
    return StreamRelay(StreamTranslator(**options))


def run(data: bytes, cuts=(), **kwargs) -> tuple[bytes, StreamRelay]:
    r = relay(**kwargs)
    out, start = [], 0
    for cut in [*cuts, len(data)]:
        out.append(r.feed(data[start:cut]))
        start = cut
    out.append(r.finish())
    return b"".join(out), r


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_transcript_at_every_split_point(name):
    upstream = (DATA / f"{name}.sse").read_bytes()
    expected = (DATA / f"{name}.expected").read_bytes()
    check_grammar(parse_events(expected))
    for cut in range(len(upstream) + 1):
        out, r = run(upstream, [cut])
        assert r.error is None
        assert out == expected, f"split at byte {cut}"


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_transcript_byte_by_byte(name):
    upstream = (DATA / f"{name}.sse").read_bytes()
    out, _ = run(upstream, range(1, len(upstream)))
    assert out == (DATA / f"{name}.expected").read_bytes()


def frames(objects, done=True) -> bytes:
    return b"".join(sse_frames(objects, done=done))


def test_text_usage_and_one_block():
    out, r = run(frames(text_chunks(["Hel", "lo"], final_usage=usage(prompt=50, completion=2, cached=20))))
    events = parse_events(out)
    check_grammar(events)
    assert text_of(events) == "Hello"
    assert [n for n, _ in events].count("content_block_start") == 1
    assert events[-2][1]["usage"] == {
        "input_tokens": 30, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20,
    }
    assert r.translator.stop_reason == "end_turn"


def test_usage_on_the_last_content_chunk_or_on_the_choice():
    objects = [chunk({"content": "a"}), {**chunk({}, "stop"), "usage": usage(prompt=9, completion=4)}]
    events = parse_events(run(frames(objects))[0])
    assert events[-2][1]["usage"]["output_tokens"] == 4
    moonshot = chunk({}, "stop")
    moonshot["choices"][0]["usage"] = usage(prompt=9, completion=5)
    events = parse_events(run(frames([chunk({"content": "a"}), moonshot]))[0])
    assert events[-2][1]["usage"]["output_tokens"] == 5


def test_without_usage_tokens_are_estimated_not_zero():
    events = parse_events(run(frames([chunk({"content": "x" * 40}), chunk({}, "stop")]))[0])
    assert events[-2][1]["usage"]["output_tokens"] == 10
    assert events[-2][1]["usage"]["input_tokens"] == 7


def test_done_without_finish_reason_is_a_normal_end():
    out, r = run(frames([chunk({"content": "a"})]))
    assert r.error is None
    check_grammar(parse_events(out))


def test_finish_reason_without_done_is_a_normal_end():
    out, r = run(frames([chunk({"content": "a"}), chunk({}, "length")], done=False))
    assert r.error is None
    assert parse_events(out)[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_stream_cut_without_done_or_finish_is_an_error():
    out, r = run(frames([chunk({"content": "partial"})], done=False))
    assert isinstance(r.error, UpstreamProtocolError)
    events = parse_events(out)
    assert text_of(events) == "partial"  # what was translated is still delivered
    assert "message_stop" not in [n for n, _ in events]


def test_empty_stream_is_an_error_with_no_output():
    out, r = run(b"")
    assert out == b"" and isinstance(r.error, UpstreamProtocolError)


def test_error_chunk_before_anything_is_raised_with_no_output():
    out, r = run(frames([{"error": {"message": "Rate limit exceeded", "code": 429}}]))
    assert out == b""
    assert isinstance(r.error, UpstreamHTTPError) and r.error.status == 429
    assert not r.translator.started


def test_error_chunk_mid_stream_keeps_earlier_text_in_the_same_read():
    data = frames([chunk({"content": "before"}), {"error": {"message": "engine died", "code": 500}}])
    out, r = run(data)
    assert text_of(parse_events(out)) == "before"
    assert r.error.message == "engine died"
    failure = parse_events(out + r.fail(r.error))
    check_grammar(failure)
    assert failure[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "engine died"}})


def test_openrouter_finish_reason_error_is_an_error():
    out, r = run(frames([chunk({"content": "a"}), chunk({}, "error")]))
    assert r.error is not None
    assert "message_stop" not in out.decode()


def test_named_error_event_is_an_error():
    out, r = run(b'event: error\ndata: {"message": "overloaded", "code": 503}\n\n')
    assert r.error.status == 503 and r.error.message == "overloaded"


@pytest.mark.parametrize("bad", [b"data: {not json\n\n", b"data: [1, 2]\n\n", b'data: "text"\n\n'])
def test_malformed_chunks_are_protocol_errors(bad):
    out, r = run(frames([chunk({"content": "ok"})], done=False) + bad + b"data: [DONE]\n\n")
    assert isinstance(r.error, UpstreamProtocolError)
    assert text_of(parse_events(out)) == "ok"


def test_data_after_done_is_ignored():
    out, r = run(frames([chunk({"content": "a"})]) + b"data: {broken\n\n")
    assert r.error is None and r.done


def test_other_choices_and_empty_deltas_are_ignored():
    other = chunk({"content": "from choice 1"})
    other["choices"][0]["index"] = 1
    out, _ = run(frames([chunk({"content": "zero"}), other, chunk({}), chunk({"content": None}), chunk({}, "stop")]))
    events = parse_events(out)
    assert text_of(events) == "zero"
    check_grammar(events)


def test_refusal_delta():
    out, _ = run(frames([chunk({"refusal": "No."}), chunk({}, "stop")]))
    events = parse_events(out)
    assert text_of(events) == "No." and events[-2][1]["delta"]["stop_reason"] == "refusal"


def test_vllm_matched_stop_sequence():
    finish = chunk({}, "stop")
    finish["choices"][0]["stop_reason"] = "END"
    out, r = run(frames([chunk({"content": "a"}), finish]), stop_sequences=["END"])
    delta = parse_events(out)[-2][1]["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_message_start_carries_the_requested_model_and_id():
    events = parse_events(run(frames([chunk({"content": "a"})]))[0])
    message = events[0][1]["message"]
    assert (message["id"], message["model"], message["usage"]["input_tokens"]) == ("msg_golden", "claude-sonnet-4-5", 7)
    assert events[1][0] == "ping"


def test_text_delta_fast_path_escapes_like_json():
    text = 'quote " backslash \\ newline \n tab \t nul \x00 emoji \U0001f600 ls \u2028'
    events = parse_events(run(frames([chunk({"content": text})]))[0])
    assert text_of(events) == text
