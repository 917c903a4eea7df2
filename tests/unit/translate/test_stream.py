"""The streaming translator: golden transcripts fed at every split point, and
each way an upstream stream can end or fail."""

import itertools
import json
import random
from pathlib import Path

import pytest

from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.testing.fake_upstream import chunk, completion, sse_frames, text_chunks, tool_call_chunks, usage
from anthroproxy.translate.relay import StreamRelay
from anthroproxy.translate.response import from_openai, parse_arguments
from anthroproxy.translate.stream import StreamTranslator
from anthroproxy.translate.tools import ToolNames
from tests.support.events import check_grammar, parse_events, text_of

DATA = Path(__file__).parents[2] / "data"
# Upstream streams in the shapes of real backends (tests/data/NAME.sse) and the
# Anthropic events they must become (NAME.expected), checked by hand once.
GOLDEN = [
    "openai_text", "openrouter_text", "llamacpp_no_usage", "openai_parallel_tools", "deepseek_reasoning_tool",
    "openrouter_reasoning", "vllm_reasoning_tool", "ollama_reasoning_tools", "llamacpp_think_tags",
    "gemini_no_index", "interleaved_tools",
    # Recorded from the real llama-server the e2e tests build (tests/backends/record.py; the note in each file).
    "llamacpp_real_text", "llamacpp_real_tool", "llamacpp_real_reasoning_tool",
]


def relay(**kwargs) -> StreamRelay:
    counter = itertools.count(1)
    options = {"message_id": "msg_golden", "model": "claude-sonnet-4-5", "input_tokens_estimate": 7,
               "new_tool_id": lambda: f"toolu_golden_{next(counter)}", **kwargs}
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


U = "anthroproxy-unsigned"
# What each golden stream means, written by hand from the upstream transcript (not
# from the proxy's output): the finished blocks, stop reason and usage a client sees.
MEANING = {
    "openai_text": ([{"type": "text", "text": "Bonjour \u00e0 tous \u2028 \U0001f600!\nLine two."}], "end_turn",
                    (226, 9, 1024)),
    "openrouter_text": ([{"type": "text", "text": "Sure, done."}], "end_turn", (42, 3, 0)),
    "llamacpp_no_usage": ([{"type": "text", "text": "Twelve chars"}], "max_tokens", (7, 3, 0)),
    "openai_parallel_tools": ([
        {"type": "text", "text": "I'll check both."},
        {"type": "tool_use", "id": "call_Ab1", "name": "Bash", "input": {"command": "ls -la /tmp"}},
        {"type": "tool_use", "id": "call_Cd2", "name": "Read", "input": {"path": "README.md", "limit": 20}},
    ], "tool_use", (388, 41, 512)),
    "deepseek_reasoning_tool": ([
        {"type": "thinking", "thinking": "The user wants the date.\nUse Bash.", "signature": U},
        {"type": "text", "text": "Checking the date."},
        {"type": "tool_use", "id": "call_00_x1", "name": "Bash", "input": {"command": "date +%F"}},
    ], "tool_use", (80, 60, 1920)),
    "openrouter_reasoning": ([
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Forty-two."},
    ], "end_turn", (30, 12, 0)),
    "vllm_reasoning_tool": ([
        {"type": "thinking", "thinking": "Need weather.", "signature": U},
        {"type": "tool_use", "id": "chatcmpl-tool-9f", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}},
    ], "tool_use", (150, 40, 0)),
    "ollama_reasoning_tools": ([
        {"type": "thinking", "thinking": "Two files to read.", "signature": U},
        {"type": "tool_use", "id": "call_k1", "name": "Read", "input": {"path": "a.py"}},
        {"type": "tool_use", "id": "call_k2", "name": "Read", "input": {"path": "b.py"}},
    ], "tool_use", (77, 33, 0)),
    "llamacpp_think_tags": ([
        {"type": "thinking", "thinking": "Simple sum: 2+2.", "signature": U},
        {"type": "text", "text": "The answer is 4."},
    ], "end_turn", (7, 8, 0)),  # no usage sent: 32 characters, about 8 tokens
    "gemini_no_index": ([
        {"type": "text", "text": "Looking up both."},
        {"type": "tool_use", "id": "toolu_golden_1", "name": "search", "input": {"q": "trio"}},
        {"type": "tool_use", "id": "toolu_golden_2", "name": "search", "input": {"q": "h11"}},
    ], "tool_use", (100, 20, 0)),
    "interleaved_tools": ([
        {"type": "tool_use", "id": "call_i0", "name": "first", "input": {"a": 1}},
        {"type": "tool_use", "id": "call_i1", "name": "second", "input": {"b": 2}},
    ], "tool_use", (7, 4, 0)),
    # The tiny model's answers are random printable text; llama.cpp's ids are 32 alphanumerics.
    "llamacpp_real_text": ([{"type": "text", "text": ")"}], "end_turn", (113, 2, 0)),
    "llamacpp_real_tool": ([
        {"type": "tool_use", "id": "PIk8mIo9qOZBnAEQmlyRthvFhmlhBvDI", "name": "get_weather",
         "input": {"city": "54'GE5%3"}},
    ], "tool_use", (578, 80, 68)),  # 646 prompt tokens, 68 of them cached
    "llamacpp_real_reasoning_tool": ([
        {"type": "thinking", "thinking": "\n)", "signature": U},  # (the "\n" after </think> is no text block)
        {"type": "tool_use", "id": "DnEesv1NMPcTCyGD6GBjHGCQJ3E2Wvkd", "name": "get_weather",
         "input": {"city": "54'GE5%3"}},
    ], "tool_use", (588, 81, 0)),
}


def test_every_golden_has_a_meaning():
    assert sorted(MEANING) == sorted(GOLDEN) == sorted(p.stem for p in DATA.glob("*.sse"))


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_transcript_means_what_the_upstream_said(name):
    expected_blocks, stop, (input_tokens, output_tokens, cached) = MEANING[name]
    events = parse_events((DATA / f"{name}.expected").read_bytes())
    check_grammar(events)
    assert blocks(events) == expected_blocks
    usage = events[-2][1]["usage"]
    assert events[-2][1]["delta"]["stop_reason"] == stop
    assert (usage["input_tokens"], usage["output_tokens"], usage["cache_read_input_tokens"]) == (
        input_tokens, output_tokens, cached)


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_transcript_at_random_chunkings(name):
    upstream = (DATA / f"{name}.sse").read_bytes()
    expected = (DATA / f"{name}.expected").read_bytes()
    rng = random.Random(name)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(upstream)), rng.randint(1, 40)))
        assert run(upstream, cuts)[0] == expected, cuts


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


def test_a_stream_with_no_content_is_an_error_event():
    out, r = run(frames([chunk({"role": "assistant", "content": ""}), chunk({"content": " "}), chunk({}, "stop")]))
    assert isinstance(r.error, UpstreamProtocolError) and "answer was empty" in r.error.message
    events = parse_events(out + r.fail(r.error))
    check_grammar(events)
    assert [n for n, _ in events] == ["message_start", "ping", "error"]
    out, r = run(frames([chunk({"role": "assistant"}), chunk({}, "length")]))
    assert r.error is None and parse_events(out)[-2][1]["delta"]["stop_reason"] == "max_tokens"


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



# ---- tools and reasoning -----------------------------------------------------------------


def call(index=None, call_id=None, name=None, arguments=None):
    fragment = {"type": "function", "function": {}}
    if index is not None:
        fragment["index"] = index
    if call_id is not None:
        fragment["id"] = call_id
    if name is not None:
        fragment["function"]["name"] = name
    if arguments is not None:
        fragment["function"]["arguments"] = arguments
    return chunk({"tool_calls": [fragment]})


def blocks(events):
    """The finished content blocks, as a client accumulates them."""
    result = []
    for name, payload in events:
        if name == "content_block_start":
            result.append(dict(payload["content_block"], partial=""))
        elif name == "content_block_delta":
            delta, block = payload["delta"], result[payload["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                block["partial"] += delta["partial_json"]
    for block in result:
        partial = block.pop("partial")
        if block["type"] == "tool_use" and partial:
            block["input"] = json.loads(partial)
    return result


def translate(objects, **kwargs):
    out, r = run(frames(objects), **kwargs)
    events = parse_events(out)
    check_grammar(events)
    return events, r


def test_finish_chunk_that_also_carries_content():
    events, _ = translate([chunk({"content": "Hel"}), chunk({"content": "lo"}, "stop")])
    assert text_of(events) == "Hello" and events[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_reasoning_after_text_opens_a_new_thinking_block():
    events, _ = translate([chunk({"reasoning_content": "a"}), chunk({"content": "b"}),
                           chunk({"reasoning_content": "c"}), chunk({"content": "d"}), chunk({}, "stop")])
    assert [(b["type"], b.get("text") or b.get("thinking")) for b in blocks(events)] == [
        ("thinking", "a"), ("text", "b"), ("thinking", "c"), ("text", "d")]
    assert all(b["signature"] == "anthroproxy-unsigned" for b in blocks(events) if b["type"] == "thinking")


def test_tool_block_opens_at_the_first_fragment_and_arguments_are_not_held_back():
    r = relay()
    first = parse_events(r.feed(frames([call(0, "call_1", "Bash", '{"comm')], done=False)))
    assert [n for n, _ in first][-2:] == ["content_block_start", "content_block_delta"]
    assert first[-1][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"comm'}
    second = parse_events(r.feed(frames([call(0, None, None, 'and": "ls"}')], done=False)))
    assert [n for n, _ in second] == ["content_block_delta", "content_block_stop"]  # closed once complete
    assert r.feed(frames([call(0, None, None, "  ")], done=False)) == b""  # trailing whitespace: nothing lost
    assert r.translator.dropped_fragments == 0


def test_id_and_name_repeated_on_every_fragment_are_not_duplicated():
    events, _ = translate([call(0, "call_1", "Bash", '{"a"'), call(0, "call_1", "Bash", ': 1}'), chunk({}, "tool_calls")])
    assert blocks(events) == [{"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"a": 1}}]


def test_empty_arguments_and_missing_ids():
    events, _ = translate([call(0, "", "noop", ""), chunk({}, "tool_calls")])
    (block,) = blocks(events)
    assert block["input"] == {} and block["id"] == "toolu_golden_1" and block["name"] == "noop"


def test_a_new_id_on_a_reused_index_is_a_new_call():
    events, _ = translate([call(0, "a", "one", "{}"), call(0, "b", "two", "{}"), chunk({}, "tool_calls")])
    assert [(b["id"], b["name"]) for b in blocks(events)] == [("a", "one"), ("b", "two")]


def test_calls_told_apart_by_id_without_index():
    events, _ = translate([call(None, "a", "one", '{"x":'), call(None, "b", "two", '{"y": 2}'),
                           call(None, "a", None, " 1}"), chunk({}, "tool_calls")])
    assert [(b["id"], b["input"]) for b in blocks(events)] == [("a", {"x": 1}), ("b", {"y": 2})]


def test_stop_with_tool_calls_is_tool_use_but_length_stays_max_tokens():
    events, _ = translate([call(0, "a", "t", "{}"), chunk({}, "stop")])
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    events, _ = translate([call(0, "a", "t", '{"x": "trunc'), chunk({}, "length")])
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_shortened_tool_names_are_mapped_back():
    names = ToolNames()
    short = names.upstream("mcp__server.with.dots__tool")
    events, _ = translate([call(0, "a", short, "{}"), chunk({}, "tool_calls")], names=names)
    assert blocks(events)[0]["name"] == "mcp__server.with.dots__tool"


def test_whitespace_alone_opens_no_block_but_is_kept_before_text():
    events, _ = translate([call(0, "a", "t", "{}"), chunk({"content": "\n\n"}), chunk({}, "tool_calls")])
    assert [b["type"] for b in blocks(events)] == ["tool_use"]
    events, _ = translate([chunk({"reasoning": "r"}), chunk({"content": "\n"}), chunk({"content": "text"})])
    assert blocks(events)[1]["text"] == "\ntext"


@pytest.mark.parametrize("interruption", [{"content": "aside"}, {"reasoning_content": "aside"}])
def test_text_or_reasoning_in_the_middle_of_a_call_waits_for_the_call(interruption):
    events, r = translate([call(0, "a", "t", '{"x":'), chunk(interruption), call(0, None, None, " 1}")])
    first, second = blocks(events)
    assert first == {"type": "tool_use", "id": "a", "name": "t", "input": {"x": 1}}
    assert (second.get("text") or second.get("thinking")) == "aside"
    assert r.translator.dropped_fragments == 0


def test_fragments_for_a_call_already_closed_are_counted():
    events, r = translate([call(0, "a", "t", "{}"), call(1, "b", "u", "{}"), call(0, None, None, '{"late": 1}')])
    assert [b["input"] for b in blocks(events)] == [{}, {}]
    assert r.translator.dropped_fragments == 1


def test_an_index_reused_without_ids_is_a_new_call_and_matches_the_json_path():
    fragments = [call(0, None, "A", '{"a": 1}'), call(0, "", "B", '{"b": 2}'), chunk({}, "tool_calls")]
    events, _ = translate(fragments)
    assert [(b["name"], b["input"]) for b in blocks(events)] == [("A", {"a": 1}), ("B", {"b": 2})]


def test_an_id_arriving_after_the_name_is_the_same_call():
    events, _ = translate([call(0, None, "A", '{"a":'), call(0, "call_late", None, " 1}"), chunk({}, "tool_calls")])
    (block,) = blocks(events)
    assert (block["name"], block["input"]) == ("A", {"a": 1}) and block["id"] == "toolu_golden_1"
    events, _ = translate([call(None, None, "A", '{"a":'), call(None, "call_late", None, " 1}")])
    assert [(b["name"], b["input"]) for b in blocks(events)] == [("A", {"a": 1})]


@pytest.mark.parametrize(("arguments", "expected"), [
    (['"{\\"c\\": ', '1}"'], {"c": 1}), (["nu", "ll"], {}), (["  ", '  {"d": 2}'], {"d": 2}), (["[1]"], {})])
def test_arguments_that_are_not_an_object_are_decoded_as_the_json_path_does(arguments, expected):
    fragments = [call(0, "a", "t", arguments[0])] + [call(0, None, None, piece) for piece in arguments[1:]]
    events, _ = translate([*fragments, chunk({}, "tool_calls")])
    assert blocks(events)[0]["input"] == expected
    assert parse_arguments("".join(arguments)) == expected


def test_reasoning_in_a_field_and_in_think_tags_is_reported_once():
    events, _ = translate([chunk({"reasoning_content": "plan", "content": "<think>plan</think>"}),
                           chunk({"content": "answer"}), chunk({}, "stop")])
    assert [(b["type"], b.get("text") or b.get("thinking")) for b in blocks(events)] == [
        ("thinking", "plan"), ("text", "answer")]


def test_think_tags_split_across_chunks():
    events, _ = translate([chunk({"content": "<thi"}), chunk({"content": "nk>plan</th"}), chunk({"content": "ink>"}),
                           chunk({"content": "\n\nanswer"}), chunk({}, "stop")])
    assert [(b["type"], b.get("text") or b.get("thinking")) for b in blocks(events)] == [
        ("thinking", "plan"), ("text", "answer")]


def test_reasoning_details_alone_and_their_signature():
    details = [{"type": "reasoning.text", "text": "deep", "signature": "sig-1"}]
    events, _ = translate([chunk({"reasoning_details": details}), chunk({"content": "x"}), chunk({}, "stop")])
    assert blocks(events)[0] == {"type": "thinking", "thinking": "deep", "signature": "sig-1"}


def random_answer(rng: random.Random) -> tuple[str, str, list[tuple[str, str, dict]]]:
    reasoning = rng.choice(["", "think " * rng.randint(1, 5)])
    text = rng.choice(["", "Sure. ", "Here \u2028 it is: \U0001f600 "])
    calls = [(f"call_{i}", rng.choice(["Bash", "Read", "mcp__s.x__t"]),
              {"k": rng.choice([1, "v", [1, {"d": None}], 'q"uote}']), "n": i}) for i in range(rng.randint(0, 3))]
    return reasoning, text, calls


def as_chunks(rng: random.Random, reasoning: str, text: str, calls, names: ToolNames) -> list[dict]:
    def pieces(value: str) -> list[str]:
        cuts = sorted(rng.sample(range(1, len(value)), min(len(value) - 1, rng.randint(0, 4)))) if len(value) > 1 else []
        return [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)])]

    chunks = [chunk({"role": "assistant", "content": None})]
    chunks += [chunk({"reasoning_content": p}) for p in pieces(reasoning)] if reasoning else []
    chunks += [chunk({"content": p}) for p in pieces(text)] if text else []
    for index, (call_id, name, arguments) in enumerate(calls):
        chunks += tool_call_chunks(index, call_id, names.upstream(name), pieces(json.dumps(arguments)))
    chunks.append(chunk({}, "tool_calls" if calls else "stop"))
    return chunks


def test_random_answers_stream_to_the_same_blocks_as_their_json_form():
    rng = random.Random(20261124)
    for _ in range(300):
        reasoning, text, calls = random_answer(rng)
        names = ToolNames()
        out, relayed = run(frames(as_chunks(rng, reasoning, text, calls, names)), names=names)
        upstream_calls = [{"id": i, "type": "function", "function": {"name": names.upstream(n), "arguments": json.dumps(a)}}
                          for i, n, a in calls]
        answer = completion(text or None, reasoning_content=reasoning or None, tool_calls=upstream_calls or None,
                            finish="tool_calls" if calls else "stop")
        if not (reasoning or text or calls):  # an empty answer: a fault in both paths
            with pytest.raises(UpstreamProtocolError):
                from_openai(answer, model="m", message_id="msg", names=names)
            assert isinstance(relayed.error, UpstreamProtocolError)
            continue
        events = parse_events(out)
        check_grammar(events)
        message = from_openai(answer, model="m", message_id="msg", names=names)
        assert blocks(events) == message["content"]
        assert events[-2][1]["delta"]["stop_reason"] == message["stop_reason"]


def test_text_in_the_chunk_that_reports_an_error_is_not_lost():
    failing = chunk({"content": "last words"}, "error")
    failing["choices"][0]["error"] = {"message": "provider died", "code": 502}
    out, r = run(frames([chunk({"content": "first "}), failing], done=False))
    assert text_of(parse_events(out)) == "first last words"
    assert r.error.message == "provider died"


def test_a_lone_surrogate_escape_from_the_upstream_is_passed_on_escaped():
    out, r = run(b'data: {"choices":[{"index":0,"delta":{"content":"bad \\ud800 half"}}]}\n\n'
                 b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"\\udfff"}}]}\n\ndata: [DONE]\n\n')
    assert r.error is None
    events = parse_events(out)
    check_grammar(events)
    assert text_of(events) == "bad \ud800 half"
    assert b"\\ud800" in out and b"\\udfff" in out
