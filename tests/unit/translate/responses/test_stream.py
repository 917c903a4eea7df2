"""A Responses event stream as Anthropic events (pure): the grammar, the stop
reasons, failover before content, and the same output for any chunking."""

import json

import pytest

from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError
from anthroproxy.testing.fake_upstream import (anthropic_frames, output_call, output_message, output_reasoning,
                                               responses_events, responses_usage)
from anthroproxy.translate.responses.reasoning import ReasoningItem, from_signature
from anthroproxy.translate.responses.stream import ResponsesRelay
from tests.support.events import check_grammar, parse_events


def relay_all(pieces, **options):
    relay = ResponsesRelay(message_id="msg_1", model="claude-x", input_tokens=7, **options)
    out = b"".join(relay.feed(piece) for piece in pieces) + relay.finish()
    return relay, out


def frames(output, **response):
    return b"".join(anthropic_frames(responses_events(output, **response)))


def blocks_of(events):
    """The content the client assembles, as the SDKs do."""
    blocks = []
    for name, payload in events:
        if name == "content_block_start":
            blocks.append(dict(payload["content_block"]))
        elif name == "content_block_delta":
            block, delta = blocks[payload["index"]], payload["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                block["partial"] = block.get("partial", "") + delta["partial_json"]
    for block in blocks:
        if block["type"] == "tool_use":
            block["input"] = json.loads(block.pop("partial", "") or "{}")
    return blocks


def final(events):
    [delta] = [payload for name, payload in events if name == "message_delta"]
    return delta


REASONING_CALL = [output_reasoning("Check the file first.", "rs_1", "ENC" * 50),
                  output_message("Reading \u2028 it \U0001f600", "msg_a"),
                  output_call("call_1", "Read", '{"file_path": "/tmp/a \u00e9"}')]


def test_reasoning_text_and_a_call_stream_as_thinking_text_and_tool_use():
    relay, out = relay_all([frames(REASONING_CALL, final_usage=responses_usage(40, 12, cached=30))])
    events = parse_events(out)
    check_grammar(events)
    thinking, text, call = blocks_of(events)
    assert thinking["thinking"] == "Check the file first."
    assert from_signature(thinking["signature"]) == ReasoningItem("rs_1", "ENC" * 50)
    assert text["text"] == "Reading \u2028 it \U0001f600"
    assert call == {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"file_path": "/tmp/a \u00e9"}}
    assert final(events)["delta"]["stop_reason"] == "tool_use"
    assert relay.usage == {"input_tokens": 10, "output_tokens": 12, "cache_creation_input_tokens": 0,
                           "cache_read_input_tokens": 30}
    assert not relay.usage_estimated and relay.stop_reason == "tool_use" and relay.blocks == 3


def test_deltas_reach_the_client_as_they_arrive():
    events = responses_events([output_message("abcdef")], pieces=3)
    relay = ResponsesRelay(message_id="msg_1", model="claude-x")
    seen = []
    for frame in anthropic_frames(events):
        seen.append(relay.feed(frame))
    texts = [text for chunk in seen for name, p in parse_events(chunk) if name == "content_block_delta"
             for text in [p["delta"]["text"]]]
    assert texts == ["ab", "cd", "ef"]


def splits(data: bytes):
    for cut in range(0, len(data) + 1, 7):
        yield [data[:cut], data[cut:]]
    yield [data[i:i + 1] for i in range(len(data))]


def test_any_chunking_gives_the_same_output():
    data = frames(REASONING_CALL)
    _, whole = relay_all([data])
    for pieces in splits(data):
        assert relay_all(pieces)[1] == whole


def test_a_stop_sequence_cut_across_chunk_boundaries_ends_the_answer_there():
    data = frames([output_message("one two STOP three"), output_call("c", "Read", "{}")], pieces=4)  # "wo ST", "OP th"
    for pieces in [[data], *splits(data)]:
        relay, out = relay_all(pieces, stop_sequences=["STOP"])
        events = parse_events(out)
        check_grammar(events)
        assert [block["text"] for block in blocks_of(events)] == ["one two "]
        assert final(events)["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "STOP"}


def test_a_held_back_partial_stop_sequence_is_let_out_at_the_end():
    relay, out = relay_all([frames([output_message("ends with ST")])], stop_sequences=["STOP"])
    events = parse_events(out)
    assert blocks_of(events)[0]["text"] == "ends with ST"
    assert final(events)["delta"]["stop_reason"] == "end_turn"


def test_a_refusal_and_an_incomplete_answer():
    refusal = {"id": "msg_r", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    _, out = relay_all([frames([refusal])])
    events = parse_events(out)
    assert blocks_of(events)[0]["text"] == "I can't help with that."
    assert final(events)["delta"]["stop_reason"] == "refusal"
    _, out = relay_all([frames([output_message("Half a")], status="incomplete", incomplete="max_output_tokens")])
    assert final(parse_events(out))["delta"]["stop_reason"] == "max_tokens"


FAILED = {"type": "response.failed", "response": {"status": "failed",
                                                  "error": {"code": "server_is_overloaded", "message": "busy"}}}


def test_a_failure_before_content_is_kept_back_for_failover():
    created = responses_events([])[0]
    relay, out = relay_all([b"".join(anthropic_frames([created, ("response.failed", FAILED)]))])
    assert isinstance(relay.error, UpstreamHTTPError) and relay.error.status == 529
    assert not relay.committed
    names = [name for name, _ in parse_events(out)]
    assert "content_block_start" not in names and "error" not in names


def test_an_error_after_content_is_the_relays_error_once_content_went_out():
    events = responses_events([output_message("partial answer")])[:4]
    data = b"".join(anthropic_frames([*events, ("error", {"type": "error", "code": "server_error",
                                                          "message": "the model crashed"})]))
    relay, out = relay_all([data])
    assert relay.committed and relay.error.status == 500 and "crashed" in relay.error.message
    events = parse_events(out + relay.fail(relay.error))
    check_grammar(events)
    assert events[-1][0] == "error"


def test_a_stream_that_stops_before_its_terminal_event_is_a_failure():
    events = responses_events([output_message("cut short")])[:-1]
    relay, _ = relay_all([b"".join(anthropic_frames(events))])
    assert isinstance(relay.error, UpstreamProtocolError) and "response.completed" in relay.error.message


def llama_frames():
    """llama.cpp's server: no output_index or sequence numbers, arguments without a .done, status completed."""
    def frame(payload):
        return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()
    call = {"type": "function_call", "id": "fc_abc", "call_id": "fc_abc", "name": "Read", "arguments": ""}
    return b"".join([
        frame({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
        frame({"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs_l", "summary": []}}),
        frame({"type": "response.reasoning_text.delta", "item_id": "rs_l", "delta": "think "}),
        frame({"type": "response.reasoning_text.delta", "item_id": "rs_l", "delta": "more"}),
        frame({"type": "response.output_item.done", "item": {"type": "reasoning", "id": "rs_l", "summary": [],
                                                              "content": [{"type": "reasoning_text",
                                                                           "text": "think more"}]}}),
        frame({"type": "response.output_item.added", "item": call}),
        frame({"type": "response.function_call_arguments.delta", "item_id": "fc_abc", "delta": '{"file_path":'}),
        frame({"type": "response.function_call_arguments.delta", "item_id": "fc_abc", "delta": ' "/a"}'}),
        frame({"type": "response.output_item.done", "item": {**call, "arguments": '{"file_path": "/a"}'}}),
        frame({"type": "response.completed", "response": {"status": "completed", "output": [],
                                                          "usage": {"input_tokens": 9, "output_tokens": 3}}}),
    ])


def test_llama_cpp_s_stream_shape():
    relay, out = relay_all([llama_frames()])
    events = parse_events(out)
    check_grammar(events)
    thinking, call = blocks_of(events)
    assert thinking["thinking"] == "think more"
    assert from_signature(thinking["signature"]) == ReasoningItem("rs_l", None, True)
    assert call == {"type": "tool_use", "id": "fc_abc", "name": "Read", "input": {"file_path": "/a"}}
    assert final(events)["delta"]["stop_reason"] == "tool_use" and relay.dropped_fragments == 0


def test_a_bare_error_object_is_a_failure():
    relay, _ = relay_all([b'data: {"error": {"code": 500, "message": "Failed to parse input"}}\n\n'])
    assert relay.error.status == 500 and "Failed to parse" in relay.error.message


@pytest.mark.parametrize("garbage", [b"data: {not json\n\n", b"data: [1, 2\n\n"])
def test_a_malformed_stream_is_a_protocol_error(garbage):
    relay, _ = relay_all([garbage])
    assert isinstance(relay.error, UpstreamProtocolError)


def test_arguments_that_come_only_whole_still_reach_the_client():
    call = output_call("call_w", "Read", '{"file_path": "/w"}')
    events = [event for event in responses_events([call]) if event[0] != "response.function_call_arguments.delta"]
    _, out = relay_all([b"".join(anthropic_frames(events))])
    assert blocks_of(parse_events(out))[0]["input"] == {"file_path": "/w"}


def test_summary_parts_are_joined_by_a_blank_line():
    item = output_reasoning("one", "rs_2")
    item["summary"].append({"type": "summary_text", "text": "two"})
    _, out = relay_all([frames([item, output_message("ok")])])
    assert blocks_of(parse_events(out))[0]["thinking"] == "one\n\ntwo"


def raw_frames(*payloads):
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


CREATED = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
COMPLETED = {"type": "response.completed", "response": {"status": "completed", "output": [],
                                                        "usage": {"input_tokens": 9, "output_tokens": 3}}}


def added(item):
    return {"type": "response.output_item.added", "item": item}


def done(item):
    return {"type": "response.output_item.done", "item": item}


def delta(kind, item_id, text):
    return {"type": f"response.{kind}.delta", "item_id": item_id, "delta": text}


def test_items_finished_only_at_the_end_give_one_block_each():
    """llama.cpp's order: every output_item.done after all the deltas."""
    reasoning = {"type": "reasoning", "id": "rs_l", "summary": [],
                 "content": [{"type": "reasoning_text", "text": "think"}]}
    text = output_message("Reading.", "msg_l")
    call = {"type": "function_call", "id": "fc_1", "call_id": "fc_1", "name": "Read", "arguments": '{"a": 1}'}
    _, out = relay_all([raw_frames(
        CREATED, added({**reasoning, "content": []}), delta("reasoning_text", "rs_l", "think"),
        added({**text, "content": []}), delta("output_text", "msg_l", "Reading."),
        added({**call, "arguments": ""}), delta("function_call_arguments", "fc_1", '{"a": 1}'),
        done(reasoning), done(text), done(call), COMPLETED)])
    events = parse_events(out)
    check_grammar(events)
    thinking, said, used = blocks_of(events)
    assert thinking["thinking"] == "think" and from_signature(thinking["signature"]) == ReasoningItem("rs_l", None, True)
    assert said["text"] == "Reading." and used["input"] == {"a": 1}


def test_two_calls_whose_arguments_interleave_each_keep_their_own():
    first = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "Read", "arguments": '{"f": "/a"}'}
    second = {"type": "function_call", "id": "fc_2", "call_id": "c2", "name": "Read", "arguments": '{"f": "/b"}'}
    relay, out = relay_all([raw_frames(
        CREATED, added({**first, "arguments": ""}), added({**second, "arguments": ""}),
        delta("function_call_arguments", "fc_1", '{"f": '), delta("function_call_arguments", "fc_2", '{"f": '),
        delta("function_call_arguments", "fc_1", '"/a"}'), delta("function_call_arguments", "fc_2", '"/b"}'),
        done(first), done(second), COMPLETED)])
    events = parse_events(out)
    check_grammar(events)
    assert [(block["id"], block["input"]) for block in blocks_of(events)] == [("c1", {"f": "/a"}), ("c2", {"f": "/b"})]
    assert relay.dropped_fragments == 0


def test_a_call_that_finished_streaming_does_not_hold_back_the_next():
    first = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "Read", "arguments": "{}"}
    second = {"type": "function_call", "id": "fc_2", "call_id": "c2", "name": "Read", "arguments": "{}"}
    relay = ResponsesRelay(message_id="msg_1", model="claude-x")
    relay.feed(raw_frames(CREATED, added({**first, "arguments": ""}), delta("function_call_arguments", "fc_1", "{}")))
    out = relay.feed(raw_frames(added({**second, "arguments": ""})))
    assert [p["content_block"]["id"] for name, p in parse_events(out) if name == "content_block_start"] == ["c2"]


def test_a_stop_sequence_at_the_very_start_is_an_empty_answer_not_a_fault():
    relay, out = relay_all([frames([output_message("STOP and more")])], stop_sequences=["STOP"])
    events = parse_events(out)
    check_grammar(events)
    assert relay.error is None and blocks_of(events) == []
    assert final(events)["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "STOP"}


def test_text_held_for_a_stop_sequence_comes_before_the_next_item():
    call = {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "Read", "arguments": "{}"}
    _, out = relay_all([raw_frames(CREATED, added(output_message("", "msg_a")), delta("output_text", "msg_a", "see"),
                                   delta("output_text", "msg_a", " ST"), added(call), done(call), COMPLETED)],
                       stop_sequences=["STOP"])
    assert [(b["type"], b.get("text")) for b in blocks_of(parse_events(out))] == [("text", "see ST"), ("tool_use", None)]


def test_reasoning_with_nothing_to_show_or_carry_makes_no_block():
    _, out = relay_all([frames([output_reasoning("", "rs_0", None), output_message("hi")])])
    assert [block["type"] for block in blocks_of(parse_events(out))] == ["text"]


def test_reasoning_with_only_its_encrypted_content_waits_for_something_to_show():
    relay = ResponsesRelay(message_id="msg_1", model="claude-x")
    events = responses_events([output_reasoning("", "rs_0", "ENC"), output_message("hi")])
    split = next(i for i, (name, _) in enumerate(events) if name == "response.output_item.done") + 1
    early = relay.feed(b"".join(anthropic_frames(events[:split])))
    assert not relay.committed and b"content_block_start" not in early  # (failover still possible)
    out = early + relay.feed(b"".join(anthropic_frames(events[split:]))) + relay.finish()
    thinking, text = blocks_of(parse_events(out))
    assert thinking["thinking"] == "" and from_signature(thinking["signature"]) == ReasoningItem("rs_0", "ENC")


@pytest.mark.parametrize("output", [
    [output_reasoning("", "rs_0", "ENC")],
    [output_reasoning("", "rs_0", None), output_message("  \n ")],
])
def test_an_answer_with_nothing_visible_is_a_failure_before_content(output):
    relay, _ = relay_all([frames(output)])
    assert isinstance(relay.error, UpstreamProtocolError) and not relay.committed


def test_text_that_comes_only_whole_still_reaches_the_client():
    item = output_message("whole", "msg_w")
    only_item_done = raw_frames(CREATED, added({**item, "content": []}), done(item), COMPLETED)
    only_text_done = raw_frames(CREATED, added({**item, "content": []}),
                                {"type": "response.output_text.done", "item_id": "msg_w", "text": "whole"},
                                done(item), COMPLETED)
    for stream in (only_item_done, only_text_done):
        _, out = relay_all([stream])
        assert [block["text"] for block in blocks_of(parse_events(out))] == ["whole"]


@pytest.mark.parametrize("odd", [
    {"type": ["response.completed"]},
    {"type": "response.output_item.added", "item": {"type": "message", "id": ["x"]}, "output_index": [0]},
    {"type": "response.output_text.delta", "item_id": {"x": 1}, "delta": "x"},
    {"type": "response.output_item.done", "item": {"type": "message", "id": "m", "content": "oops"}},
])
def test_odd_shapes_in_a_stream_are_read_around_not_a_crash(odd):
    relay, out = relay_all([raw_frames(CREATED, odd) + frames([output_message("ok")])])
    assert relay.error is None and blocks_of(parse_events(out))[-1]["text"].endswith("ok")


def test_incomplete_details_that_are_not_an_object_still_end_the_answer():
    terminal = {"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": "oops"}}
    relay, out = relay_all([raw_frames(CREATED, added(output_message("", "m")), delta("output_text", "m", "x"),
                                       terminal)])
    assert relay.error is None and final(parse_events(out))["delta"]["stop_reason"] == "max_tokens"


def test_each_reasoning_item_names_the_upstream_and_model_that_made_it():
    _, out = relay_all([frames(REASONING_CALL)], origin="openai/gpt-5-codex")
    thinking = blocks_of(parse_events(out))[0]
    assert from_signature(thinking["signature"]) == ReasoningItem("rs_1", "ENC" * 50, origin="openai/gpt-5-codex")
    _, early = relay_all([llama_frames()], origin="local/gpt-oss")  # (signed before its item was done)
    assert from_signature(blocks_of(parse_events(early))[0]["signature"]).origin == "local/gpt-oss"
