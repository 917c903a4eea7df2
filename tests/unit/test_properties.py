"""Property-based tests (hypothesis) of the pure core: the SSE decoder, the
stream relay and the request and response translators."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anthroproxy.api.validate import validate_request
from anthroproxy.core.errors import ProxyError
from anthroproxy.core.sse import Decoder, SSEError
from anthroproxy.testing.fake_upstream import chunk, sse_frames
from anthroproxy.translate.relay import StreamRelay
from anthroproxy.translate.request import to_openai
from anthroproxy.translate.response import from_openai
from anthroproxy.translate.stream import StreamTranslator

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


# ---- the SSE decoder --------------------------------------------------------------------------

# (Text a stream can carry: no lone surrogates, which have no UTF-8 bytes.)
line_text = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))
lines = st.lists(st.one_of(
    st.builds(lambda t: "data: " + t, st.text(line_text)),
    st.builds(lambda t: "event: " + t, st.text(line_text, max_size=10)),
    st.builds(lambda t: ": " + t, st.text(line_text, max_size=10)),
    st.just(""),
), max_size=20)


@FAST
@given(lines, st.sampled_from(["\n", "\r", "\r\n"]), st.lists(st.integers(0, 400), max_size=8))
def test_decoder_chunking_never_changes_the_events(stream_lines, newline, cuts):
    data = (newline.join(stream_lines) + newline * 2).encode()
    whole = Decoder()
    expected = whole.feed(data) + whole.flush()
    pieces = Decoder()
    got = [event for piece in split(data, cuts) for event in pieces.feed(piece)] + pieces.flush()
    assert got == expected


@FAST
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_decoder_never_crashes_on_arbitrary_bytes(pieces):
    decoder = Decoder(max_event_bytes=2000)
    events = []
    try:
        for piece in pieces:
            events += decoder.feed(piece)
        events += decoder.flush()
    except SSEError:
        return  # the one refusal it may make: an event over the size limit
    assert all(isinstance(event.data, str) and isinstance(event.event, (str, type(None))) for event in events)
    whole = Decoder(max_event_bytes=2000)  # (and what it took in pieces, it reads the same in one)
    assert whole.feed(b"".join(pieces)) + whole.flush() == events


# ---- the stream relay -------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
deltas = st.one_of(
    st.builds(lambda t: {"content": t}, texts),
    st.builds(lambda t: {"reasoning_content": t}, texts),
    st.builds(lambda t: {"reasoning": t}, texts),
    st.builds(lambda i, n, a: {"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                               "function": {"name": n, "arguments": a}}]},
              st.integers(0, 2), st.sampled_from(["Bash", "Read", "mcp__a.b__c"]), st.text(max_size=8)),
    st.builds(lambda i, a: {"tool_calls": [{"index": i, "function": {"arguments": a}}]},
              st.integers(0, 2), st.text(max_size=8)),
    st.builds(lambda t: {"refusal": t}, texts),
)
upstream_chunks = st.lists(st.one_of(
    st.builds(chunk, deltas),
    st.builds(lambda f: chunk({}, f), st.sampled_from(["stop", "length", "tool_calls", "content_filter"])),
    st.builds(lambda p, c: chunk(usage={"prompt_tokens": p, "completion_tokens": c}), st.integers(0, 99),
              st.integers(0, 99)),
), max_size=25)


def relay_output(pieces: list[bytes]) -> tuple[bytes, str | None]:
    relay = StreamRelay(StreamTranslator(message_id="msg_p", model="m", new_tool_id=lambda: "toolu_p"))
    out = b"".join(relay.feed(piece) for piece in pieces) + relay.finish()
    return out, (relay.error.message if relay.error else None)


@FAST
@given(upstream_chunks, st.booleans(), st.lists(st.integers(0, 3000), max_size=10))
def test_relay_chunking_never_changes_the_output(objects, done, cuts):
    data = b"".join(sse_frames(objects, done=done))
    assert relay_output(split(data, cuts)) == relay_output([data])


@FAST
@given(upstream_chunks)
def test_relay_output_always_follows_the_grammar(objects):
    from tests.support.events import check_grammar, parse_events

    relay = StreamRelay(StreamTranslator(message_id="msg_p", model="m"))
    out = relay.feed(b"".join(sse_frames(objects))) + relay.finish()
    if relay.error is not None:
        if not relay.translator.started:
            return  # raised before any output: the client gets an HTTP error
        out += relay.fail(relay.error)
    check_grammar(parse_events(out))


@FAST
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_relay_never_raises_on_arbitrary_bytes(pieces):
    from tests.support.events import check_grammar, parse_events

    relay = StreamRelay(StreamTranslator(message_id="msg_p", model="m"))
    out = b"".join(relay.feed(piece) for piece in pieces) + relay.finish()  # faults become relay.error, not raised
    assert relay.error is None or isinstance(relay.error, ProxyError)
    if relay.error is not None and relay.started:
        out += relay.fail(relay.error)
    if out:  # what it wrote is a whole Anthropic stream, ended by message_stop or an error event
        check_grammar(parse_events(out))


# ---- the translators ----------------------------------------------------------------------------

ids = st.sampled_from(["toolu_a", "toolu_b", "toolu_c", "call_1"])
names = st.sampled_from(["Bash", "Read", "mcp__server.with.dots__a_tool_name_well_over_sixty_four_characters_long_x"])
text_block = st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=20))
image_block = st.builds(lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}},
                        st.text("abc", max_size=8))
tool_result = st.builds(
    lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c, "is_error": e},
    ids, st.one_of(st.none(), st.text(max_size=10), st.lists(st.one_of(text_block, image_block), max_size=3)),
    st.booleans())
tool_use = st.builds(lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": {"a": a}}, ids, names,
                     st.integers())
thinking = st.builds(lambda t: {"type": "thinking", "thinking": t, "signature": "s"}, st.text(max_size=10))
user = st.builds(lambda c: {"role": "user", "content": c},
                 st.one_of(st.text(max_size=20), st.lists(st.one_of(text_block, image_block, tool_result), max_size=4)))
assistant = st.builds(lambda c: {"role": "assistant", "content": c},
                      st.one_of(st.text(max_size=20), st.lists(st.one_of(text_block, tool_use, thinking), max_size=4)))
system = st.builds(lambda t: {"role": "system", "content": t}, st.text(max_size=10))
requests = st.builds(
    lambda messages, tools, stream: {
        "model": "claude-x", "max_tokens": 100, "messages": messages, "stream": stream,
        "tools": [{"name": n, "input_schema": {"type": "object"}} for n in tools],
    },
    st.lists(st.one_of(user, assistant, system), min_size=1, max_size=8),
    st.lists(names, max_size=3, unique=True),
    st.booleans(),
)


@FAST
@given(requests, st.sampled_from(["gpt-5", "gpt-4o", "deepseek-chat", "qwen3:32b"]))
def test_well_typed_requests_always_translate_and_pair_every_tool_call(body, target):
    validate_request(body)
    messages = to_openai(body, target).payload["messages"]
    json.dumps(messages)  # serialisable
    for i, message in enumerate(messages):
        calls = [call["id"] for call in message.get("tool_calls") or ()]
        if calls:
            answers = [m.get("tool_call_id") for m in messages[i + 1:i + 1 + len(calls)]]
            assert sorted(answers) == sorted(calls)
        assert not (message["role"] == "user" and i and messages[i - 1]["role"] == "user")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=15)


@FAST
@given(st.one_of(json_values, st.builds(lambda choices, usage: {"choices": choices, "usage": usage},
                                        st.lists(st.dictionaries(st.sampled_from(
                                            ["message", "finish_reason", "index"]), json_values), max_size=2),
                                        json_values)))
def test_any_json_answer_is_translated_or_refused_never_crashes(answer):
    try:
        message = from_openai(answer, model="m", message_id="msg_p")
    except ProxyError as error:
        assert error.status >= 400 and error.message  # refused: an error the client can read
        return
    assert (message["type"], message["role"], message["model"], message["id"]) == ("message", "assistant", "m", "msg_p")
    assert message["content"] and {block["type"] for block in message["content"]} <= {"text", "thinking", "tool_use"}
    assert message["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal")
    assert all(isinstance(message["usage"][key], int) for key in ("input_tokens", "output_tokens"))
