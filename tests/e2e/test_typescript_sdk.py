"""The official TypeScript SDK (@anthropic-ai/sdk) against the proxy, and an SSE
parser independent of both SDKs and of the Python tests (eventsource-parser with
its own grammar check in tests/clients/ts_sdk.mjs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anthroproxy.testing.fake_upstream import Reply, chunk, error_chunk, text_chunks, tool_call_chunks, usage
from tests.support.node import NodeClients, ensure_installed, run_node

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="session")
def clients() -> NodeClients:
    return ensure_installed()


async def test_streamed_parallel_tool_use_collected_with_final_message(clients, proxy, fake):
    fake.queue(Reply.stream([
        chunk({"role": "assistant", "content": "Checking both."}),
        *tool_call_chunks(0, "call_w", "get_weather", ['{"ci', 'ty": "Os', 'lo"}']),
        *tool_call_chunks(1, "call_t", "get_time", ['{"zone": "CET"}']),
        chunk({}, "tool_calls"), chunk(usage=usage(120, 22, cached=100)),
    ]))
    result = await run_node(clients, proxy, "tool-stream")
    message = result["message"]
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_t", "name": "get_time", "input": {"zone": "CET"}},
    ]
    assert message["usage"]["input_tokens"] == 20 and message["usage"]["cache_read_input_tokens"] == 100


async def test_text_stream(clients, proxy, fake):
    pieces = ["Tre", "s bien", ", merci \u2028 \U0001f600"]
    fake.queue(Reply.stream(text_chunks(pieces)))
    result = await run_node(clients, proxy, "text-stream")
    assert result["pieces"] == pieces
    assert result["message"]["content"] == [{"type": "text", "text": "".join(pieces)}]
    assert result["message"]["stop_reason"] == "end_turn"


GOLDEN = sorted(path.stem for path in DATA.glob("*.sse"))


@pytest.mark.parametrize("name", GOLDEN)
async def test_independent_parser_finds_no_fault_in_any_recorded_backend_stream(clients, proxy, fake, name):
    data = (DATA / f"{name}.sse").read_bytes()
    fake.queue(Reply.raw_stream([data[i:i + 97] for i in range(0, len(data), 97)]))
    result = await run_node(clients, proxy, "strict")
    assert result["status"] == 200 and result["contentType"].startswith("text/event-stream")
    assert result["violations"] == [], result
    assert result["events"][-1] == "message_stop"


async def test_independent_parser_accepts_a_mid_stream_error(clients, proxy, fake):
    fake.queue(Reply.stream([chunk({"content": "partial"}), error_chunk("engine crashed", 500)], done=False))
    result = await run_node(clients, proxy, "strict")
    assert result["violations"] == [] and result["events"][-1] == "error"


def anthropic_events(*events: tuple[str | None, dict]) -> list[bytes]:
    frames = []
    for name, payload in events:
        head = f"event: {name}\n" if name else ""
        frames.append(f"{head}data: {json.dumps(payload)}\n\n".encode())
    return frames


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
    "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 0}}})
END = [("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
       ("message_stop", {"type": "message_stop"})]


def block(index, kind, *deltas, stop=True):
    start = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": "", "signature": ""}}[kind]
    events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    if stop:
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


TEXT = {"type": "text_delta", "text": "x"}
BROKEN = {
    "no event name": [START, (None, {"type": "ping"}), *END],
    "index gap": [START, *block(1, "text", TEXT), *END],
    "two blocks open": [START, *block(0, "text", TEXT, stop=False), *block(1, "text", TEXT), *END],
    "thinking delta in a text block": [START, *block(0, "text", {"type": "thinking_delta", "thinking": "t"}), *END],
    "thinking without signature": [START, *block(0, "thinking", {"type": "thinking_delta", "thinking": "t"}), *END],
    "no message_stop": [START, *block(0, "text", TEXT), END[0]],
}


@pytest.mark.parametrize("fault", sorted(BROKEN))
async def test_the_independent_parser_does_catch_faults(clients, fake, fault):
    """Served straight by the fake upstream, bypassing the proxy."""
    fake.queue(Reply.raw_stream(anthropic_events(*BROKEN[fault])))
    result = await run_node(clients, fake, "strict")
    assert result["violations"], fault
